"""The pure engine's effects: one test per effect type, rounding, line shares, the tier multiplier."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fidelo.rules.engine.arith import allocate, divide
from fidelo.rules.engine.compile import line_shares
from fidelo.rules.engine.types import (
    ACHIEVEMENT,
    POINTS,
    REWARD,
    STAMPS,
    TIER_POINTS,
    Event,
)
from fidelo.rules.tests.test_engine_helpers import (
    line,
    member,
    paris,
    purchase,
    rule,
    run,
    terms,
)

CAFE = {"field": "line.category", "op": "eq", "value": "cafe"}


def only(result):
    (award,) = result.awards
    return award


def test_points_per_euro_on_the_basket():
    event = purchase(line(amount=4250))
    award = only(run(event, [rule(effects=[{"type": "points_per_euro", "points": 2}], name="Double")]))
    assert (award.kind, award.amount, award.target, award.line_amounts) == (POINTS, 85, "", ())  # 42.50 € × 2
    assert (award.rule_id, award.rule_version, award.rule_name) == (1, 1, "Double")
    assert award.why.code == "rule_points_per_euro"
    assert award.why.params == {"rule": "Double", "points": 2, "per_minor": 100, "on": "basket"}


def test_points_per_euro_per_other_amount():
    event = purchase(line(amount=4250))
    award = only(run(event, [rule(effects=[{"type": "points_per_euro", "points": 5, "per_minor": 1000}])]))
    assert award.amount == 21  # 4250 × 5 / 1000 = 21.25, rounded down once (not per whole tranche)


def test_points_per_euro_on_matching_lines_shares_by_line():
    event = purchase(line("C1", 333, category="cafe"), line("CAKE", 1000, category="food"), line("C2", 667, category="cafe"))
    award = only(run(event, [rule([CAFE], [{"type": "points_per_euro", "points": 3, "on": "lines"}])]))
    assert award.amount == 30  # 10.00 € of coffee × 3
    assert award.line_amounts == (10, 0, 20)
    assert award.why.params["on"] == "lines"


def test_line_shares_are_left_out_without_explanations_unless_the_award_is_counted():
    event = purchase(line("C1", 333, category="cafe"), line("CAKE", 1000, category="food"), line("C2", 667, category="cafe"))
    on_lines = [{"type": "points_per_euro", "points": 3, "on": "lines"}]
    rules = [rule([CAFE], on_lines, id=1), rule([CAFE], on_lines, id=2, limits={"per_member_per_day": 100}),
             rule([CAFE], [{"type": "multiplier", "percent": 200, "on": "lines"}], id=3)]
    explained = run(event, rules)
    quick = run(event, rules, explain=False)
    assert [award.amount for award in quick.awards] == [award.amount for award in explained.awards] == [30, 30, 9]
    assert [award.line_amounts for award in explained.awards] == [(10, 0, 20), (10, 0, 20), (3, 0, 6)]
    # The purchase path's evaluation: only the capped rule's award keeps its shares (its row and
    # a budget's cut need them); the others' the purchase never reads (it keeps its bonus total).
    assert [award.line_amounts for award in quick.awards] == [(), (10, 0, 20), ()]


def test_fixed_points():
    award = only(run(purchase(line()), [rule(effects=[{"type": "fixed_points", "points": 50}])]))
    assert (award.kind, award.amount) == (POINTS, 50)
    assert award.why.code == "rule_fixed_points" and award.why.params["points"] == 50


def test_multiplier_on_the_basket_adds_a_bonus_on_the_base_units():
    event = purchase(line(amount=4250))
    double = only(run(event, [rule(effects=[{"type": "multiplier", "percent": 200}])], program=terms(event, base_units=42)))
    assert double.amount == 42  # the base gave 42: doubling adds 42 more, kept apart
    one_and_half = only(run(event, [rule(effects=[{"type": "multiplier", "percent": 150}])], program=terms(event, base_units=43)))
    assert one_and_half.amount == 21  # 21.5 rounded down
    assert run(event, [rule(effects=[{"type": "multiplier", "percent": 200}])], program=terms(event, base_units=0)).awards == ()


def test_multiplier_on_matching_lines_uses_the_base_units_of_those_lines():
    event = purchase(line("C1", 450, category="cafe"), line("CAKE", 1000, category="food"), line("C2", 550, category="cafe"))
    program = terms(event, base_units=20, base_line_units=(5, 10, 5))
    award = only(run(event, [rule([CAFE], [{"type": "multiplier", "percent": 300, "on": "lines"}])], program=program))
    assert award.amount == 20 and award.line_amounts == (10, 0, 10)


def test_multiplier_on_lines_without_line_base_units_shares_the_base_by_amount():
    event = purchase(line("C1", 500, category="cafe"), line("CAKE", 1500, category="food"))
    program = terms(event, base_units=20, base_line_units=())
    award = only(run(event, [rule([CAFE], [{"type": "multiplier", "percent": 200, "on": "lines"}])], program=program))
    assert award.amount == 5 and award.line_amounts == (5, 0)


def test_cashback_percent_on_the_basket_and_on_lines():
    event = purchase(line("C1", 1999, category="cafe"), line("CAKE", 3001, category="food"))
    cashback = terms(event, mode="cashback", base_units=0)
    basket = only(run(event, [rule(effects=[{"type": "cashback_percent", "basis_points": 500}], mode="cashback")], program=cashback))
    assert (basket.kind, basket.amount) == (POINTS, 250)  # 5 % of 50.00 € in cents
    assert basket.why.params == {"rule": "rule 1", "basis_points": 500, "on": "basket"}
    lines = only(run(event, [rule([CAFE], [{"type": "cashback_percent", "basis_points": 1000, "on": "lines"}], mode="cashback")],
                     program=cashback))
    assert lines.amount == 199 and lines.line_amounts == (199, 0)  # 10 % of 19.99 €, rounded down


def test_fixed_cashback():
    event = purchase(line())
    award = only(run(event, [rule(effects=[{"type": "fixed_cashback", "amount_minor": 500}], mode="cashback")],
                     program=terms(event, mode="cashback")))
    assert (award.kind, award.amount) == (POINTS, 500)
    assert award.why.params == {"rule": "rule 1", "amount_minor": 500}


def test_stamps_per_event():
    visit = Event(type="visit", occurred_at=paris(2026, 3, 11))
    award = only(run(visit, [rule(effects=[{"type": "stamps", "card": "yoga"}], event="visit")]))
    assert (award.kind, award.target, award.amount) == (STAMPS, "yoga", 1)
    assert award.why.params == {"rule": "rule 1", "card": "yoga", "count": 1, "per": "event"}


def test_stamps_per_quantity_of_matching_lines():
    event = purchase(line("C1", 300, category="cafe", quantity=2), line("CAKE", 400, category="food", quantity=3),
                     line("C2", 300, category="cafe", quantity=1))
    award = only(run(event, [rule([CAFE], [{"type": "stamps", "card": "cafe", "count": 2, "per": "quantity"}])]))
    assert (award.target, award.amount, award.line_amounts) == ("cafe", 6, (4, 0, 2))


def test_stamps_per_quantity_without_lines_give_nothing():
    visit = Event(type="visit", occurred_at=paris(2026, 3, 11))
    result = run(visit, [rule(effects=[{"type": "stamps", "card": "cafe", "per": "quantity"}], event="visit")])
    assert result.awards == () and result.skipped[0].why.code == "nothing_to_award"


def test_achievement():
    award = only(run(purchase(line()), [rule(effects=[{"type": "achievement", "badge": "loyal"}])]))
    assert (award.kind, award.target, award.amount) == (ACHIEVEMENT, "loyal", 1)
    assert award.why.code == "rule_achievement" and award.why.params["badge"] == "loyal"


def test_reward_issued_directly():
    award = only(run(purchase(line()), [rule(effects=[{"type": "reward", "reward": 12}])]))
    assert (award.kind, award.target, award.amount) == (REWARD, "12", 1)


def test_tier_points_fixed_and_per_amount():
    event = purchase(line(amount=4250))
    fixed = only(run(event, [rule(effects=[{"type": "tier_points", "points": 10}])]))
    per_euro = only(run(event, [rule(effects=[{"type": "tier_points", "points": 1, "per_minor": 100}])]))
    assert (fixed.kind, fixed.amount) == (TIER_POINTS, 10)
    assert (per_euro.kind, per_euro.amount) == (TIER_POINTS, 42)


def test_several_effects_of_one_rule_are_all_given_in_order():
    effects = [{"type": "fixed_points", "points": 20}, {"type": "stamps", "card": "cafe"}, {"type": "achievement", "badge": "first_visit"}]
    result = run(purchase(line()), [rule(effects=effects)])
    assert [(a.kind, a.amount, a.target) for a in result.awards] == [(POINTS, 20, ""), (STAMPS, 1, "cafe"), (ACHIEVEMENT, 1, "first_visit")]


@pytest.mark.parametrize(("rounding", "expected"), [("down", 12), ("nearest", 13), ("up", 13)])
def test_rounding_as_the_program_says(rounding, expected):
    event = purchase(line(amount=1250))  # 12.50 € × 1 point per euro = 12.5
    award = only(run(event, [rule(effects=[{"type": "points_per_euro", "points": 1}])], program=terms(event, rounding=rounding)))
    assert award.amount == expected


@pytest.mark.parametrize(("rounding", "expected"), [("down", 12), ("nearest", 12), ("up", 13)])
def test_rounding_nearest_goes_down_below_half(rounding, expected):
    event = purchase(line(amount=1249))
    award = only(run(event, [rule(effects=[{"type": "points_per_euro", "points": 1}])], program=terms(event, rounding=rounding)))
    assert award.amount == expected


def test_zero_amount_awards_are_not_emitted():
    event = purchase(line(amount=99))  # under one euro
    result = run(event, [rule(effects=[{"type": "points_per_euro", "points": 1}, {"type": "stamps", "card": "cafe"}])])
    assert [(a.kind, a.amount) for a in result.awards] == [(STAMPS, 1)]
    nothing = run(event, [rule(effects=[{"type": "points_per_euro", "points": 1}])])
    assert nothing.awards == () and nothing.skipped[0].why.code == "nothing_to_award"


# --- the tier's earn benefit -------------------------------------------------------------------


def test_the_tier_multiplier_is_an_award_without_rule():
    event = purchase(line("A", 3000), line("B", 1500))
    result = run(event, [], facts=member(tier="gold", tier_multiplier_percent=150), program=terms(event, base_units=45))
    award = only(result)
    assert (award.kind, award.amount, award.rule_id, award.rule_version) == (POINTS, 22, None, None)
    assert award.why.code == "tier_multiplier" and award.why.params == {"tier": "gold", "percent": 150}
    assert sum(award.line_amounts) == 22 and len(award.line_amounts) == 2


def test_no_tier_multiplier_at_100_percent_or_without_base_units():
    event = purchase(line())
    assert run(event, [], facts=member(tier="silver", tier_multiplier_percent=100)).awards == ()
    assert run(event, [], facts=member(tier="gold", tier_multiplier_percent=200), program=terms(event, base_units=0)).awards == ()


def test_the_tier_multiplier_stacks_with_rules_and_is_not_stopped_by_an_exclusive_rule():
    event = purchase(line(amount=2000))
    exclusive = rule(effects=[{"type": "fixed_points", "points": 5}], exclusive=True)
    result = run(event, [exclusive], facts=member(tier="gold", tier_multiplier_percent=200), program=terms(event, base_units=20))
    assert [(a.rule_id, a.amount) for a in result.awards] == [(None, 20), (1, 5)]
    assert result.total(POINTS) == 25


# --- integer arithmetic --------------------------------------------------------------------


@given(st.integers(0, 10**12), st.integers(1, 10**6))
def test_divide_rounds_as_told(numerator, denominator):
    down, nearest, up = (divide(numerator, denominator, mode) for mode in ("down", "nearest", "up"))
    assert down == numerator // denominator
    assert down <= nearest <= up <= down + 1
    assert (up == down) == (numerator % denominator == 0)
    assert abs(2 * (numerator - nearest * denominator)) <= denominator


@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**7), min_size=1, max_size=30))
def test_line_shares_always_sum_to_the_award(total, weights):
    shares = allocate(total, weights)
    assert sum(shares) == total and len(shares) == len(weights)
    assert all(share >= 0 for share in shares)
    if sum(weights):
        assert all(share == 0 for share, weight in zip(shares, weights) if weight == 0)
        assert all(abs(share * sum(weights) - total * weight) < sum(weights) for share, weight in zip(shares, weights))


@given(st.integers(1, 10**9), st.lists(st.integers(0, 10**7), min_size=1, max_size=30))
def test_sharing_among_matching_lines_is_sharing_among_all(total, weights):
    # Line offers share their award among the matching lines only (the others weigh 0): the
    # shares, remainders and ties included, are those of sharing over every line.
    matching = [index for index, weight in enumerate(weights) if weight]
    if not matching:
        return
    assert line_shares(total, matching, [weights[index] for index in matching], len(weights)) == allocate(total, weights)


@given(st.lists(st.tuples(st.integers(0, 100_000), st.sampled_from(["cafe", "food"]), st.integers(1, 5)), min_size=1, max_size=10),
       st.integers(1, 10), st.sampled_from(["down", "nearest", "up"]))
def test_line_based_awards_share_exactly_over_matching_lines(items, points, rounding):
    event = purchase(*(line(f"S{i}", amount, category=category, quantity=quantity) for i, (amount, category, quantity) in enumerate(items)))
    the_rule = rule([CAFE], [{"type": "points_per_euro", "points": points, "on": "lines"},
                             {"type": "stamps", "card": "cafe", "per": "quantity"}])
    for award in run(event, [the_rule], program=terms(event, rounding=rounding)).awards:
        assert sum(award.line_amounts) == award.amount
        assert all(share == 0 for share, ln in zip(award.line_amounts, event.lines) if ln.category != "cafe")
