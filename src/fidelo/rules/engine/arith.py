"""Integer arithmetic of awards, on top of fidelo.core.shares (the base rate's own arithmetic).

divide() rounds as the program says ("down", "up", "nearest" half up); allocate() shares a
total by the largest remainder, so line shares always sum to the award.
"""

from collections.abc import Sequence

from fidelo.core import shares


def divide(numerator: int, denominator: int, rounding: str) -> int:
    """numerator / denominator (numerator >= 0, denominator > 0), rounded as told."""
    return shares.units_for(numerator, earn_units=1, earn_per_minor=denominator, rounding=rounding)


def allocate(total: int, weights: Sequence[int]) -> tuple[int, ...]:
    """Split `total` (>= 0) in proportion to `weights` (>= 0), summing exactly to `total`.

    Ties go to the earlier position; with no positive weight, everything goes to the first.
    """
    return tuple(shares.allocate(total, weights))
