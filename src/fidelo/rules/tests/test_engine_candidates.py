"""Without explanations, the rules with one eq / in condition (on a line's sku, category or
brand, or on the store, channel, weekday, month or tier) are passed over through an index
when the event holds none of their values: the awards are those of running every rule."""

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from fidelo.rules.engine import evaluate
from fidelo.rules.engine.evaluate import RuleSet, _candidates_for
from fidelo.rules.tests.test_engine_helpers import (
    UTC,
    line,
    member,
    purchase,
    rule,
    terms,
)

CONDITIONS = [
    {"field": "line.category", "op": "eq", "value": "cafe"},
    {"field": "line.category", "op": "in", "value": ["the", "pain", "the"]},
    {"field": "line.sku", "op": "in", "value": ["S1", "S3"]},
    {"field": "line.brand", "op": "eq", "value": "a"},
    {"field": "line.brand", "op": "not_in", "value": ["a"]},
    {"field": "store", "op": "in", "value": ["lyon"]},
    {"field": "store", "op": "in", "value": ["paris", "web"]},
    {"field": "channel", "op": "eq", "value": "online"},
    {"field": "weekday", "op": "in", "value": [6, 7]},
    {"field": "weekday", "op": "in", "value": [3]},
    {"field": "month", "op": "in", "value": [3, 12]},
    {"field": "member.tier", "op": "not_in", "value": ["gold"]},
    {"field": "member.tier", "op": "in", "value": ["silver", "gold"]},
    {"field": "amount", "op": "gte", "value": 2000},
]
EFFECTS = [
    {"type": "fixed_points", "points": 10},
    {"type": "points_per_euro", "points": 2, "per_minor": 100, "on": "lines"},
    {"type": "multiplier", "percent": 150, "on": "basket"},
]

rules_strategy = st.lists(
    st.tuples(
        st.lists(st.integers(0, len(CONDITIONS) - 1), min_size=0, max_size=2),  # one condition: indexed if eq / in
        st.integers(0, len(EFFECTS) - 1), st.integers(0, 3), st.booleans(),
    ),
    min_size=0, max_size=12,
)
lines_strategy = st.lists(
    st.tuples(st.sampled_from(["S1", "S2", "S3"]), st.sampled_from(["cafe", "the", "pain", ""]), st.sampled_from(["a", "b"]),
              st.integers(0, 2000)),
    min_size=0, max_size=8,
)


def _rules(raw):
    return tuple(
        rule([CONDITIONS[k] for k in conditions], [EFFECTS[effect]], id=index + 1, priority=priority, exclusive=exclusive)
        for index, (conditions, effect, priority, exclusive) in enumerate(raw)
    )


@settings(max_examples=200, deadline=None)
@given(
    rules_strategy, lines_strategy, st.sampled_from(["paris", "lyon", "web", None]), st.sampled_from(["offline", "online"]),
    st.integers(0, 400), st.sampled_from([None, "silver", "gold"]),
)
def test_the_index_gives_the_awards_of_running_every_rule(raw_rules, raw_lines, store, channel, day, tier):
    rules = _rules(raw_rules)
    at = dt.datetime(2026, 1, 1, 12, 0, tzinfo=UTC) + dt.timedelta(days=day)
    event = purchase(*(line(sku, amount, category=category, brand=brand) for sku, category, brand, amount in raw_lines),
                     at=at, store=store, channel=channel)
    facts = member(tier=tier)
    indexed = evaluate(event, facts, terms(event), rules, {}, explain=False)
    every_rule = evaluate(event, facts, terms(event), rules, {}, explain=True)  # runs each rule, to say why it gave nothing
    # Without explanations, an award nothing counts (no limits, no campaign) has no line shares.
    assert indexed.awards == tuple(award if award.limited else award._replace(line_amounts=()) for award in every_rule.awards)


def test_which_rules_are_indexed():
    rules = _rules([([0], 0, 0, False), ([4], 0, 0, False), ([5], 0, 0, False), ([13], 0, 0, False), ([0, 5], 0, 0, False),
                    ([11], 0, 0, False), ([], 0, 0, False), ([12], 0, 0, False)])
    candidates = _candidates_for(rules, purchase(line("S1")))
    # eq / in, alone: line category (rule 1), store (rule 3), tier (rule 8). Not: not_in (rules 2, 6), amount, two conditions, none.
    assert sorted(candidates.rules[position].id for position in candidates.indexed) == [1, 3, 8]


def test_a_rule_set_keeps_its_candidates_and_other_sequences_do_not():
    rules = _rules([([0], 0, 0, False), ([5], 0, 1, False)])
    event = purchase(line("S1", category="cafe"))
    kept = RuleSet(rules)
    assert _candidates_for(kept, event) is _candidates_for(kept, event)  # the purchase path's rules: derived once
    assert [rule.id for rule in _candidates_for(kept, event).rules] == [2, 1]  # by priority
    assert _candidates_for(rules, event) is not _candidates_for(rules, event)
    assert evaluate(event, member(), terms(event), kept, {}, explain=False) == evaluate(event, member(), terms(event), rules, {}, explain=False)


def test_a_list_of_rules_changed_in_place_is_read_again():
    rules = [rule([CONDITIONS[0]], id=1)]
    event = purchase(line("S1", category="cafe"))
    assert [award.rule_id for award in evaluate(event, member(), terms(event), rules, {}, explain=False).awards] == [1]
    rules[0] = rule([CONDITIONS[3]], id=2)  # brand "a": this line's brand is ""
    assert evaluate(event, member(), terms(event), rules, {}, explain=False).awards == ()
