"""What the engine says before the member is known: which rules an event may satisfy
(may_fire: the caller then skips the usage of the others), and how far the counts of past
events must go (count_limits: a long history is not counted on every event)."""

import datetime as dt
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fidelo.rules.engine.evaluate import Gates, count_limits, may_fire
from fidelo.rules.tests.test_engine_helpers import (
    PARIS,
    UTC,
    cond,
    fires,
    line,
    member,
    paris,
    purchase,
    rule,
)

CAPPED = {"limits": {"per_member_per_day": 50}}


def test_a_rule_may_fire_when_its_conditions_on_the_event_hold_whatever_the_member():
    on_brand = rule([cond("line.brand", "eq", "acme")], id=1, **CAPPED)
    gold_on_brand = rule([cond("member.tier", "in", ["gold"]), cond("line.brand", "eq", "acme")], id=2, **CAPPED)
    big_baskets = rule([cond("amount", "gte", 5000)], id=3, **CAPPED)
    in_paris = rule([cond("store", "in", ["paris"]), cond("first_purchase", "is", True)], id=4, **CAPPED)
    rules = [on_brand, gold_on_brand, big_baskets, in_paris]
    with_brand = purchase(line("A", 1000, brand="acme"), line("B", 500, brand="other"), store="lyon")
    without = purchase(line("B", 6000, brand="other"), store="paris")
    assert may_fire(with_brand, PARIS, rules) == (True, True, False, False)
    assert may_fire(without, PARIS, rules) == (False, False, True, True)
    # The member's conditions are not tested: the gold rule may fire, though this member has no tier.
    assert not fires(gold_on_brand, with_brand, member(tier=None))


def test_a_rule_out_of_its_dates_or_of_another_event_type_may_not_fire():
    starts = dt.datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    ends = dt.datetime(2026, 3, 12, 0, 0, tzinfo=UTC)
    dated = rule([cond("line.brand", "eq", "acme")], id=1, starts_at=starts.isoformat(), ends_at=ends.isoformat(), **CAPPED)
    visits = rule([], id=2, event="visit", **CAPPED)
    basket = (line("A", 1000, brand="acme"),)
    assert may_fire(purchase(*basket, at=starts), PARIS, [dated, visits]) == (True, False)
    assert may_fire(purchase(*basket, at=starts - dt.timedelta(seconds=1)), PARIS, [dated]) == (False,)
    assert may_fire(purchase(*basket, at=ends), PARIS, [dated]) == (False,)  # the end is excluded


def test_time_conditions_are_read_in_the_organization_time_zone():
    saturday_night = rule([cond("weekday", "in", [6]), cond("time", "between", ["23:30", "23:59"])], id=1, **CAPPED)
    event = purchase(line(), at=paris(2026, 3, 14, 23, 45))  # Saturday 23:45 in Paris, 22:45 UTC
    assert may_fire(event, PARIS, [saturday_night]) == (True,)
    assert may_fire(event, "UTC", [saturday_night]) == (False,)


def test_a_rule_that_may_not_fire_never_fires():
    """may_fire is a necessary condition of evaluate(): whatever the member, a rule it rules out gives nothing."""
    rules = [
        rule([cond("line.category", "in", ["cafe", "the"]), cond("member.tier", "in", ["gold"])], id=1, **CAPPED),
        rule([cond("matching_amount", "gte", 800), cond("line.sku", "eq", "A")], id=2, **CAPPED),
        rule([cond("channel", "eq", "online"), cond("event_count", "eq", 2)], id=3, **CAPPED),
    ]
    members = [member(), member(tier="gold", counts={"purchase": 1})]
    events = [
        purchase(line("A", 1000, category="cafe")), purchase(line("A", 500, category="the"), channel="online"),
        purchase(line("B", 900, category="vin"), channel="online"),
    ]
    for event in events:
        allowed = may_fire(event, PARIS, rules)
        for the_rule, may in zip(rules, allowed):
            if not may:
                assert not any(fires(the_rule, event, facts) for facts in members)


OFFERS = [cond("line.brand", "eq", "acme"), cond("line.category", "in", ["cafe", "the"]), cond("line.sku", "in", ["A", "B"])]
OTHERS = [[cond("amount", "gte", 800)], [cond("line.brand", "eq", "acme"), cond("member.tier", "in", ["gold"])]]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, len(OFFERS) + len(OTHERS) + 1), min_size=0, max_size=6),
    st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(["cafe", "vin"]), st.sampled_from(["acme", "other"])), max_size=5),
    st.sampled_from(["purchase", "visit"]),
)
def test_gates_answer_as_may_fire(kinds, basket, event_type):
    """Gates, derived once for a rule set's capped rules, answers as may_fire: with one set test
    per rule when all are undated offers on products, categories or brands, else through it."""
    rules = []
    for index, kind in enumerate(kinds, start=1):
        if kind < len(OFFERS):
            rules.append(rule([OFFERS[kind]], id=index, **CAPPED))
        elif kind < len(OFFERS) + len(OTHERS):
            rules.append(rule(OTHERS[kind - len(OFFERS)], id=index, **CAPPED))
        else:  # an offer with dates
            rules.append(rule([OFFERS[0]], id=index, starts_at="2026-01-01T00:00:00+00:00", **CAPPED))
    lines = [line(sku, 1000, category=category, brand=brand) for sku, category, brand in basket]
    event = purchase(*lines) if event_type == "purchase" else purchase(*lines)._replace(type="visit", lines=())
    assert Gates(rules)(event, PARIS) == may_fire(event, PARIS, rules)


def test_gates_of_offers_alone_need_no_rule_to_run(monkeypatch):
    rules = [rule([offer], id=index, **CAPPED) for index, offer in enumerate(OFFERS, start=1)]
    gates = Gates(rules)
    engine_module = sys.modules[Gates.__module__]  # fidelo.rules.engine.evaluate (the package's `evaluate` is the function)
    monkeypatch.setattr(engine_module, "may_fire", lambda *args: pytest.fail("may_fire should not run"))
    assert gates(purchase(line("C", 500, category="the", brand="acme")), PARIS) == (True, True, False)


def test_count_limits_stop_where_the_conditions_stop_telling_counts_apart():
    assert count_limits([rule([cond("first_purchase", "is", True)])]) == {"purchase": 1}
    assert count_limits([rule([cond("event_count", "eq", 10)])]) == {"purchase": 10}
    assert count_limits([rule([cond("event_count", "gte", 7)]), rule([cond("event_count", "lt", 5)], id=2)]) == {"purchase": 7}
    assert count_limits([rule([cond("event_count", "eq", 3, within_days=30)], event="visit"),
                         rule([cond("event_count", "gt", 9)], id=2, event="visit")]) == {("visit", 30): 3, "visit": 9}
    assert count_limits([rule([cond("event_count", "eq", 3)], event="custom", event_name="quiz")]) == {"custom:quiz": 3}
    # Every 5th purchase: only the whole count tells; it is counted in full (no limit).
    assert count_limits([rule([cond("event_count", "multiple_of", 5)]), rule([cond("event_count", "eq", 10)], id=2)]) == {}
    assert count_limits([rule([cond("store", "in", ["paris"])])]) == {}


@pytest.mark.parametrize("op, value", [("eq", 10), ("gt", 4), ("gte", 10), ("lt", 3), ("lte", 10), ("eq", 1), ("gt", 1)])
def test_a_count_read_up_to_its_limit_decides_like_the_whole_count(op, value):
    the_rule = rule([cond("event_count", op, value)])
    (limit,) = count_limits([the_rule]).values()
    event = purchase(line())
    for past in range(0, 40):
        assert fires(the_rule, event, member(counts={"purchase": past})) == fires(
            the_rule, event, member(counts={"purchase": min(past, limit)})
        ), past
