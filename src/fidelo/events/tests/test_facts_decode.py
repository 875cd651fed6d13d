"""Decoding the member facts' values: each capped rule's windows in Usage's fields, the counts after them."""

import datetime as dt

from fidelo.events.facts import Capped, facts_query, facts_shape
from fidelo.members.models import Member
from fidelo.rules.engine.evaluate import Needs
from fidelo.rules.engine.types import Usage

AT = dt.datetime(2026, 3, 10, 14, tzinfo=dt.UTC)


def test_each_rule_fills_the_usage_fields_its_limits_read_and_a_rule_that_gave_nothing_is_left_out():
    monthly_with_budget = Capped(rule_id=1, kind="points", budget=True, day=False, month=True, total=True)
    daily_stamps = Capped(rule_id=2, kind="stamps", budget=False, day=True, month=False, total=False)
    nothing_yet = Capped(rule_id=3, kind="points", budget=False, day=True, month=True, total=False)
    shape = facts_shape(needs=Needs(counts=frozenset({"purchase"})), capped=[monthly_with_budget, daily_stamps, nothing_yet])
    query = facts_query(at=AT, timezone="Europe/Paris", shape=shape)
    assert len(query.selects) == 3 + 1 + 2 + 1  # month, total, budget; day; day, month; the purchases

    member = Member(id=5, enrolled_at=AT - dt.timedelta(days=400), attributes={}, interests=[])
    facts, usage, campaign_room = query.decode(member, (7, 9, 100, 4, 0, 0, 3))
    assert usage == {1: Usage(member_day=0, member_month=7, member_total=9, budget_spent=100), 2: Usage(member_day=4)}
    assert facts.counts == {"purchase": 3} and campaign_room == {}
