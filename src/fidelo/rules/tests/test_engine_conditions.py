"""The pure engine's conditions: one test per field, time-zone edges, first failing condition."""

import datetime as dt

import pytest

from fidelo.rules.engine import needs
from fidelo.rules.engine.types import Event, Usage
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
    run,
    terms,
)

# --- the event -----------------------------------------------------------------------------


def test_store_in_and_not_in():
    in_paris = rule([cond("store", "in", ["paris", "lyon"])])
    not_paris = rule([cond("store", "not_in", ["paris"])])
    assert fires(in_paris, purchase(line(), store="lyon"))
    assert not fires(in_paris, purchase(line(), store="web"))
    assert not fires(in_paris, purchase(line(), store=None))
    assert fires(not_paris, purchase(line(), store="lyon"))
    assert not fires(not_paris, purchase(line(), store="paris"))


def test_channel_eq_and_in():
    online = rule([cond("channel", "eq", "online")])
    either = rule([cond("channel", "in", ["online", "offline"])])
    assert fires(online, purchase(line(), channel="online"))
    assert not fires(online, purchase(line(), channel="offline"))
    assert fires(either, purchase(line(), channel="offline"))
    assert not fires(either, purchase(line(), channel=None))


@pytest.mark.parametrize(("op", "value", "fired"), [
    ("gte", 5000, True), ("gte", 5001, False), ("gt", 4999, True), ("gt", 5000, False), ("lt", 5001, True),
    ("lte", 4999, False), ("eq", 5000, True), ("between", [5000, 6000], True), ("between", [1000, 4999], False),
])
def test_basket_amount(op, value, fired):
    assert fires(rule([cond("amount", op, value)]), purchase(line(amount=5000))) is fired


def test_line_sku_category_brand_and_amount_select_the_matching_lines():
    basket = purchase(
        line("CAFE-1", 300, category="cafe", brand="maison"),
        line("TEA-1", 800, category="the", brand="kusmi"),
        line("CAKE", 450, category="food", brand="maison"),
    )
    assert fires(rule([cond("line.sku", "in", ["TEA-1", "X"])]), basket)
    assert not fires(rule([cond("line.sku", "eq", "NOPE")]), basket)
    assert fires(rule([cond("line.category", "eq", "cafe")]), basket)
    assert fires(rule([cond("line.brand", "not_in", ["maison"])]), basket)  # the tea line
    assert not fires(rule([cond("line.brand", "not_in", ["maison", "kusmi"])]), basket)
    assert fires(rule([cond("line.amount", "gte", 800)]), basket)
    assert not fires(rule([cond("line.amount", "gt", 800)]), basket)
    assert fires(rule([cond("line.amount", "between", [400, 500])]), basket)


def test_line_conditions_must_hold_on_the_same_line():
    basket = purchase(line("CAFE-1", 300, category="cafe"), line("TEA-1", 800, category="the"))
    same_line = rule([cond("line.category", "eq", "cafe"), cond("line.amount", "gte", 500)])
    assert not fires(same_line, basket)  # a cheap coffee and an expensive tea: no single line passes both
    assert fires(same_line, purchase(line("CAFE-2", 600, category="cafe")))
    skipped = run(basket, [same_line]).skipped[0]
    assert skipped.why.params["field"] == "line.category"  # each holds alone: the first line condition is blamed
    only_tea = rule([cond("line.category", "eq", "cafe"), cond("line.sku", "eq", "NOPE")])
    assert run(basket, [only_tea]).skipped[0].why.params["field"] == "line.sku"  # the one no line passes


def test_matching_amount_sums_the_matching_lines():
    basket = purchase(line("A", 1200, category="cafe"), line("B", 900, category="cafe"), line("C", 5000, category="food"))
    at_least_20 = rule([cond("line.category", "eq", "cafe"), cond("matching_amount", "gte", 2000)])
    at_least_30 = rule([cond("line.category", "eq", "cafe"), cond("matching_amount", "gte", 3000)])
    assert fires(at_least_20, basket)
    assert not fires(at_least_30, basket)
    skipped = run(basket, [at_least_30]).skipped[0]
    assert skipped.why.params == {"rule": "rule 1", "field": "matching_amount", "op": "gte", "expected": 3000, "actual": 2100}
    whole_basket = rule([cond("matching_amount", "gte", 7000)])  # no line condition: every line matches
    assert fires(whole_basket, basket)


# --- dates and times, in the program's time zone ---------------------------------------------


def test_date_between_is_inclusive_and_local():
    january = rule([cond("date", "between", ["2026-01-01", "2026-01-31"])])
    assert fires(january, purchase(line(), at=paris(2026, 1, 31, 23, 59)))
    assert fires(january, purchase(line(), at=paris(2026, 1, 1, 0, 0)))
    # 23:30 UTC on January 31st is already February 1st in Paris.
    assert not fires(january, purchase(line(), at=dt.datetime(2026, 1, 31, 23, 30, tzinfo=UTC)))
    assert fires(rule([cond("date", "eq", "2026-02-01")]), purchase(line(), at=dt.datetime(2026, 1, 31, 23, 30, tzinfo=UTC)))


def test_weekday_in():
    weekend = rule([cond("weekday", "in", [6, 7])])
    assert fires(weekend, purchase(line(), at=paris(2026, 3, 14)))  # a Saturday
    assert fires(weekend, purchase(line(), at=paris(2026, 3, 15)))  # a Sunday
    assert not fires(weekend, purchase(line(), at=paris(2026, 3, 16)))  # a Monday
    # Sunday 23:30 UTC in winter is Monday 00:30 in Paris.
    assert not fires(weekend, purchase(line(), at=dt.datetime(2026, 3, 15, 23, 30, tzinfo=UTC)))


def test_time_between_start_included_end_excluded_and_wrapping_past_midnight():
    happy_hour = rule([cond("time", "between", ["17:00", "19:00"])])
    assert fires(happy_hour, purchase(line(), at=paris(2026, 3, 11, 17, 0)))
    assert fires(happy_hour, purchase(line(), at=paris(2026, 3, 11, 18, 59)))
    assert not fires(happy_hour, purchase(line(), at=paris(2026, 3, 11, 19, 0)))
    night = rule([cond("time", "between", ["22:00", "02:00"])])
    assert fires(night, purchase(line(), at=paris(2026, 3, 11, 23, 15)))
    assert fires(night, purchase(line(), at=paris(2026, 3, 12, 1, 59)))
    assert not fires(night, purchase(line(), at=paris(2026, 3, 12, 2, 0)))
    assert not fires(night, purchase(line(), at=paris(2026, 3, 11, 21, 59)))


def test_month_in():
    summer = rule([cond("month", "in", [7, 8])])
    assert fires(summer, purchase(line(), at=paris(2026, 7, 1, 0, 5)))
    assert not fires(summer, purchase(line(), at=paris(2026, 9, 1, 0, 5)))
    # 22:30 UTC on June 30th (summer time, +02:00) is July 1st in Paris.
    assert fires(summer, purchase(line(), at=dt.datetime(2026, 6, 30, 22, 30, tzinfo=UTC)))


SATURDAY_LATE = [cond("weekday", "in", [6]), cond("time", "between", ["23:30", "00:00"])]


@pytest.mark.parametrize(("moment", "fired"), [
    (dt.datetime(2026, 1, 17, 22, 45, tzinfo=UTC), True),  # winter, +01:00: Saturday 23:45 in Paris
    (dt.datetime(2026, 7, 18, 21, 45, tzinfo=UTC), True),  # summer, +02:00: Saturday 23:45 in Paris
    (dt.datetime(2026, 1, 17, 22, 15, tzinfo=UTC), False),  # winter: Saturday 23:15 in Paris, too early
    (dt.datetime(2026, 7, 18, 22, 45, tzinfo=UTC), False),  # summer: already Sunday 00:45 in Paris
    (dt.datetime(2026, 1, 17, 23, 15, tzinfo=UTC), False),  # winter: Sunday 00:15 in Paris
    (dt.datetime(2026, 1, 17, 23, 45, tzinfo=dt.timezone(dt.timedelta(hours=1))), True),  # the first case, sent with an offset
    (dt.datetime(2026, 1, 18, 7, 45, tzinfo=dt.timezone(dt.timedelta(hours=9))), True),  # and from Tokyo
])
def test_a_rule_for_saturdays_from_23_30_local_time(moment, fired):
    assert fires(rule(SATURDAY_LATE), purchase(line(), at=moment)) is fired


def test_dst_change_days_use_the_local_clock():
    early_morning = rule([cond("time", "between", ["03:00", "04:00"]), cond("date", "eq", "2026-03-29")])
    # 29 March 2026: clocks go from 02:00 to 03:00 in Paris. 01:30 UTC is 03:30 local (+02:00).
    assert fires(early_morning, purchase(line(), at=dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)))
    # 00:30 UTC is 01:30 local (+01:00), before the change.
    assert not fires(early_morning, purchase(line(), at=dt.datetime(2026, 3, 29, 0, 30, tzinfo=UTC)))
    # 25 October 2026: 02:00-03:00 happens twice; both 00:30 UTC (+02:00) and 01:30 UTC (+01:00) are 02:30 local.
    twice = rule([cond("time", "between", ["02:00", "03:00"]), cond("weekday", "in", [7])])
    assert fires(twice, purchase(line(), at=dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)))
    assert fires(twice, purchase(line(), at=dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)))
    assert not fires(twice, purchase(line(), at=dt.datetime(2026, 10, 25, 2, 30, tzinfo=UTC)))  # 03:30 local


def test_another_time_zone_is_honoured():
    morning = rule([cond("time", "between", ["08:00", "12:00"])])
    event = purchase(line(), at=dt.datetime(2026, 3, 11, 14, 0, tzinfo=UTC))  # 10:00 in Montréal (EDT, -04:00)
    assert fires(morning, event, program=terms(event, timezone="America/Montreal"))
    assert not fires(morning, event, program=terms(event, timezone=PARIS))  # 15:00 in Paris


# --- the member ----------------------------------------------------------------------------


def test_member_tier_in_and_not_in_with_no_tier():
    gold = rule([cond("member.tier", "in", ["gold"])])
    no_tier = rule([cond("member.tier", "in", [""])])
    not_gold = rule([cond("member.tier", "not_in", ["gold"])])
    event = purchase(line())
    assert fires(gold, event, member(tier="gold"))
    assert not fires(gold, event, member(tier="silver"))
    assert fires(no_tier, event, member(tier=None))
    assert not fires(no_tier, event, member(tier="silver"))
    assert fires(not_gold, event, member(tier=None))
    assert not fires(not_gold, event, member(tier="gold"))


def test_member_string_attribute():
    event = purchase(line())
    latte = member(attributes={"favorite_drink": "Latte macchiato"})
    assert fires(rule([cond("member.attribute.favorite_drink", "eq", "Latte macchiato")]), event, latte)
    assert not fires(rule([cond("member.attribute.favorite_drink", "eq", "latte")]), event, latte)
    assert fires(rule([cond("member.attribute.favorite_drink", "contains", "LATTE")]), event, latte)
    assert fires(rule([cond("member.attribute.favorite_drink", "in", ["Thé", "Latte macchiato"])]), event, latte)
    assert fires(rule([cond("member.attribute.favorite_drink", "not_in", ["Thé"])]), event, latte)
    assert fires(rule([cond("member.attribute.favorite_drink", "ne", "Thé")]), event, latte)


def test_member_number_boolean_and_date_attributes():
    event = purchase(line())
    facts = member(attributes={"age": 34, "newsletter": True, "contract_end": "2026-06-30"})
    assert fires(rule([cond("member.attribute.age", "gte", 18)]), event, facts)
    assert fires(rule([cond("member.attribute.age", "between", [30, 39])]), event, facts)
    assert not fires(rule([cond("member.attribute.age", "lt", 34)]), event, facts)
    assert fires(rule([cond("member.attribute.newsletter", "is", True)]), event, facts)
    assert not fires(rule([cond("member.attribute.newsletter", "is", False)]), event, facts)
    assert fires(rule([cond("member.attribute.contract_end", "gte", "2026-06-01")]), event, facts)
    assert not fires(rule([cond("member.attribute.contract_end", "lt", "2026-06-30")]), event, facts)
    as_date = member(attributes={"contract_end": dt.date(2026, 6, 30)})
    assert fires(rule([cond("member.attribute.contract_end", "eq", "2026-06-30")]), event, as_date)


def test_a_missing_or_mistyped_member_attribute_fails_except_ne_and_not_in():
    event = purchase(line())
    nothing = member(attributes={})
    assert not fires(rule([cond("member.attribute.age", "gte", 18)]), event, nothing)
    assert not fires(rule([cond("member.attribute.favorite_drink", "eq", "Thé")]), event, nothing)
    assert fires(rule([cond("member.attribute.favorite_drink", "ne", "Thé")]), event, nothing)
    assert fires(rule([cond("member.attribute.favorite_drink", "not_in", ["Thé"])]), event, nothing)
    assert not fires(rule([cond("member.attribute.age", "gte", 18)]), event, member(attributes={"age": "old"}))
    assert not fires(rule([cond("member.attribute.newsletter", "is", True)]), event, member(attributes={"newsletter": 1}))


def test_member_interests_contains_and_in():
    event = purchase(line())
    yogi = member(interests=frozenset({"yoga", "running"}))
    assert fires(rule([cond("member.interests", "contains", "yoga")]), event, yogi)
    assert not fires(rule([cond("member.interests", "contains", "boxe")]), event, yogi)
    assert fires(rule([cond("member.interests", "in", ["boxe", "running"])]), event, yogi)
    assert not fires(rule([cond("member.interests", "in", ["boxe"])]), event, member())


def test_member_birthday_month_in_local_time():
    birthday_month = rule([cond("member.birthday_month", "is", True)])
    not_birthday_month = rule([cond("member.birthday_month", "is", False)])
    born_in_april = member(birthday=dt.date(1990, 4, 12))
    assert fires(birthday_month, purchase(line(), at=paris(2026, 4, 30, 23, 0)), born_in_april)
    # 22:30 UTC on March 31st (+02:00) is already April 1st in Paris.
    assert fires(birthday_month, purchase(line(), at=dt.datetime(2026, 3, 31, 22, 30, tzinfo=UTC)), born_in_april)
    assert not fires(birthday_month, purchase(line(), at=paris(2026, 5, 1)), born_in_april)
    assert not fires(birthday_month, purchase(line(), at=paris(2026, 4, 1)), member(birthday=None))
    assert fires(not_birthday_month, purchase(line(), at=paris(2026, 4, 1)), member(birthday=None))
    assert fires(not_birthday_month, purchase(line(), at=paris(2026, 5, 1)), born_in_april)


def test_first_purchase():
    first = rule([cond("first_purchase", "is", True)])
    returning = rule([cond("first_purchase", "is", False)])
    event = purchase(line())
    assert fires(first, event, member(counts={}))
    assert fires(first, event, member(counts={"purchase": 0, "visit": 4}))
    assert not fires(first, event, member(counts={"purchase": 1}))
    assert fires(returning, event, member(counts={"purchase": 3}))


def test_event_count_the_3rd_visit_within_30_days():
    third_visit = rule([cond("event_count", "eq", 3, within_days=30)], event="visit")
    visit = Event(type="visit", occurred_at=paris(2026, 3, 11), store="paris")
    assert fires(third_visit, visit, member(counts_within={("visit", 30): 2}))
    assert not fires(third_visit, visit, member(counts_within={("visit", 30): 1}))
    assert not fires(third_visit, visit, member(counts_within={("visit", 30): 3}))
    assert not fires(third_visit, visit, member(counts={"visit": 2}))  # lifetime counts are another fact
    skipped = run(visit, [third_visit], facts=member(counts_within={("visit", 30): 0})).skipped[0]
    assert skipped.why.params["actual"] == 1 and skipped.why.params["within_days"] == 30


def test_event_count_the_10th_purchase_and_every_5th():
    tenth = rule([cond("event_count", "eq", 10)])
    every_fifth = rule([cond("event_count", "multiple_of", 5)])
    at_least = rule([cond("event_count", "gte", 3)])
    event = purchase(line())
    assert fires(tenth, event, member(counts={"purchase": 9}))
    assert not fires(tenth, event, member(counts={"purchase": 10}))
    assert fires(every_fifth, event, member(counts={"purchase": 14}))
    assert not fires(every_fifth, event, member(counts={"purchase": 15}))
    assert fires(at_least, event, member(counts={"purchase": 2}))
    assert not fires(at_least, event, member())  # missing counter = 0: this is the 1st


def test_streak_months_counts_the_event_month():
    month_three = rule([cond("streak_months", "eq", 3)], event="subscription_payment")
    payment = Event(type="subscription_payment", occurred_at=paris(2026, 3, 5), amount_minor=3900)
    assert fires(month_three, payment, member(streak_months={"subscription_payment": 2}))
    assert not fires(month_three, payment, member(streak_months={"subscription_payment": 3}))
    assert not fires(month_three, payment, member(streak_months={"visit": 2}))
    assert fires(rule([cond("streak_months", "gte", 1)], event="subscription_payment"), payment, member())


def test_membership_years_counts_whole_local_years():
    anniversary = rule([cond("membership_years", "eq", 1)], event="visit")
    enrolled = member(enrolled_at=dt.datetime(2025, 3, 10, 23, 30, tzinfo=UTC))  # March 11th 00:30 in Paris
    assert fires(anniversary, Event(type="visit", occurred_at=paris(2026, 3, 11, 8, 0)), enrolled)
    assert not fires(anniversary, Event(type="visit", occurred_at=paris(2026, 3, 10, 23, 0)), enrolled)
    assert fires(rule([cond("membership_years", "gte", 0)], event="visit"), Event(type="visit", occurred_at=paris(2025, 3, 11)), enrolled)
    assert not fires(rule([cond("membership_years", "lte", 0)], event="visit"), Event(type="visit", occurred_at=paris(2027, 3, 11)), enrolled)


def test_event_attributes():
    review = Event(type="review", occurred_at=paris(2026, 3, 11), attributes={"rating": 5, "platform": "Google", "photo": True})
    assert fires(rule([cond("event.attribute.rating", "gte", 4)], event="review"), review)
    assert not fires(rule([cond("event.attribute.rating", "lt", 4)], event="review"), review)
    assert fires(rule([cond("event.attribute.platform", "in", ["Google", "Yelp"])], event="review"), review)
    assert fires(rule([cond("event.attribute.platform", "contains", "goo")], event="review"), review)
    assert fires(rule([cond("event.attribute.photo", "is", True)], event="review"), review)
    assert fires(rule([cond("event.attribute.survey", "ne", "x")], event="review"), review)  # missing
    assert not fires(rule([cond("event.attribute.platform", "gte", 3)], event="review"), review)  # mistyped


# --- which rules are considered ----------------------------------------------------------------


def test_custom_events_match_by_name():
    google_review = rule(event="custom", event_name="google_review")
    matching = Event(type="custom", name="google_review", occurred_at=paris(2026, 3, 11))
    other = Event(type="custom", name="instagram_post", occurred_at=paris(2026, 3, 11))
    assert fires(google_review, matching)
    result = run(other, [google_review])
    assert result.awards == () and result.skipped == ()  # another custom event: not considered at all


def test_custom_event_counts_use_their_own_key():
    third = rule([cond("event_count", "eq", 3)], event="custom", event_name="class_attended")
    attended = Event(type="custom", name="class_attended", occurred_at=paris(2026, 3, 11))
    assert fires(third, attended, member(counts={"custom:class_attended": 2}))
    assert not fires(third, attended, member(counts={"custom": 2, "class_attended": 2}))
    assert needs([third]).counts == frozenset({"custom:class_attended"})


def test_rules_of_other_events_are_ignored():
    on_visit = rule(event="visit")
    result = run(purchase(line()), [on_visit])
    assert result.awards == () and result.skipped == ()


def test_rules_apply_from_their_start_to_before_their_end():
    starts, ends = "2026-03-01T00:00:00+01:00", "2026-04-01T00:00:00+02:00"
    march = rule(starts_at=starts, ends_at=ends)
    assert fires(march, purchase(line(), at=paris(2026, 3, 1, 0, 0)))
    assert fires(march, purchase(line(), at=paris(2026, 3, 31, 23, 59)))
    before = run(purchase(line(), at=paris(2026, 2, 28, 23, 59)), [march]).skipped[0]
    after = run(purchase(line(), at=paris(2026, 4, 1, 0, 0)), [march]).skipped[0]
    assert before.why.code == "rule_not_started" and before.why.params["starts_at"] == "2026-03-01T00:00:00+01:00"
    assert after.why.code == "rule_ended"


def test_the_first_failing_condition_is_reported_with_expected_and_actual():
    the_rule = rule([cond("store", "in", ["paris"]), cond("amount", "gte", 5000), cond("weekday", "in", [6])], name="Gros panier")
    result = run(purchase(line(amount=1200), store="paris", at=paris(2026, 3, 11)), [the_rule])
    assert result.awards == ()
    (skipped,) = result.skipped
    assert (skipped.rule_id, skipped.rule_version, skipped.rule_name) == (1, 1, "Gros panier")
    assert skipped.why.code == "condition_failed"
    assert skipped.why.params == {"rule": "Gros panier", "field": "amount", "op": "gte", "expected": 5000, "actual": 1200}


def test_failure_params_are_plain_json():
    import json

    the_rule = rule([cond("line.sku", "in", ["A", "B"])])
    skipped = run(purchase(line("C"), line("D")), [the_rule]).skipped[0]
    assert skipped.why.params["expected"] == ["A", "B"] and skipped.why.params["actual"] == ["C", "D"]
    json.dumps(dict(skipped.why.params))
    dated = rule([cond("date", "between", ["2026-01-01", "2026-01-31"])])
    json.dumps(dict(run(purchase(line()), [dated]).skipped[0].why.params))


def test_needs_lists_the_facts_to_load():
    rules = [
        rule([cond("first_purchase", "is", True)], id=1),
        rule([cond("event_count", "eq", 3, within_days=30)], id=2, event="visit"),
        rule([cond("event_count", "eq", 10)], id=3, event="visit"),
        rule([cond("streak_months", "gte", 3)], id=4, event="subscription_payment"),
        rule([cond("member.tier", "in", ["gold"]), cond("member.attribute.age", "gte", 18)], id=5),
        rule([cond("member.interests", "contains", "yoga"), cond("member.birthday_month", "is", True)], id=6),
        rule(id=7, limits={"per_member_per_day": 100}),
    ]
    wanted = needs(rules)
    assert wanted.counts == frozenset({"purchase", "visit"})
    assert wanted.counts_within == frozenset({("visit", 30)})
    assert wanted.streaks == frozenset({"subscription_payment"})
    assert wanted.member_fields == frozenset({"tier", "attributes", "interests", "birthday"})
    assert wanted.usage_rule_ids == frozenset({7})
    assert needs([]).counts == frozenset()


def test_a_naive_event_time_is_a_programming_error():
    with pytest.raises(ValueError):
        run(purchase(line(), at=dt.datetime(2026, 3, 11, 10, 0)), [rule()], usage={1: Usage()})
