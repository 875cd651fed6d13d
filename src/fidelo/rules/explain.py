"""Why an award was given (or a rule did not fire), in words a member or a merchant can read.

The engine returns Why(code, params) with plain JSON params; the ledger stores them and the
history renders them here, in the reader's language. Amounts in cents render as money.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils import formats
from django.utils.dates import MONTHS, WEEKDAYS
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from fidelo.core.money import format_money

ON_LINES = "lines"

AWARDS = {
    "rule_points_per_euro": _("Rule “%(rule)s”: %(points)s points per %(per)s spent"),
    "rule_points_per_euro:lines": _("Rule “%(rule)s”: %(points)s points per %(per)s spent on eligible items"),
    "rule_fixed_points": _("Rule “%(rule)s”: %(points)s bonus points"),
    "rule_multiplier": _("Rule “%(rule)s”: points ×%(factor)s"),
    "rule_multiplier:lines": _("Rule “%(rule)s”: points ×%(factor)s on eligible items"),
    "rule_cashback_percent": _("Rule “%(rule)s”: %(percent)s cashback"),
    "rule_cashback_percent:lines": _("Rule “%(rule)s”: %(percent)s cashback on eligible items"),
    "rule_fixed_cashback": _("Rule “%(rule)s”: %(amount)s cashback bonus"),
    "rule_stamps": _("Rule “%(rule)s”: %(count)s stamp(s) on the card “%(card)s”"),
    "rule_stamps:quantity": _("Rule “%(rule)s”: %(count)s stamp(s) per item on the card “%(card)s”"),
    "rule_achievement": _("Rule “%(rule)s”: badge “%(badge)s” earned"),
    "rule_reward": _("Rule “%(rule)s”: a reward was issued"),
    "rule_reward:label": _("Rule “%(rule)s”: reward “%(label)s” issued"),
    "rule_tier_points": _("Rule “%(rule)s”: %(points)s tier points"),
    "rule_tier_points:per": _("Rule “%(rule)s”: %(points)s tier points per %(per)s spent"),
    "tier_multiplier": _("Tier “%(tier)s” benefit: points ×%(factor)s"),
}
SKIPS = {
    "condition_failed": _("Condition not met: %(condition)s (here: %(actual)s)"),
    "limit_reached": _("Rule “%(rule)s”: %(limit)s reached (%(value)s)"),
    "exclusive_rule_won": _("Rule “%(rule)s” not applied: the exclusive rule “%(winner)s” applied first"),
    "rule_not_started": _("Rule “%(rule)s” starts on %(starts_at)s"),
    "rule_ended": _("Rule “%(rule)s” ended on %(ends_at)s"),
    "nothing_to_award": _("Rule “%(rule)s”: conditions met, but nothing to award for this event"),
}
CAPPED = _("%(text)s (reduced by the rule's %(limit)s)")
LIMITS = {
    "per_member_per_day": _("daily cap per member"),
    "per_member_per_month": _("monthly cap per member"),
    "per_member_total": _("total cap per member"),
    "budget": _("budget"),
    "campaign_budget": _("campaign's budget"),
}
FIELDS = {
    "store": _("the store"),
    "channel": _("the channel"),
    "amount": _("the basket amount"),
    "line.sku": _("the SKU of an item"),
    "line.category": _("the category of an item"),
    "line.brand": _("the brand of an item"),
    "line.amount": _("the amount of an item"),
    "matching_amount": _("the amount of the eligible items"),
    "date": _("the date"),
    "weekday": _("the day of the week"),
    "time": _("the time"),
    "month": _("the month"),
    "member.tier": _("the member's tier"),
    "member.interests": _("the member's interests"),
    "member.birthday_month": _("the member's birthday month"),
    "first_purchase": _("the first purchase"),
    "event_count": _("the number of events"),
    "streak_months": _("the number of consecutive months"),
    "membership_years": _("the years of membership"),
}
EVENT_COUNT_WITHIN = _("the number of events in %(days)s days")
MEMBER_ATTRIBUTE = _("the member attribute “%(key)s”")
EVENT_ATTRIBUTE = _("the event field “%(key)s”")
# One sentence per operator, so that each language orders the words its own way.
OPERATORS = {
    "eq": _("%(field)s is %(expected)s"),
    "ne": _("%(field)s is not %(expected)s"),
    "in": _("%(field)s is one of %(expected)s"),
    "not_in": _("%(field)s is none of %(expected)s"),
    "gt": _("%(field)s is more than %(expected)s"),
    "gte": _("%(field)s is at least %(expected)s"),
    "lt": _("%(field)s is less than %(expected)s"),
    "lte": _("%(field)s is at most %(expected)s"),
    "between": _("%(field)s is between %(expected)s"),
    "contains": _("%(field)s contains %(expected)s"),
    "is": _("%(field)s: %(expected)s"),
    "multiple_of": _("%(field)s is a multiple of %(expected)s"),
}
BETWEEN = _("%(low)s and %(high)s")
YES, NO, NO_TIER, ONLINE, OFFLINE = _("yes"), _("no"), _("(no tier)"), _("online"), _("in store")
MONEY_FIELDS = frozenset({"amount", "line.amount", "matching_amount"})


class _Defaulting(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _french() -> bool:
    return (get_language() or "fr").startswith("fr")


def _decimal(hundredths: int) -> str:
    """150 -> "1.5" (or "1,5" in French): integers only."""
    whole, rest = divmod(int(hundredths), 100)
    if not rest:
        return str(whole)
    return f"{whole}{',' if _french() else '.'}{f'{rest:02d}'.rstrip('0')}"


def _percent(basis_points: int) -> str:
    number = _decimal(int(basis_points))
    return f"{number}\u00a0%" if _french() else f"{number}%"


def _date(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return formats.date_format(value, "DATE_FORMAT")
    return str(value)


def _field(name: str, params: Mapping[str, Any]) -> str:
    if name.startswith("member.attribute."):
        return str(MEMBER_ATTRIBUTE) % {"key": name[len("member.attribute."):]}
    if name.startswith("event.attribute."):
        return str(EVENT_ATTRIBUTE) % {"key": name[len("event.attribute."):]}
    if name == "event_count" and params.get("within_days"):
        return str(EVENT_COUNT_WITHIN) % {"days": params["within_days"]}
    return str(FIELDS.get(name, name))


def _value(name: str, value: Any, currency: str) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(name, item, currency) for item in value) if value else "—"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(YES if value else NO)
    if name in MONEY_FIELDS and isinstance(value, int):
        return format_money(value, currency)
    if name == "weekday" and isinstance(value, int) and 1 <= value <= 7:
        return str(WEEKDAYS[value - 1])
    if name == "month" and isinstance(value, int) and 1 <= value <= 12:
        return str(MONTHS[value])
    if name == "member.tier" and value == "":
        return str(NO_TIER)
    if name == "channel":
        return str({"online": ONLINE, "offline": OFFLINE}.get(value, value))
    if name == "date":
        return _date(value)
    return str(value)


def _condition(params: Mapping[str, Any], currency: str) -> dict[str, Any]:
    name, op = str(params.get("field", "")), str(params.get("op", ""))
    expected = params.get("expected")
    if op == "between" and isinstance(expected, (list, tuple)) and len(expected) == 2:
        shown = str(BETWEEN) % {"low": _value(name, expected[0], currency), "high": _value(name, expected[1], currency)}
    else:
        shown = _value(name, expected, currency)
    template = OPERATORS.get(op)
    field = _field(name, params)
    condition = str(template) % {"field": field, "expected": shown} if template else f"{field} {op} {shown}"
    return {"condition": condition, "actual": _value(name, params.get("actual"), currency)}


def explain(why: Any, *, currency: str = "EUR") -> str:
    """Render an engine Why (or its stored form {"code": ..., "params": ...}) in the active language."""
    if isinstance(why, Mapping):
        code, params = str(why.get("code", "")), dict(why.get("params") or {})
    else:
        code, params = why.code, dict(why.params)
    values = _Defaulting(params)
    if code == "condition_failed":
        values.update(_condition(params, currency))
        template = SKIPS[code]
    elif code in SKIPS:
        template = SKIPS[code]
        if code == "limit_reached":
            values["limit"] = str(LIMITS.get(params.get("limit"), params.get("limit")))
            if params.get("limit") == "budget" and params.get("currency_mode") == "cashback":
                values["value"] = format_money(int(params.get("value", 0)), currency)
        for key in ("starts_at", "ends_at"):
            if key in params:
                values[key] = _date(params[key])
    elif code in AWARDS:
        variant = {
            "rule_points_per_euro": "lines" if params.get("on") == ON_LINES else "",
            "rule_multiplier": "lines" if params.get("on") == ON_LINES else "",
            "rule_cashback_percent": "lines" if params.get("on") == ON_LINES else "",
            "rule_stamps": "quantity" if params.get("per") == "quantity" else "",
            "rule_reward": "label" if params.get("label") else "",
            "rule_tier_points": "per" if params.get("per_minor") else "",
        }.get(code, "")
        template = AWARDS[f"{code}:{variant}" if variant else code]
        if params.get("per_minor"):
            values["per"] = format_money(int(params["per_minor"]), currency)
        if "amount_minor" in params:
            values["amount"] = format_money(int(params["amount_minor"]), currency)
        if "percent" in params:
            values["factor"] = _decimal(int(params["percent"]))
        if "basis_points" in params:
            values["percent"] = _percent(int(params["basis_points"]))
        if "label_en" in params and not _french():
            values["label"] = params["label_en"]
    else:
        return code
    try:
        text = str(template) % values
    except (TypeError, ValueError):
        return code
    if params.get("capped_by"):
        text = str(CAPPED) % {"text": text, "limit": str(LIMITS.get(params["capped_by"], params["capped_by"]))}
    return text
