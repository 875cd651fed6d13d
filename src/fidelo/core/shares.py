"""Pure arithmetic of the base earn rate: integers in, integers out, no floats.

units = amount_minor * earn_units / earn_per_minor, rounded as the program says; the
purchase's units are then shared among its lines in proportion to their amounts by the
largest remainder method, so the lines always add up to the purchase.
"""

from collections.abc import Sequence


def units_for(amount_minor: int, *, earn_units: int, earn_per_minor: int, rounding: str) -> int:
    numerator = amount_minor * earn_units
    quotient, remainder = divmod(numerator, earn_per_minor)
    if remainder == 0 or rounding == "down":
        return quotient
    if rounding == "up":
        return quotient + 1
    return quotient + (1 if 2 * remainder >= earn_per_minor else 0)  # nearest, half up


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` in proportion to `weights` (non-negative), summing exactly to `total`."""
    weight_sum = sum(weights)
    if total == 0 or weight_sum == 0:
        shares = [0] * len(weights)
        if weights and total:
            shares[0] = total
        return shares
    shares = [total * w // weight_sum for w in weights]
    left = total - sum(shares)
    if left == 0:  # shared exactly (always so with one positive weight): no remainder to hand out
        return shares
    # The `left` largest remainders go first (ties: the earlier position). Only a positive weight
    # has a remainder, and more of them have one than `left`: the others need not be sorted (a
    # line offer weighs one or two lines of ten).
    remainders = sorted((i for i, weight in enumerate(weights) if weight), key=lambda i: (-(total * weights[i] % weight_sum), i))
    for index in remainders[:left]:
        shares[index] += 1
    return shares


def proportional_to_date(earned: int, done: int, whole: int) -> int:
    """How much of `earned` belongs to `done` out of `whole`, rounded down (exact when done == whole)."""
    if whole == 0:
        return earned
    return earned * done // whole
