"""Rule definitions: the JSON the API and the back-office form send, validated into a Rule.

parse_rule(data, catalog=...) checks every key and value (no eval, no code from users: only
the structured conditions and effects listed here) and returns the frozen Rule with its
compiled plan; rule_to_json(rule) gives back the canonical definition, so that
parse_rule(rule_to_json(rule)) == rule. See docs/rules.md for the format with examples.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fidelo.rules.engine.compile import compile_rule
from fidelo.rules.engine.errors import RuleInvalid
from fidelo.rules.engine.types import (
    CUSTOM,
    EVENT_TYPES,
    Condition,
    Effect,
    Limits,
    Rule,
)


@dataclass(frozen=True)
class Catalog:
    """What a rule may refer to in this program. A None set means "do not check"."""

    currency_mode: str = "points"  # "points" or "cashback"
    attributes: Mapping[str, str] = field(default_factory=dict)  # declared key -> "string"|"number"|"boolean"|"date"
    stores: frozenset[str] | None = None
    tiers: frozenset[str] | None = None
    stamp_cards: frozenset[str] | None = None
    badges: frozenset[str] | None = None
    rewards: frozenset[str] | None = None  # reward ids, as strings
    campaigns: frozenset[str] | None = None  # campaign codes


# --- the vocabulary ------------------------------------------------------------------------

COMPARISONS = ("eq", "gt", "gte", "lt", "lte", "between")
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains", "is", "multiple_of")

# Condition field -> allowed operators. member.attribute.<key> and event.attribute.<key> below.
FIELDS: dict[str, tuple[str, ...]] = {
    "store": ("in", "not_in"),
    "channel": ("eq", "in"),
    "amount": COMPARISONS,
    "line.sku": ("eq", "in", "not_in"),
    "line.category": ("eq", "in", "not_in"),
    "line.brand": ("eq", "in", "not_in"),
    "line.amount": ("gt", "gte", "lt", "lte", "between"),
    "matching_amount": COMPARISONS,
    "date": ("between", "eq", "gte", "lte"),
    "weekday": ("in",),
    "time": ("between",),
    "month": ("in",),
    "member.tier": ("in", "not_in"),
    "member.interests": ("contains", "in"),
    "member.birthday_month": ("is",),
    "first_purchase": ("is",),
    "event_count": ("eq", "gt", "gte", "lt", "lte", "multiple_of"),
    "streak_months": ("eq", "gte"),
    "membership_years": ("eq", "gte", "lte"),
}
LINE_FIELDS = frozenset({"line.sku", "line.category", "line.brand", "line.amount"})
MEMBER_ATTRIBUTE = "member.attribute."
EVENT_ATTRIBUTE = "event.attribute."
ATTRIBUTE_TYPES = ("string", "number", "boolean", "date")
ATTRIBUTE_OPERATORS: dict[str, tuple[str, ...]] = {
    "string": ("eq", "ne", "in", "not_in", "contains"),
    "number": ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"),
    "boolean": ("is",),
    "date": ("eq", "ne", "gt", "gte", "lt", "lte", "between"),
}
EVENT_ATTRIBUTE_OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains", "is")

# Effect type -> (allowed params with their defaults (REQUIRED = must be given), currency mode or None).
REQUIRED = object()
EFFECTS: dict[str, tuple[dict[str, Any], str | None]] = {
    "points_per_euro": ({"points": REQUIRED, "per_minor": 100, "on": "basket"}, "points"),
    "fixed_points": ({"points": REQUIRED}, "points"),
    "multiplier": ({"percent": REQUIRED, "on": "basket"}, None),
    "cashback_percent": ({"basis_points": REQUIRED, "on": "basket"}, "cashback"),
    "fixed_cashback": ({"amount_minor": REQUIRED}, "cashback"),
    "stamps": ({"card": REQUIRED, "count": 1, "per": "event"}, None),
    "achievement": ({"badge": REQUIRED}, None),
    "reward": ({"reward": REQUIRED}, None),
    "tier_points": ({"points": REQUIRED, "per_minor": None}, None),
}
POINTS_EFFECTS = frozenset({"points_per_euro", "fixed_points", "multiplier", "cashback_percent", "fixed_cashback"})
LIMIT_KEYS = ("per_member_per_day", "per_member_per_month", "per_member_total", "budget")
TOP_KEYS = frozenset({"name", "event", "event_name", "conditions", "effects", "limits", "priority", "exclusive", "starts_at", "ends_at",
                      "campaign"})
MAX_AMOUNT = 10**11  # cents: one billion euros
MAX_COUNT = 10**9
MAX_TEXT = 200


# --- small checks --------------------------------------------------------------------------


def _fail(code: str, path: str, message: str) -> RuleInvalid:
    return RuleInvalid(message, code=code, field=path)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: Any, path: str, *, low: int = 0, high: int = MAX_COUNT) -> int:
    if not _is_int(value) or not low <= value <= high:
        raise _fail("rule_invalid_value", path, f"Expected a whole number from {low} to {high}.")
    return value


def _text(value: Any, path: str, what: str = "a text") -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise _fail("rule_invalid_value", path, f"Expected {what} (1 to {MAX_TEXT} characters).")
    return value.strip()


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail("rule_invalid_value", path, "Expected true or false.")
    return value


def _list(value: Any, path: str, item) -> tuple:
    if not isinstance(value, (list, tuple)) or not value:
        raise _fail("rule_invalid_value", path, "Expected a non-empty list.")
    if len(value) > 1000:
        raise _fail("rule_invalid_value", path, "Too many values (at most 1000).")
    return tuple(item(element, f"{path}[{index}]") for index, element in enumerate(value))


def _pair(value: Any, path: str, item) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise _fail("rule_invalid_value", path, "Expected a list of two values: [from, to].")
    low, high = item(value[0], f"{path}[0]"), item(value[1], f"{path}[1]")
    try:
        ordered = low <= high
    except TypeError:
        ordered = False
    if not ordered:
        raise _fail("rule_invalid_value", path, "The first value must not be greater than the second.")
    return (low, high)


def _reference(code: str, known: frozenset[str] | None, path: str, what: str) -> str:
    if known is not None and code not in known:
        raise _fail("rule_unknown_reference", path, f"Unknown {what}: “{code}”.")
    return code


def _keys(data: Any, allowed: frozenset[str] | set[str] | dict, path: str) -> None:
    if not isinstance(data, Mapping):
        raise _fail("rule_invalid_value", path or "(rule)", "Expected an object.")
    for key in data:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise _fail("rule_unknown_field", where, f"Unknown field “{key}”.")


def _iso_date(value: Any, path: str) -> str:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise _fail("rule_invalid_value", path, "Expected a date as YYYY-MM-DD.")


def _clock(value: Any, path: str) -> str:
    if isinstance(value, str) and len(value) == 5 and value[2] == ":" and value[:2].isdigit() and value[3:].isdigit():
        hours, minutes = int(value[:2]), int(value[3:])
        if hours < 24 and minutes < 60:
            return value
    raise _fail("rule_invalid_value", path, "Expected a time of day as HH:MM (00:00 to 23:59).")


def _scalar(value: Any, path: str) -> Any:
    if isinstance(value, bool) or _is_int(value) or (isinstance(value, str) and len(value) <= MAX_TEXT):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise _fail("rule_invalid_value", path, "Expected a text, a number or true/false.")


def _number(value: Any, path: str) -> int | float:
    if (_is_int(value) or isinstance(value, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail("rule_invalid_value", path, "Expected a number.")
        return value
    raise _fail("rule_invalid_value", path, "Expected a number.")


def _datetime(value: Any, path: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _fail("rule_invalid_dates", path, "Expected a date and time in ISO 8601 with an offset, e.g. 2026-06-01T00:00:00+02:00.") from None
    else:
        raise _fail("rule_invalid_dates", path, "Expected a date and time in ISO 8601 with an offset, or null.")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _fail("rule_invalid_dates", path, "The date and time needs an offset (e.g. +02:00 or Z).")
    return moment


# --- conditions ----------------------------------------------------------------------------


def _compared(op: str, value: Any, path: str, item) -> Any:
    return _pair(value, path, item) if op == "between" else item(value, path)


def _condition_value(name: str, op: str, value: Any, path: str, catalog: Catalog) -> Any:
    amount = lambda v, p: _int(v, p, high=MAX_AMOUNT)
    if name == "store":
        return _list(value, path, lambda v, p: _reference(_text(v, p, "a store code"), catalog.stores, p, "store"))
    if name == "channel":
        def channel(v: Any, p: str) -> str:
            if v not in ("online", "offline"):
                raise _fail("rule_invalid_value", p, "Expected “online” or “offline”.")
            return v
        return _list(value, path, channel) if op == "in" else channel(value, path)
    if name in ("amount", "matching_amount", "line.amount"):
        return _compared(op, value, path, amount)
    if name in ("line.sku", "line.category", "line.brand"):
        return _list(value, path, _text) if op in ("in", "not_in") else _text(value, path)
    if name == "date":
        return _compared(op, value, path, _iso_date)
    if name == "weekday":
        return _list(value, path, lambda v, p: _int(v, p, low=1, high=7))
    if name == "month":
        return _list(value, path, lambda v, p: _int(v, p, low=1, high=12))
    if name == "time":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise _fail("rule_invalid_value", path, "Expected [\"HH:MM\", \"HH:MM\"] (start included, end excluded).")
        start, end = _clock(value[0], f"{path}[0]"), _clock(value[1], f"{path}[1]")
        if start == end:
            raise _fail("rule_invalid_value", path, "The start and the end of the time range must differ.")
        return (start, end)
    if name == "member.tier":
        def tier(v: Any, p: str) -> str:
            if v == "":
                return ""  # no tier
            return _reference(_text(v, p, "a tier code"), catalog.tiers, p, "tier")
        return _list(value, path, tier)
    if name == "member.interests":
        return _list(value, path, _text) if op == "in" else _text(value, path)
    if name in ("member.birthday_month", "first_purchase"):
        return _bool(value, path)
    if name in ("event_count", "streak_months"):
        return _int(value, path, low=1)
    if name == "membership_years":
        return _int(value, path, low=0, high=200)
    raise AssertionError(name)  # pragma: no cover


def _attribute_value(kind: str, op: str, value: Any, path: str) -> Any:
    item = {"string": _text, "number": _number, "date": _iso_date, "boolean": _bool}[kind]
    if op in ("in", "not_in"):
        return _list(value, path, item)
    if op == "between":
        return _pair(value, path, item)
    if op == "contains":
        return _text(value, path)
    return item(value, path)


def _event_attribute_value(op: str, value: Any, path: str) -> Any:
    if op in ("in", "not_in"):
        return _list(value, path, _scalar)
    if op == "between":
        return _pair(value, path, _scalar)
    if op == "contains":
        return _text(value, path)
    if op == "is":
        return _bool(value, path)
    if op in ("gt", "gte", "lt", "lte"):
        if isinstance(value, str):
            return _text(value, path)
        return _number(value, path)
    return _scalar(value, path)


def _condition(data: Any, path: str, catalog: Catalog) -> Condition:
    _keys(data, {"field", "op", "value", "within_days"}, path)
    for key in ("field", "op", "value"):
        if key not in data:
            raise _fail("rule_invalid_value", f"{path}.{key}", f"The condition needs “{key}”.")
    name, op, value = data["field"], data["op"], data["value"]
    if not isinstance(name, str):
        raise _fail("rule_unknown_field", f"{path}.field", "Expected a condition field name.")
    if not isinstance(op, str) or op not in OPERATORS:
        raise _fail("rule_invalid_operator", f"{path}.op", f"Unknown operator “{op}”. Known: {', '.join(OPERATORS)}.")
    value_path = f"{path}.value"
    within_days = data.get("within_days")
    if within_days is not None:
        if name != "event_count":
            raise _fail("rule_invalid_value", f"{path}.within_days", "“within_days” only goes with the field “event_count”.")
        within_days = _int(within_days, f"{path}.within_days", low=1, high=3660)
    if name.startswith(MEMBER_ATTRIBUTE):
        key = name[len(MEMBER_ATTRIBUTE):]
        kind = catalog.attributes.get(key)
        if kind is None:
            raise _fail("rule_unknown_attribute", f"{path}.field", f"The program declares no member attribute “{key}”.")
        if kind not in ATTRIBUTE_OPERATORS:
            raise _fail("rule_unknown_attribute", f"{path}.field", f"The member attribute “{key}” has an unknown type “{kind}”.")
        allowed = ATTRIBUTE_OPERATORS[kind]
        if op not in allowed:
            raise _fail("rule_invalid_operator", f"{path}.op", f"“{op}” does not apply to the {kind} attribute “{key}”. Use one of: {', '.join(allowed)}.")
        return Condition(field=name, op=op, value=_attribute_value(kind, op, value, value_path))
    if name.startswith(EVENT_ATTRIBUTE):
        key = name[len(EVENT_ATTRIBUTE):]
        if not key or len(key) > MAX_TEXT:
            raise _fail("rule_unknown_field", f"{path}.field", "Expected event.attribute.<key> with a key.")
        if op not in EVENT_ATTRIBUTE_OPERATORS:
            raise _fail("rule_invalid_operator", f"{path}.op", f"“{op}” does not apply to an event attribute. Use one of: {', '.join(EVENT_ATTRIBUTE_OPERATORS)}.")
        return Condition(field=name, op=op, value=_event_attribute_value(op, value, value_path))
    allowed = FIELDS.get(name)
    if allowed is None:
        raise _fail("rule_unknown_field", f"{path}.field", f"Unknown condition field “{name}”.")
    if op not in allowed:
        raise _fail("rule_invalid_operator", f"{path}.op", f"“{op}” does not apply to “{name}”. Use one of: {', '.join(allowed)}.")
    return Condition(field=name, op=op, value=_condition_value(name, op, value, value_path, catalog), within_days=within_days)


# --- effects -------------------------------------------------------------------------------


def _choice(value: Any, path: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _fail("rule_invalid_value", path, f"Expected one of: {', '.join(choices)}.")
    return value


def _effect(data: Any, path: str, catalog: Catalog) -> Effect:
    if not isinstance(data, Mapping):
        raise _fail("rule_invalid_value", path, "Expected an object.")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in EFFECTS:
        raise _fail("rule_invalid_value", f"{path}.type", f"Unknown effect type “{kind}”. Known: {', '.join(EFFECTS)}.")
    defaults, mode = EFFECTS[kind]
    _keys(data, {"type", *defaults}, path)
    if mode is not None and catalog.currency_mode != mode:
        raise _fail(
            "rule_effect_currency_mode", f"{path}.type",
            f"The effect “{kind}” needs a program in {mode} mode; this program is in {catalog.currency_mode} mode.",
        )
    params: dict[str, Any] = {}
    for key, default in defaults.items():
        if key not in data or (data[key] is None and default is not REQUIRED):
            if default is REQUIRED:
                raise _fail("rule_invalid_value", f"{path}.{key}", f"The effect “{kind}” needs “{key}”.")
            params[key] = default
            continue
        value, where = data[key], f"{path}.{key}"
        if key in ("points", "count"):
            params[key] = _int(value, where, low=1)
        elif key == "per_minor" or key == "amount_minor":
            params[key] = _int(value, where, low=1, high=MAX_AMOUNT)
        elif key == "percent":
            params[key] = _int(value, where, low=101, high=100_000)
        elif key == "basis_points":
            params[key] = _int(value, where, low=1, high=10_000)
        elif key == "on":
            params[key] = _choice(value, where, ("basket", "lines"))
        elif key == "per":
            params[key] = _choice(value, where, ("event", "quantity"))
        elif key == "card":
            params[key] = _reference(_text(value, where, "a stamp card code"), catalog.stamp_cards, where, "stamp card")
        elif key == "badge":
            params[key] = _reference(_text(value, where, "a badge code"), catalog.badges, where, "badge")
        elif key == "reward":
            if _is_int(value) and value > 0:
                value = str(value)
            params[key] = _reference(_text(value, where, "a reward id"), catalog.rewards, where, "reward")
        else:  # pragma: no cover
            raise AssertionError(key)
    return Effect(type=kind, params=params)


# --- the rule ------------------------------------------------------------------------------


def parse_rule(data: Mapping[str, Any], *, catalog: Catalog, id: int = 0, version: int = 0) -> Rule:
    """Validate a JSON rule definition and return the Rule (compiled). Raises RuleInvalid."""
    _keys(data, TOP_KEYS, "")
    name = _text(data.get("name"), "name", "a name")
    event = data.get("event")
    if not isinstance(event, str) or event not in EVENT_TYPES:
        raise _fail("rule_unknown_event", "event", f"Unknown event “{event}”. Known: {', '.join(EVENT_TYPES)}.")
    event_name = data.get("event_name") or ""
    if event == CUSTOM:
        event_name = _text(event_name, "event_name", "the custom event's name")
    elif event_name:
        raise _fail("rule_invalid_value", "event_name", "“event_name” is only for custom events.")
    conditions_data = data.get("conditions") or []
    if not isinstance(conditions_data, (list, tuple)):
        raise _fail("rule_invalid_value", "conditions", "Expected a list of conditions.")
    if len(conditions_data) > 50:
        raise _fail("rule_invalid_value", "conditions", "Too many conditions (at most 50).")
    conditions = tuple(_condition(item, f"conditions[{index}]", catalog) for index, item in enumerate(conditions_data))
    effects_data = data.get("effects") or []
    if not isinstance(effects_data, (list, tuple)):
        raise _fail("rule_invalid_value", "effects", "Expected a list of effects.")
    if not effects_data:
        raise _fail("rule_no_effect", "effects", "The rule needs at least one effect.")
    if len(effects_data) > 20:
        raise _fail("rule_invalid_value", "effects", "Too many effects (at most 20).")
    effects = tuple(_effect(item, f"effects[{index}]", catalog) for index, item in enumerate(effects_data))
    limits_data = data.get("limits") or {}
    _keys(limits_data, frozenset(LIMIT_KEYS), "limits")
    limits = Limits(**{
        key: _int(limits_data[key], f"limits.{key}", low=1, high=MAX_AMOUNT)
        for key in LIMIT_KEYS if limits_data.get(key) is not None
    })
    if limits.budget is not None and effects[0].type not in POINTS_EFFECTS:
        raise _fail(
            "rule_invalid_value", "limits.budget",
            "A budget is counted in the program's unit: the rule's first effect must give points or cashback.",
        )
    priority = data.get("priority", 0)
    priority = 0 if priority is None else _int(priority, "priority", low=-1000, high=1000)
    exclusive = _bool(data.get("exclusive", False), "exclusive")
    starts_at = _datetime(data.get("starts_at"), "starts_at")
    ends_at = _datetime(data.get("ends_at"), "ends_at")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise _fail("rule_invalid_dates", "ends_at", "The end must come after the start.")
    campaign = data.get("campaign") or ""
    if campaign:
        campaign = _reference(_text(campaign, "campaign", "a campaign code"), catalog.campaigns, "campaign", "campaign")
    rule = Rule(
        id=id, version=version, name=name, event_type=event, event_name=event_name, conditions=conditions,
        effects=effects, limits=limits, priority=priority, exclusive=exclusive, starts_at=starts_at, ends_at=ends_at,
        campaign=campaign,
    )
    compile_rule(rule)
    return rule


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list, frozenset, set)):
        return [_plain(item) for item in value]
    return value


def rule_to_json(rule: Rule) -> dict[str, Any]:
    """The canonical definition of a rule (what parse_rule accepts and the database stores)."""
    conditions = []
    for condition in rule.conditions:
        item = {"field": condition.field, "op": condition.op, "value": _plain(condition.value)}
        if condition.within_days is not None:
            item["within_days"] = condition.within_days
        conditions.append(item)
    return {
        "name": rule.name,
        "event": rule.event_type,
        "event_name": rule.event_name,
        "conditions": conditions,
        "effects": [{"type": effect.type, **{key: _plain(value) for key, value in effect.params.items()}} for effect in rule.effects],
        "limits": {key: getattr(rule.limits, key) for key in LIMIT_KEYS if getattr(rule.limits, key) is not None},
        "priority": rule.priority,
        "exclusive": rule.exclusive,
        "starts_at": rule.starts_at.isoformat() if rule.starts_at else None,
        "ends_at": rule.ends_at.isoformat() if rule.ends_at else None,
        **({"campaign": rule.campaign} if rule.campaign else {}),
    }
