"""A campaign's budget, shared by its rules (pure engine)."""

import pytest

from fidelo.rules.engine import RuleInvalid, evaluate, needs, parse_rule, rule_to_json
from fidelo.rules.engine.types import POINTS, STAMPS
from fidelo.rules.tests.test_engine_helpers import (
    catalog,
    line,
    member,
    purchase,
    rule,
    terms,
)

SUMMER = "ete-2026"


def summer_rule(id, points, **extra):
    return rule(effects=[{"type": "fixed_points", "points": points}], id=id, campaign=SUMMER, **extra)


def run(event, rules, room):
    return evaluate(event, member(), terms(event), rules, {}, campaign_room=room)


def test_a_campaign_rule_is_parsed_checked_and_written_back():
    parsed = summer_rule(1, 10)
    assert parsed.campaign == SUMMER and rule_to_json(parsed)["campaign"] == SUMMER
    assert "campaign" not in rule_to_json(rule())
    with pytest.raises(RuleInvalid) as refused:
        parse_rule({"name": "x", "event": "purchase", "effects": [{"type": "fixed_points", "points": 1}], "campaign": "nope"},
                   catalog=catalog(campaigns=frozenset({SUMMER})))
    assert refused.value.code == "rule_unknown_reference" and refused.value.field == "campaign"
    assert needs([parsed, rule(id=2)]).campaigns == frozenset({SUMMER})


def test_the_rules_of_a_campaign_share_what_its_budget_has_left_in_priority_order():
    event = purchase(line(amount=2000))
    first, second = summer_rule(1, 30, priority=2), summer_rule(2, 30, priority=1)
    result = run(event, [second, first], {SUMMER: 45})
    assert [(a.rule_id, a.amount, a.limited) for a in result.awards] == [(1, 30, True), (2, 15, True)]
    assert result.awards[1].why.params["capped_by"] == "campaign_budget"


def test_a_spent_campaign_budget_stops_its_rules_and_says_why():
    event = purchase(line(amount=2000))
    result = run(event, [summer_rule(1, 30), rule(id=2, effects=[{"type": "fixed_points", "points": 5}])], {SUMMER: 0})
    assert [(a.rule_id, a.amount) for a in result.awards] == [(2, 5)]
    (skipped,) = result.skipped
    assert skipped.why.code == "limit_reached" and skipped.why.params["limit"] == "campaign_budget"


def test_without_a_budget_the_campaign_limits_nothing_and_stamps_are_not_counted():
    event = purchase(line(amount=2000))
    assert [a.amount for a in run(event, [summer_rule(1, 30)], {}).awards] == [30]
    stamps = rule(effects=[{"type": "fixed_points", "points": 30}, {"type": "stamps", "card": "cafe", "count": 2}], id=3, campaign=SUMMER)
    result = run(event, [stamps], {SUMMER: 10})
    assert [(a.kind, a.amount) for a in result.awards] == [(POINTS, 10), (STAMPS, 2)]
