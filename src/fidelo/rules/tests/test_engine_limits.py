"""The pure engine's limits (caps per member, budgets) and stacking (priority, exclusive rules)."""

import pytest

from fidelo.rules.engine import main_award
from fidelo.rules.engine.types import POINTS, STAMPS, Usage
from fidelo.rules.tests.test_engine_helpers import line, purchase, rule, run

PER_EURO = {"type": "points_per_euro", "points": 1}


def points_rule(limits, **extra):
    return rule(effects=[PER_EURO], limits=limits, **extra)


EVENT = purchase(line(amount=10_000))  # 100 € -> 100 points


@pytest.mark.parametrize(("limit", "used_field"), [
    ("per_member_per_day", "member_day"), ("per_member_per_month", "member_month"), ("per_member_total", "member_total"),
])
def test_a_member_cap_reduces_the_award_to_what_is_left(limit, used_field):
    capped = points_rule({limit: 150})
    (award,) = run(EVENT, [capped], usage={1: Usage(**{used_field: 120})}).awards
    assert award.amount == 30
    assert award.why.params["capped_by"] == limit and award.why.params["cap"] == 150


@pytest.mark.parametrize(("limit", "used_field"), [
    ("per_member_per_day", "member_day"), ("per_member_per_month", "member_month"), ("per_member_total", "member_total"),
])
def test_a_member_cap_reached_skips_the_rule(limit, used_field):
    capped = points_rule({limit: 150}, name="Plafonnée")
    result = run(EVENT, [capped], usage={1: Usage(**{used_field: 150})})
    assert result.awards == ()
    (skipped,) = result.skipped
    assert skipped.why.code == "limit_reached"
    assert skipped.why.params == {"rule": "Plafonnée", "limit": limit, "value": 150}


def test_a_cap_not_reached_gives_in_full():
    (award,) = run(EVENT, [points_rule({"per_member_per_day": 500})], usage={1: Usage(member_day=100)}).awards
    assert award.amount == 100 and "capped_by" not in award.why.params


def test_no_usage_known_means_nothing_given_yet():
    (award,) = run(EVENT, [points_rule({"per_member_total": 40})]).awards
    assert award.amount == 40


def test_the_most_restrictive_limit_wins():
    limits = {"per_member_per_day": 80, "per_member_per_month": 500, "per_member_total": 1000}
    usage = {1: Usage(member_day=10, member_month=460, member_total=100)}
    (award,) = run(EVENT, [points_rule(limits)], usage=usage).awards
    assert award.amount == 40 and award.why.params["capped_by"] == "per_member_per_month"
    skipped = run(EVENT, [points_rule(limits)], usage={1: Usage(member_day=10, member_month=100, member_total=1000)}).skipped[0]
    assert skipped.why.params["limit"] == "per_member_total"


def test_a_budget_is_shared_by_all_members():
    budgeted = points_rule({"budget": 10_000})
    (award,) = run(EVENT, [budgeted], usage={1: Usage(budget_spent=9_975)}).awards
    assert award.amount == 25 and award.why.params["capped_by"] == "budget"
    spent = run(EVENT, [budgeted], usage={1: Usage(budget_spent=10_000)})
    assert spent.awards == () and spent.skipped[0].why.params["limit"] == "budget"
    assert spent.skipped[0].why.params["currency_mode"] == "points"


def test_line_shares_of_a_capped_award_still_sum_to_it():
    event = purchase(line("A", 3000), line("B", 7000))
    capped = rule(effects=[{"type": "points_per_euro", "points": 1, "on": "lines"}], limits={"per_member_per_day": 50})
    (award,) = run(event, [capped]).awards
    assert award.amount == 50 and sum(award.line_amounts) == 50 and award.line_amounts == (15, 35)


def test_other_effects_of_a_capped_rule_are_given_in_full():
    the_rule = rule(effects=[PER_EURO, {"type": "stamps", "card": "cafe", "count": 3}], limits={"per_member_per_day": 10})
    result = run(EVENT, [the_rule], usage={1: Usage(member_day=5)})
    assert [(a.kind, a.amount) for a in result.awards] == [(POINTS, 5), (STAMPS, 3)]


def test_other_effects_are_not_given_when_the_rule_reached_its_limit():
    the_rule = rule(effects=[PER_EURO, {"type": "stamps", "card": "cafe"}], limits={"per_member_per_day": 10})
    result = run(EVENT, [the_rule], usage={1: Usage(member_day=10)})
    assert result.awards == () and result.skipped[0].why.code == "limit_reached"


def test_limits_count_the_first_effects_kind():
    stamps_first = rule(effects=[{"type": "stamps", "card": "cafe", "count": 2}, {"type": "fixed_points", "points": 50}],
                        limits={"per_member_per_day": 3})
    assert main_award(stamps_first) == (STAMPS, "cafe")
    result = run(EVENT, [stamps_first], usage={1: Usage(member_day=2)})
    assert [(a.kind, a.amount) for a in result.awards] == [(STAMPS, 1), (POINTS, 50)]
    several_points = rule(effects=[{"type": "fixed_points", "points": 30}, {"type": "fixed_points", "points": 30}],
                          limits={"per_member_total": 40})
    assert [a.amount for a in run(EVENT, [several_points]).awards] == [30, 10]  # the earlier effect is kept whole


def test_limits_on_one_rule_do_not_touch_another():
    capped = points_rule({"per_member_per_day": 10}, id=1)
    free = points_rule({}, id=2)
    result = run(EVENT, [capped, free], usage={1: Usage(member_day=10), 2: Usage(member_day=10_000)})
    assert [(a.rule_id, a.amount) for a in result.awards] == [(2, 100)]


# --- stacking ----------------------------------------------------------------------------------


def fixed(points, **extra):
    return rule(effects=[{"type": "fixed_points", "points": points}], **extra)


def test_cumulative_rules_all_fire_in_priority_then_id_order():
    rules = [fixed(1, id=3), fixed(2, id=1, priority=5), fixed(3, id=2), fixed(4, id=4, priority=-1)]
    result = run(EVENT, rules)
    assert [a.rule_id for a in result.awards] == [1, 2, 3, 4]
    assert result.total(POINTS) == 10


def test_an_exclusive_rule_stops_the_rules_after_it():
    rules = [fixed(10, id=1, priority=10), fixed(20, id=2, priority=5, exclusive=True, name="Soldes"), fixed(30, id=3),
             fixed(40, id=4, priority=5)]
    result = run(EVENT, rules)
    assert [a.rule_id for a in result.awards] == [1, 2]  # id 1 came first; id 4 has the same priority but a higher id
    assert {s.rule_id for s in result.skipped} == {3, 4}
    for skipped in result.skipped:
        assert skipped.why.code == "exclusive_rule_won"
        assert skipped.why.params["winner"] == "Soldes" and skipped.why.params["winner_id"] == 2


def test_an_exclusive_rule_that_does_not_fire_stops_nothing():
    failing = rule([{"field": "amount", "op": "gte", "value": 1_000_000}], id=1, priority=9, exclusive=True)
    limited = points_rule({"per_member_per_day": 10}, id=2, priority=8, exclusive=True)
    result = run(EVENT, [failing, limited, fixed(5, id=3)], usage={2: Usage(member_day=10)})
    assert [a.rule_id for a in result.awards] == [3]
    assert [s.why.code for s in result.skipped] == ["condition_failed", "limit_reached"]


def test_the_highest_priority_exclusive_rule_wins():
    rules = [fixed(10, id=1, exclusive=True), fixed(20, id=2, priority=1, exclusive=True)]
    result = run(EVENT, rules)
    assert [a.rule_id for a in result.awards] == [2]
    assert result.skipped[0].rule_id == 1


def test_a_capped_exclusive_rule_still_wins():
    rules = [points_rule({"per_member_per_day": 10}, id=1, priority=1, exclusive=True), fixed(50, id=2)]
    result = run(EVENT, rules, usage={1: Usage(member_day=5)})
    assert [(a.rule_id, a.amount) for a in result.awards] == [(1, 5)]
    assert result.skipped[0].why.code == "exclusive_rule_won"
