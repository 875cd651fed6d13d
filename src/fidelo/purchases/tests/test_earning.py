"""The arithmetic of the base earn rate: integers in, integers out, rounding as the program says."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fidelo.core.shares import allocate, proportional_to_date, units_for

# --- units_for ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_minor", "rounding", "expected"),
    [
        (1249, "down", 12),  # 12.49 € at 1 point per euro
        (1249, "nearest", 12),
        (1249, "up", 13),
        (1250, "down", 12),
        (1250, "nearest", 13),  # half rounds up
        (1250, "up", 13),
        (1251, "nearest", 13),
        (1200, "down", 12),  # exact amounts are never rounded
        (1200, "nearest", 12),
        (1200, "up", 12),
        (0, "up", 0),
        (99, "down", 0),
        (1, "up", 1),
    ],
)
def test_one_point_per_euro_rounds_as_the_program_says(amount_minor, rounding, expected):
    assert units_for(amount_minor, earn_units=1, earn_per_minor=100, rounding=rounding) == expected


def test_two_percent_cashback_is_counted_in_cents():
    # 2 cents back per euro: 45.67 € -> 91.34 cents
    assert units_for(4567, earn_units=2, earn_per_minor=100, rounding="down") == 91
    assert units_for(4567, earn_units=2, earn_per_minor=100, rounding="nearest") == 91
    assert units_for(4567, earn_units=2, earn_per_minor=100, rounding="up") == 92


def test_one_point_per_10_euros_spent():
    assert units_for(9999, earn_units=1, earn_per_minor=1000, rounding="down") == 9
    assert units_for(9500, earn_units=1, earn_per_minor=1000, rounding="nearest") == 10
    assert units_for(9499, earn_units=1, earn_per_minor=1000, rounding="nearest") == 9


def test_huge_amounts_stay_exact_integers():
    # No float anywhere: 10^11 cents at 3 units per 7 cents is exact
    assert units_for(10**11, earn_units=3, earn_per_minor=7, rounding="down") == 3 * 10**11 // 7


amounts = st.integers(0, 10**11)
units = st.integers(1, 1_000_000)
per_minor = st.integers(1, 1_000_000)


@given(amount=amounts, earn_units=units, earn_per_minor=per_minor)
def test_rounding_down_nearest_and_up_bracket_the_exact_value(amount, earn_units, earn_per_minor):
    exact = Fraction(amount * earn_units, earn_per_minor)
    down = units_for(amount, earn_units=earn_units, earn_per_minor=earn_per_minor, rounding="down")
    nearest = units_for(amount, earn_units=earn_units, earn_per_minor=earn_per_minor, rounding="nearest")
    up = units_for(amount, earn_units=earn_units, earn_per_minor=earn_per_minor, rounding="up")
    assert all(isinstance(value, int) for value in (down, nearest, up))
    assert down <= exact < down + 1
    assert up - 1 < exact <= up
    assert down <= nearest <= up
    assert abs(nearest - exact) <= Fraction(1, 2)
    if exact - down == Fraction(1, 2):
        assert nearest == up  # half up


@given(small=amounts, extra=st.integers(0, 10**6), earn_units=units, earn_per_minor=per_minor, rounding=st.sampled_from(["down", "nearest", "up"]))
def test_spending_more_never_earns_less(small, extra, earn_units, earn_per_minor, rounding):
    kwargs = dict(earn_units=earn_units, earn_per_minor=earn_per_minor, rounding=rounding)
    assert units_for(small, **kwargs) <= units_for(small + extra, **kwargs)


# --- allocate ----------------------------------------------------------------------------


def test_a_purchases_points_are_shared_among_its_lines_in_proportion():
    assert allocate(39, [1200, 2700]) == [12, 27]
    assert allocate(10, [100, 999]) == [1, 9]  # largest remainders get the leftover point
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]  # ties go to the earlier line


def test_lines_worth_nothing_get_nothing_unless_all_are_worth_nothing():
    assert allocate(10, [0, 500, 0]) == [0, 10, 0]
    assert allocate(7, [0, 0]) == [7, 0]  # the points still belong to the purchase
    assert allocate(0, [100, 200]) == [0, 0]
    assert allocate(0, []) == []


@given(total=st.integers(0, 10**9), weights=st.lists(st.integers(0, 10**9), min_size=1, max_size=30))
def test_allocate_sums_exactly_and_each_share_is_within_one_of_its_exact_proportion(total, weights):
    shares = allocate(total, weights)
    assert len(shares) == len(weights)
    assert sum(shares) == total
    assert all(isinstance(share, int) and share >= 0 for share in shares)
    weight_sum = sum(weights)
    if weight_sum:
        for share, weight in zip(shares, weights):
            exact = Fraction(total * weight, weight_sum)
            assert exact - 1 < share < exact + 1
            if weight == 0:
                assert share == 0


@given(total=st.integers(0, 10**6), weights=st.lists(st.integers(1, 10**6), min_size=2, max_size=10))
def test_a_heavier_line_never_gets_fewer_points_than_a_lighter_one(total, weights):
    shares = allocate(total, weights)
    for i, j in ((i, j) for i in range(len(weights)) for j in range(len(weights))):
        if weights[i] > weights[j]:
            assert shares[i] >= shares[j]


# --- proportional_to_date -----------------------------------------------------------------


def test_the_points_of_a_partial_refund_are_rounded_down_and_a_full_one_is_exact():
    assert proportional_to_date(10, 333, 1000) == 3
    assert proportional_to_date(10, 999, 1000) == 9
    assert proportional_to_date(10, 1000, 1000) == 10
    assert proportional_to_date(9, 1, 3) == 3
    assert proportional_to_date(10, 0, 1000) == 0


def test_a_purchase_of_nothing_gives_all_its_points_back_at_once():
    assert proportional_to_date(5, 0, 0) == 5


@given(earned=st.integers(0, 10**9), whole=st.integers(1, 10**9), data=st.data())
def test_cumulative_shares_grow_never_exceed_what_was_earned_and_end_exact(earned, whole, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, whole), max_size=10)))
    steps = [*cuts, whole]
    shares = [proportional_to_date(earned, done, whole) for done in steps]
    assert all(0 <= share <= earned for share in shares)
    assert shares == sorted(shares)  # taking back in pieces never gives points back
    assert shares[-1] == earned
    for done, share in zip(steps, shares):
        assert share <= Fraction(earned * done, whole) < share + 1
