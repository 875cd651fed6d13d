"""Builders shared by the engine tests (no test here): rules from definitions, events, facts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from fidelo.rules.engine import Catalog, evaluate, parse_rule
from fidelo.rules.engine.types import (
    Evaluation,
    Event,
    Line,
    MemberFacts,
    ProgramTerms,
    Rule,
    Usage,
)

UTC = dt.UTC
PARIS = "Europe/Paris"
ATTRIBUTES = {"favorite_drink": "string", "age": "number", "newsletter": "boolean", "contract_end": "date"}


def catalog(mode: str = "points", **extra: Any) -> Catalog:
    values: dict[str, Any] = {
        "currency_mode": mode, "attributes": ATTRIBUTES, "stores": frozenset({"paris", "lyon", "web"}),
        "tiers": frozenset({"silver", "gold"}), "stamp_cards": frozenset({"cafe", "yoga"}),
        "badges": frozenset({"first_visit", "loyal"}), "rewards": frozenset({"12", "13"}),
    }
    values.update(extra)
    return Catalog(**values)


def rule(
    conditions: Sequence[Mapping[str, Any]] = (),
    effects: Sequence[Mapping[str, Any]] = ({"type": "fixed_points", "points": 10},),
    *, id: int = 1, event: str = "purchase", mode: str = "points", name: str | None = None, **extra: Any,
) -> Rule:
    data = {"name": name or f"rule {id}", "event": event, "conditions": list(conditions), "effects": list(effects), **extra}
    return parse_rule(data, catalog=catalog(mode), id=id, version=1)


def cond(field: str, op: str, value: Any, **extra: Any) -> dict[str, Any]:
    """A condition as a rule definition writes it."""
    return {"field": field, "op": op, "value": value, **extra}


def line(sku: str = "SKU", amount: int = 1000, *, category: str = "", brand: str = "", quantity: int = 1, position: int = 1) -> Line:
    return Line(position=position, sku=sku, category=category, brand=brand, quantity=quantity, amount_minor=amount)


def purchase(
    *lines: Line, at: dt.datetime = dt.datetime(2026, 3, 11, 10, 0, tzinfo=UTC), store: str | None = "paris",
    channel: str | None = "offline", amount: int | None = None, **extra: Any,
) -> Event:
    numbered = tuple(Line(position=i + 1, sku=ln.sku, category=ln.category, brand=ln.brand, quantity=ln.quantity,
                          amount_minor=ln.amount_minor) for i, ln in enumerate(lines))
    total = amount if amount is not None else sum(ln.amount_minor for ln in numbered)
    return Event(type="purchase", occurred_at=at, store=store, channel=channel, amount_minor=total, lines=numbered, **extra)


def member(**extra: Any) -> MemberFacts:
    values: dict[str, Any] = {"enrolled_at": dt.datetime(2024, 5, 10, 9, 0, tzinfo=UTC)}
    values.update(extra)
    return MemberFacts(**values)


def terms(event: Event | None = None, *, mode: str = "points", rounding: str = "down", base_units: int | None = None,
          base_line_units: tuple[int, ...] | None = None, timezone: str = PARIS) -> ProgramTerms:
    """The base rate of 1 unit per euro (rounded down) unless told otherwise."""
    if base_units is None:
        base_units = event.amount_minor // 100 if event is not None else 0
    if base_line_units is None:
        base_line_units = tuple(ln.amount_minor // 100 for ln in event.lines) if event is not None else ()
    return ProgramTerms(currency_mode=mode, timezone=timezone, rounding=rounding, base_units=base_units,
                        base_line_units=base_line_units)


def run(event: Event, rules: Sequence[Rule], *, facts: MemberFacts | None = None, program: ProgramTerms | None = None,
        usage: Mapping[int, Usage] | None = None, explain: bool = True) -> Evaluation:
    return evaluate(event, facts or member(), program or terms(event), rules, usage or {}, explain=explain)


def fires(the_rule: Rule, event: Event, facts: MemberFacts | None = None, program: ProgramTerms | None = None) -> bool:
    result = run(event, [the_rule], facts=facts, program=program)
    fired = any(award.rule_id == the_rule.id for award in result.awards)
    assert fired != any(skip.rule_id == the_rule.id for skip in result.skipped)  # exactly one of the two
    return fired


def paris(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    """A moment given in Paris local time (aware)."""
    from zoneinfo import ZoneInfo

    return dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(PARIS))
