"""Rule definitions: every refusal has its code and field path; rule_to_json round-trips."""

import copy
import dataclasses
import datetime as dt
import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fidelo.core.errors import ValidationFailed
from fidelo.rules.engine import Catalog, RuleInvalid, parse_rule, rule_to_json
from fidelo.rules.engine.types import Condition, Effect, Limits
from fidelo.rules.tests.test_engine_helpers import catalog, line, purchase, run

RICH = {
    "name": "Double points le week-end",
    "event": "purchase",
    "event_name": "",
    "conditions": [
        {"field": "weekday", "op": "in", "value": [6, 7]},
        {"field": "time", "op": "between", "value": ["22:00", "02:00"]},
        {"field": "store", "op": "in", "value": ["paris", "lyon"]},
        {"field": "line.category", "op": "in", "value": ["cafe"]},
        {"field": "matching_amount", "op": "between", "value": [500, 10_000]},
        {"field": "member.attribute.age", "op": "gte", "value": 18},
        {"field": "member.attribute.contract_end", "op": "between", "value": ["2026-01-01", "2026-12-31"]},
        {"field": "member.tier", "op": "not_in", "value": ["", "silver"]},
        {"field": "event_count", "op": "eq", "value": 3, "within_days": 30},
        {"field": "event.attribute.source", "op": "eq", "value": "app"},
    ],
    "effects": [
        {"type": "multiplier", "percent": 200, "on": "lines"},
        {"type": "stamps", "card": "cafe", "count": 1, "per": "quantity"},
        {"type": "reward", "reward": "12"},
        {"type": "tier_points", "points": 10, "per_minor": None},
    ],
    "limits": {"per_member_per_day": 500, "budget": 100_000},
    "priority": 5,
    "exclusive": True,
    "starts_at": "2026-03-01T00:00:00+01:00",
    "ends_at": "2026-09-01T00:00:00+02:00",
}


def parse(data, mode="points", **extra):
    return parse_rule(data, catalog=catalog(mode, **extra), id=7, version=3)


def refused(data, mode="points", **extra) -> RuleInvalid:
    with pytest.raises(RuleInvalid) as caught:
        parse(data, mode, **extra)
    return caught.value


def with_(**changes):
    data = copy.deepcopy(RICH)
    data.update(changes)
    return data


def test_a_rich_rule_parses_into_the_vocabulary():
    parsed = parse(RICH)
    assert (parsed.id, parsed.version, parsed.name, parsed.event_type, parsed.priority, parsed.exclusive) == (
        7, 3, "Double points le week-end", "purchase", 5, True)
    assert parsed.conditions[0] == Condition(field="weekday", op="in", value=(6, 7))
    assert parsed.conditions[8] == Condition(field="event_count", op="eq", value=3, within_days=30)
    assert parsed.effects[1] == Effect(type="stamps", params={"card": "cafe", "count": 1, "per": "quantity"})
    assert parsed.limits == Limits(per_member_per_day=500, budget=100_000)
    assert parsed.starts_at == dt.datetime(2026, 2, 28, 23, 0, tzinfo=dt.UTC)
    assert parsed.plan is not None


def test_rule_to_json_round_trips():
    parsed = parse(RICH)
    canonical = rule_to_json(parsed)
    assert canonical == RICH
    again = parse(json.loads(json.dumps(canonical)))
    assert again == parsed and rule_to_json(again) == canonical


def test_defaults_are_filled_in_the_canonical_form():
    minimal = {"name": " Bienvenue ", "event": "signup", "effects": [{"type": "fixed_points", "points": 100}]}
    canonical = rule_to_json(parse(minimal))
    assert canonical == {
        "name": "Bienvenue", "event": "signup", "event_name": "", "conditions": [],
        "effects": [{"type": "fixed_points", "points": 100}], "limits": {}, "priority": 0, "exclusive": False,
        "starts_at": None, "ends_at": None,
    }
    per_euro = rule_to_json(parse({"name": "x", "event": "purchase", "effects": [{"type": "points_per_euro", "points": 2}]}))
    assert per_euro["effects"] == [{"type": "points_per_euro", "points": 2, "per_minor": 100, "on": "basket"}]
    reward = parse({"name": "x", "event": "signup", "effects": [{"type": "reward", "reward": 12}]})
    assert reward.effects[0].params == {"reward": "12"}


def test_a_replaced_rule_is_compiled_again():
    parsed = parse(RICH)
    shifted = dataclasses.replace(parsed, conditions=(), effects=(Effect("fixed_points", {"points": 3}),), limits=Limits(),
                                  starts_at=None, ends_at=None)
    assert shifted.plan is None
    assert run(purchase(line()), [shifted]).total("points") == 3


@given(st.fixed_dictionaries({
    "name": st.text(alphabet="abcdéèçà -", min_size=1, max_size=30).filter(lambda s: s.strip()),
    "priority": st.integers(-1000, 1000),
    "exclusive": st.booleans(),
    "points": st.integers(1, 10**6),
    "per_minor": st.integers(1, 10**6),
    "amount": st.lists(st.integers(0, 10**6), min_size=2, max_size=2).map(sorted),
    "weekdays": st.lists(st.integers(1, 7), min_size=1, max_size=7),
    "limit": st.one_of(st.none(), st.integers(1, 10**6)),
}))
def test_round_trip_of_generated_rules(values):
    data = {
        "name": values["name"], "event": "purchase", "priority": values["priority"], "exclusive": values["exclusive"],
        "conditions": [{"field": "amount", "op": "between", "value": values["amount"]},
                       {"field": "weekday", "op": "in", "value": values["weekdays"]}],
        "effects": [{"type": "points_per_euro", "points": values["points"], "per_minor": values["per_minor"], "on": "lines"}],
        "limits": {} if values["limit"] is None else {"per_member_total": values["limit"]},
    }
    parsed = parse(data)
    assert parse(rule_to_json(parsed)) == parsed


# --- refusals ------------------------------------------------------------------------------------

REFUSALS = [
    # (definition, code, field)
    (with_(colour="red"), "rule_unknown_field", "colour"),
    (with_(conditions=[{"field": "amount", "op": "gte", "value": 1, "unit": "€"}]), "rule_unknown_field", "conditions[0].unit"),
    (with_(conditions=[{"field": "basket_size", "op": "gte", "value": 1}]), "rule_unknown_field", "conditions[0].field"),
    (with_(effects=[{"type": "fixed_points", "points": 1, "bonus": True}]), "rule_unknown_field", "effects[0].bonus"),
    (with_(limits={"per_member_per_week": 3}), "rule_unknown_field", "limits.per_member_per_week"),
    (with_(event="dance"), "rule_unknown_event", "event"),
    (with_(event=None), "rule_unknown_event", "event"),
    (with_(conditions=[{"field": "amount", "op": "like", "value": 1}]), "rule_invalid_operator", "conditions[0].op"),
    (with_(conditions=[{"field": "store", "op": "eq", "value": "paris"}]), "rule_invalid_operator", "conditions[0].op"),
    (with_(conditions=[{"field": "member.attribute.newsletter", "op": "gte", "value": True}]), "rule_invalid_operator",
     "conditions[0].op"),
    (with_(conditions=[{"field": "amount", "op": "gte", "value": "12"}]), "rule_invalid_value", "conditions[0].value"),
    (with_(conditions=[{"field": "amount", "op": "gte", "value": -1}]), "rule_invalid_value", "conditions[0].value"),
    (with_(conditions=[{"field": "amount", "op": "between", "value": [500, 100]}]), "rule_invalid_value", "conditions[0].value"),
    (with_(conditions=[{"field": "weekday", "op": "in", "value": [0, 6]}]), "rule_invalid_value", "conditions[0].value[0]"),
    (with_(conditions=[{"field": "weekday", "op": "in", "value": []}]), "rule_invalid_value", "conditions[0].value"),
    (with_(conditions=[{"field": "time", "op": "between", "value": ["25:00", "02:00"]}]), "rule_invalid_value",
     "conditions[0].value[0]"),
    (with_(conditions=[{"field": "date", "op": "between", "value": ["2026-02-30", "2026-03-01"]}]), "rule_invalid_value",
     "conditions[0].value[0]"),
    (with_(conditions=[{"field": "channel", "op": "eq", "value": "phone"}]), "rule_invalid_value", "conditions[0].value"),
    (with_(conditions=[{"field": "first_purchase", "op": "is", "value": "yes"}]), "rule_invalid_value", "conditions[0].value"),
    (with_(conditions=[{"field": "amount", "op": "gte"}]), "rule_invalid_value", "conditions[0].value"),
    (with_(conditions=[{"field": "amount", "op": "gte", "value": 1, "within_days": 30}]), "rule_invalid_value",
     "conditions[0].within_days"),
    (with_(conditions=[{"field": "member.attribute.age", "op": "gte", "value": "old"}]), "rule_invalid_value",
     "conditions[0].value"),
    (with_(event="custom", event_name=""), "rule_invalid_value", "event_name"),
    (with_(event_name="google_review"), "rule_invalid_value", "event_name"),
    (with_(name=""), "rule_invalid_value", "name"),
    (with_(priority="high"), "rule_invalid_value", "priority"),
    (with_(exclusive="yes"), "rule_invalid_value", "exclusive"),
    (with_(limits={"per_member_per_day": 0}), "rule_invalid_value", "limits.per_member_per_day"),
    (with_(effects=[{"type": "fireworks"}]), "rule_invalid_value", "effects[0].type"),
    (with_(effects=[{"type": "fixed_points"}]), "rule_invalid_value", "effects[0].points"),
    (with_(effects=[{"type": "multiplier", "percent": 50}]), "rule_invalid_value", "effects[0].percent"),
    (with_(effects=[{"type": "points_per_euro", "points": 1, "on": "shelf"}]), "rule_invalid_value", "effects[0].on"),
    (with_(effects=[{"type": "stamps", "card": "cafe"}, {"type": "fixed_points", "points": 5}], limits={"budget": 10}),
     "rule_invalid_value", "limits.budget"),
    (with_(conditions=[{"field": "member.attribute.shoe_size", "op": "eq", "value": 42}]), "rule_unknown_attribute",
     "conditions[0].field"),
    (with_(conditions=[{"field": "store", "op": "in", "value": ["paris", "marseille"]}]), "rule_unknown_reference",
     "conditions[0].value[1]"),
    (with_(conditions=[{"field": "member.tier", "op": "in", "value": ["platinum"]}]), "rule_unknown_reference",
     "conditions[0].value[0]"),
    (with_(effects=[{"type": "stamps", "card": "pizza"}]), "rule_unknown_reference", "effects[0].card"),
    (with_(effects=[{"type": "achievement", "badge": "astronaut"}]), "rule_unknown_reference", "effects[0].badge"),
    (with_(effects=[{"type": "reward", "reward": 99}]), "rule_unknown_reference", "effects[0].reward"),
    (with_(effects=[{"type": "cashback_percent", "basis_points": 500}]), "rule_effect_currency_mode", "effects[0].type"),
    (with_(effects=[{"type": "fixed_cashback", "amount_minor": 500}]), "rule_effect_currency_mode", "effects[0].type"),
    (with_(effects=[]), "rule_no_effect", "effects"),
    ({"name": "x", "event": "purchase"}, "rule_no_effect", "effects"),
    (with_(starts_at="2026-03-01T00:00:00"), "rule_invalid_dates", "starts_at"),
    (with_(ends_at="next summer"), "rule_invalid_dates", "ends_at"),
    (with_(starts_at="2026-09-01T00:00:00+02:00", ends_at="2026-03-01T00:00:00+01:00"), "rule_invalid_dates", "ends_at"),
]


@pytest.mark.parametrize(("data", "code", "field"), REFUSALS, ids=[f"{code}:{field}" for _, code, field in REFUSALS])
def test_bad_rules_are_refused_with_a_code_and_the_field(data, code, field):
    error = refused(data)
    assert (error.code, error.field) == (code, field)
    assert error.detail.endswith(".") and len(error.detail) > 15  # a sentence the API can show
    problem = error.as_problem()
    assert problem["status"] == 422 and problem["code"] == code and problem["field"] == field


def test_points_effects_are_refused_in_cashback_mode():
    error = refused({"name": "x", "event": "purchase", "effects": [{"type": "points_per_euro", "points": 2}]}, mode="cashback")
    assert error.code == "rule_effect_currency_mode"
    assert "points mode" in error.detail and "cashback mode" in error.detail
    cashback = parse({"name": "x", "event": "purchase", "effects": [{"type": "cashback_percent", "basis_points": 300}]}, mode="cashback")
    assert cashback.effects[0].params == {"basis_points": 300, "on": "basket"}


def test_the_catalog_may_leave_references_unchecked():
    loose = Catalog(currency_mode="points")
    parsed = parse_rule({
        "name": "x", "event": "purchase", "conditions": [{"field": "store", "op": "in", "value": ["anywhere"]}],
        "effects": [{"type": "stamps", "card": "any"}, {"type": "reward", "reward": "5"}],
    }, catalog=loose)
    assert parsed.conditions[0].value == ("anywhere",)
    with pytest.raises(RuleInvalid) as caught:  # attributes are always checked against the declared ones
        parse_rule({"name": "x", "event": "purchase", "conditions": [{"field": "member.attribute.age", "op": "gte", "value": 1}],
                    "effects": [{"type": "fixed_points", "points": 1}]}, catalog=loose)
    assert caught.value.code == "rule_unknown_attribute"


def test_a_custom_event_rule_needs_its_name():
    parsed = parse({"name": "Avis Google", "event": "custom", "event_name": "google_review",
                    "effects": [{"type": "fixed_points", "points": 20}]})
    assert (parsed.event_type, parsed.event_name) == ("custom", "google_review")


def test_not_a_mapping_is_refused():
    with pytest.raises(RuleInvalid) as caught:
        parse_rule(["name"], catalog=catalog())
    assert caught.value.code == "rule_invalid_value"


def test_rule_invalid_is_a_validation_failure():
    assert issubclass(RuleInvalid, ValidationFailed)


def test_the_engine_imports_nothing_from_django():
    code = "import sys, fidelo.rules.engine; print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": ":".join(sys.path)})
    assert out.stdout.strip() == "[]"
