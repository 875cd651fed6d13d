"""Rules compiled into plain closures once, so that evaluation does no parsing and no lookups.

A Plan holds, for one rule, its conditions as checks over an evaluation Context (the event
with its local time computed once per evaluation), its line conditions as predicates over
one line, and its effects as producers of award drafts. Nothing here validates: parse_rule
does that before compiling; a Rule built by hand is trusted.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable
from itertools import compress
from operator import attrgetter
from typing import Any

from fidelo.rules.engine.arith import allocate, divide
from fidelo.rules.engine.types import (
    ACHIEVEMENT,
    CUSTOM,
    POINTS,
    REWARD,
    STAMPS,
    TIER_POINTS,
    Condition,
    Effect,
    Event,
    Line,
    MemberFacts,
    ProgramTerms,
    Rule,
)

LINE_FIELDS = frozenset({"line.sku", "line.category", "line.brand", "line.amount"})
EFFECT_KINDS = {
    "points_per_euro": POINTS, "fixed_points": POINTS, "multiplier": POINTS, "cashback_percent": POINTS,
    "fixed_cashback": POINTS, "stamps": STAMPS, "achievement": ACHIEVEMENT, "reward": REWARD, "tier_points": TIER_POINTS,
}


@functools.lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def counter_key(event_type: str, event_name: str = "") -> str:
    """The key of MemberFacts.counts / counts_within / streak_months for an event type."""
    return f"custom:{event_name}" if event_type == CUSTOM else event_type


class Context:
    """One evaluation's inputs, with what every rule may ask computed once."""

    __slots__ = ("_line_amounts", "_line_units", "_line_values", "all_lines", "date", "event", "line_shares", "lines", "local", "member", "minute",
                 "month", "terms", "weekday")

    def __init__(self, event: Event, member: MemberFacts, terms: ProgramTerms) -> None:
        if event.occurred_at.tzinfo is None:
            raise ValueError("Event.occurred_at must be timezone-aware")
        self.event = event
        self.member = member
        self.terms = terms
        local = event.occurred_at.astimezone(zone(terms.timezone))
        self.local = local
        self.date = local.date()
        self.weekday = local.isoweekday()
        self.minute = local.hour * 60 + local.minute
        self.month = local.month
        self.lines = event.lines
        self.all_lines = list(range(len(event.lines)))  # read only
        self._line_units: tuple[int, ...] | None = None
        self._line_amounts: tuple[int, ...] | None = None
        self._line_values: dict[str, tuple[Any, ...]] = {}
        # Whether a line-based points effect shares its award among the lines (Award.line_amounts):
        # evaluate's loop without explanations turns it off for a rule whose award is not counted.
        self.line_shares = True

    def line_values(self, attribute: str) -> tuple[Any, ...]:
        """Each line's value of a line attribute (sku, category, brand), in line order, read once."""
        values = self._line_values.get(attribute)
        if values is None:
            values = self._line_values[attribute] = tuple(map(LINE_VALUE[attribute], self.lines))
        return values

    def line_units(self) -> tuple[int, ...]:
        """The base units of each line: ProgramTerms.base_line_units, or the base units shared by amount."""
        if self._line_units is None:
            given = self.terms.base_line_units
            if len(given) == len(self.lines):
                self._line_units = tuple(given)
            else:
                self._line_units = allocate(self.terms.base_units, self.line_amounts())
        return self._line_units

    def line_amounts(self) -> tuple[int, ...]:
        """Each line's amount, a negative one read as 0 (what line offers share), computed once."""
        if self._line_amounts is None:
            self._line_amounts = tuple(max(0, line.amount_minor) for line in self.lines)
        return self._line_amounts


# A draft award: kind, target, amount, line amounts, why code, why params (without the rule's name).
Draft = tuple[str, str, int, tuple[int, ...], str, dict[str, Any]]


# The condition fields that read the member's facts, besides "member.*" (the others read the event alone).
MEMBER_FIELDS = frozenset({"first_purchase", "event_count", "streak_months", "membership_years"})


def reads_member(field: str) -> bool:
    return field in MEMBER_FIELDS or field.startswith("member.")


class Plan:
    __slots__ = ("effects", "event_lookup", "event_steps", "key", "line_conditions", "line_lookup", "line_predicates", "lookup_set", "main", "only_check",
                 "steps", "uses_lines")

    def __init__(self, steps, line_conditions, line_predicates, effects, main, key, uses_lines=True, line_lookup=None) -> None:
        self.uses_lines: bool = uses_lines  # whether an effect reads the matching lines
        self.steps: tuple[tuple[Condition, int, Callable], ...] = steps  # kind: 0 context check, 1 line, 2 matching amount
        # The check of a rule whose one condition is on the event's context (the store, the
        # basket, the day, the member…): evaluate calls it without going through first_failing.
        self.only_check: Callable[[Context], bool] | None = steps[0][2] if len(steps) == 1 and steps[0][1] == 0 else None
        self.event_steps = tuple(step for step in steps if not reads_member(step[0].field))  # those on the event alone
        self.line_conditions: tuple[Condition, ...] = line_conditions
        self.line_predicates: tuple[Callable[[Line], bool], ...] = line_predicates
        self.effects: tuple[Callable[[Context, list[int]], Draft | None], ...] = effects
        self.main: tuple[str, str] = main  # the (kind, target) the limits count
        self.key: str = key
        # A line condition "sku / category / brand is (one of) values", answered from the lines'
        # values of that attribute (read once per event) instead of calling a predicate on every
        # line: (attribute, values, the other predicates).
        self.line_lookup: tuple[str, tuple[Any, ...], tuple[Callable[[Line], bool], ...]] | None = line_lookup
        self.lookup_set: frozenset = frozenset(line_lookup[1]) if line_lookup is not None else frozenset()  # its values, to test a line's
        # When the rule's one condition on the event is "a line's sku / category / brand is one of
        # these": (attribute, values), so that event_allows needs no Context (see may_fire).
        self.event_lookup: tuple[str, frozenset] | None = None
        if len(self.event_steps) == 1 and self.event_steps[0][1] == 1 and line_lookup is not None and not line_lookup[2]:
            self.event_lookup = (line_lookup[0], self.lookup_set)

    def matching(self, ctx: Context) -> list[int]:
        """Indexes of the lines that pass every line condition (all lines when there is none)."""
        predicates = self.line_predicates
        if not predicates:
            return ctx.all_lines
        if self.line_lookup is not None:
            attribute, _wanted, others = self.line_lookup  # the wanted values as a set: lookup_set
            held = ctx.line_values(attribute)
            # The positions whose value is wanted, found in C: compress(0, 1, …; is it wanted?).
            candidates = list(compress(range(len(held)), map(self.lookup_set.__contains__, held)))
            if not others:
                return candidates
            lines = ctx.lines
            return [position for position in candidates if all(predicate(lines[position]) for predicate in others)]
        found = []
        for index, line in enumerate(ctx.lines):
            for predicate in predicates:
                if not predicate(line):
                    break
            else:
                found.append(index)
        return found

    def event_allows(self, ctx: Context) -> bool:
        """Whether the conditions on the event alone hold (those on the member are not tested):
        if not, the rule gives nothing for this event, whoever the member. `ctx.member` is not read."""
        return self.first_failing(self.event_steps, ctx, False)[0] is None

    def first_failing(self, steps, ctx: Context, blame: bool) -> tuple[Condition | None, list[int] | None]:
        """The first of `steps` (the plan's own, or its event_steps) whose condition does not hold
        (None if all hold), and the matching lines if computed.

        When no line passes the line conditions, `blame` looks for the one no line meets (what
        an explanation names); without it, the first line condition stands for them all.
        """
        matching = None
        for condition, kind, check in steps:
            if kind == 0:
                if not check(ctx):
                    return condition, matching
                continue
            if matching is None:
                matching = self.matching(ctx)
            if kind == 1:
                if not matching:
                    return (self._blamed_line_condition(ctx) if blame else condition), matching
            elif not check(sum(ctx.lines[index].amount_minor for index in matching)):
                return condition, matching
        return None, matching

    def _blamed_line_condition(self, ctx: Context) -> Condition:
        for condition, predicate in zip(self.line_conditions, self.line_predicates):
            if not any(predicate(line) for line in ctx.lines):
                return condition
        return self.line_conditions[0]  # each holds on some line, but no line passes them all


# --- comparisons ---------------------------------------------------------------------------


def comparison(op: str, value: Any) -> Callable[[Any], bool]:
    if op == "eq" or op == "is":
        return lambda actual: actual == value
    if op == "ne":
        return lambda actual: actual != value
    if op == "in":
        try:
            members = frozenset(value)
        except TypeError:
            members = tuple(value)
        return lambda actual: actual in members
    if op == "not_in":
        try:
            members = frozenset(value)
        except TypeError:
            members = tuple(value)
        return lambda actual: actual not in members
    if op == "gt":
        return lambda actual: actual > value
    if op == "gte":
        return lambda actual: actual >= value
    if op == "lt":
        return lambda actual: actual < value
    if op == "lte":
        return lambda actual: actual <= value
    if op == "between":
        low, high = value
        return lambda actual: low <= actual <= high
    if op == "multiple_of":
        return lambda actual: actual % value == 0
    if op == "contains":
        needle = str(value).casefold()

        def contains(actual: Any) -> bool:
            if isinstance(actual, str):
                return needle in actual.casefold()
            return value in actual  # a list attribute holds the value

        return contains
    raise ValueError(f"unknown operator {op!r}")


def _attribute_check(getter: Callable[[Context], Any], op: str, value: Any) -> Callable[[Context], bool]:
    """A check on a free-form attribute: a missing value passes only ne / not_in; a type mismatch fails."""
    if op == "is":
        expected = bool(value)
        test = lambda actual: isinstance(actual, bool) and actual is expected
    else:
        test = comparison(op, value)
    missing = op in ("ne", "not_in")

    def check(ctx: Context) -> bool:
        actual = getter(ctx)
        if actual is None:
            return missing
        if isinstance(actual, dt.date):
            actual = actual.isoformat()  # date attributes compare as ISO text, like the rule's values
        try:
            return bool(test(actual))
        except (TypeError, AttributeError):
            return False

    return check


def _minutes(clock: str) -> int:
    return int(clock[:2]) * 60 + int(clock[3:])


def membership_years(ctx: Context) -> int:
    enrolled = ctx.member.enrolled_at.astimezone(ctx.local.tzinfo).date()
    today = ctx.date
    return max(0, today.year - enrolled.year - ((today.month, today.day) < (enrolled.month, enrolled.day)))


def event_count(ctx: Context, key: str, within_days: int | None) -> int:
    if within_days is None:
        return ctx.member.counts.get(key, 0) + 1
    return ctx.member.counts_within.get((key, within_days), 0) + 1


# The context fields whose conditions compare one value (eq / in): what they read, shared by
# their checks and by the index that passes over the rules they fail (evaluate._Candidates).
CONTEXT_VALUES: dict[str, Callable[[Context], Any]] = {
    "store": lambda ctx: ctx.event.store,
    "channel": lambda ctx: ctx.event.channel,
    "weekday": lambda ctx: ctx.weekday,
    "month": lambda ctx: ctx.month,
    "member.tier": lambda ctx: ctx.member.tier or "",
}


def _context_check(condition: Condition, key: str) -> Callable[[Context], bool]:
    name, op, value = condition.field, condition.op, condition.value
    test = comparison(op, value)
    read = CONTEXT_VALUES.get(name)
    if read is not None:
        return lambda ctx: test(read(ctx))
    if name == "amount":
        return lambda ctx: test(ctx.event.amount_minor)
    if name == "date":
        if op == "between":
            low, high = (dt.date.fromisoformat(item) for item in value)
            return lambda ctx: low <= ctx.date <= high
        test = comparison(op, dt.date.fromisoformat(value))
        return lambda ctx: test(ctx.date)
    if name == "time":
        start, end = (_minutes(item) for item in value)
        if start < end:
            return lambda ctx: start <= ctx.minute < end
        return lambda ctx: ctx.minute >= start or ctx.minute < end  # wraps past midnight
    if name == "member.interests":
        if op == "contains":
            return lambda ctx: value in ctx.member.interests
        wanted = frozenset(value)
        return lambda ctx: not wanted.isdisjoint(ctx.member.interests)
    if name == "member.birthday_month":
        expected = bool(value)
        return lambda ctx: (ctx.member.birthday is not None and ctx.member.birthday.month == ctx.month) is expected
    if name == "first_purchase":
        expected = bool(value)
        return lambda ctx: (ctx.member.counts.get("purchase", 0) == 0) is expected
    if name == "event_count":
        within_days = condition.within_days
        return lambda ctx: test(event_count(ctx, key, within_days))
    if name == "streak_months":
        return lambda ctx: test(ctx.member.streak_months.get(key, 0) + 1)
    if name == "membership_years":
        return lambda ctx: test(membership_years(ctx))
    if name.startswith("member.attribute."):
        attribute = name[len("member.attribute."):]
        return _attribute_check(lambda ctx: ctx.member.attributes.get(attribute), op, value)
    if name.startswith("event.attribute."):
        attribute = name[len("event.attribute."):]
        return _attribute_check(lambda ctx: ctx.event.attributes.get(attribute), op, value)
    raise ValueError(f"unknown condition field {name!r}")


def _line_predicate(condition: Condition) -> Callable[[Line], bool]:
    test = comparison(condition.op, condition.value)
    if condition.field == "line.sku":
        return lambda line: test(line.sku)
    if condition.field == "line.category":
        return lambda line: test(line.category)
    if condition.field == "line.brand":
        return lambda line: test(line.brand)
    return lambda line: test(line.amount_minor)


# --- effects -------------------------------------------------------------------------------


def line_shares(amount: int, matching: list[int], weights: list[int], size: int) -> tuple[int, ...]:
    """`amount` shared among the matching lines by their `weights` (in `matching`'s order, their
    sum positive), as one share per line of the event (0 for the others). Shared among the
    matching lines only: a line offer matches one or two lines of ten, and the others, of
    weight 0, would get nothing anyway (the remainders go to positive weights, ties to the
    earlier line, as over all lines)."""
    shares = [0] * size
    for index, share in zip(matching, allocate(amount, weights)):
        shares[index] = share
    return tuple(shares)


def _mask(matching: list[int], size: int) -> list[bool]:
    mask = [False] * size
    for index in matching:
        mask[index] = True
    return mask


def _effect(effect: Effect) -> Callable[[Context, list[int]], Draft | None]:
    kind, params = effect.type, effect.params
    code = f"rule_{kind}"
    on_lines = params.get("on", "basket") == "lines"

    if kind == "points_per_euro" or kind == "cashback_percent":
        if kind == "points_per_euro":
            units, per = params["points"], params.get("per_minor") or 100
            why = {"points": units, "per_minor": per, "on": "lines" if on_lines else "basket"}
        else:
            units, per = params["basis_points"], 10_000
            why = {"basis_points": units, "on": "lines" if on_lines else "basket"}

        def produce(ctx: Context, matching: list[int]) -> Draft | None:
            if not on_lines:
                amount = divide(max(0, ctx.event.amount_minor) * units, per, ctx.terms.rounding)
                return (POINTS, "", amount, (), code, dict(why)) if amount > 0 else None
            per_line = ctx.line_amounts()
            weights = [per_line[index] for index in matching]
            amount = divide(sum(weights) * units, per, ctx.terms.rounding)
            if amount <= 0:
                return None
            shares = line_shares(amount, matching, weights, len(per_line)) if ctx.line_shares else ()
            return (POINTS, "", amount, shares, code, dict(why))

        return produce

    if kind == "multiplier":
        percent = params["percent"]
        why = {"percent": percent, "on": "lines" if on_lines else "basket"}

        def produce(ctx: Context, matching: list[int]) -> Draft | None:
            if not on_lines:
                amount = divide(max(0, ctx.terms.base_units) * (percent - 100), 100, ctx.terms.rounding)
                return (POINTS, "", amount, (), code, dict(why)) if amount > 0 else None
            units = ctx.line_units()
            weights = [max(0, units[index]) for index in matching]
            amount = divide(sum(weights) * (percent - 100), 100, ctx.terms.rounding)
            if amount <= 0:
                return None
            shares = line_shares(amount, matching, weights, len(units)) if ctx.line_shares else ()
            return (POINTS, "", amount, shares, code, dict(why))

        return produce

    if kind == "fixed_points" or kind == "fixed_cashback":
        amount = params["points"] if kind == "fixed_points" else params["amount_minor"]
        why = {"points": amount} if kind == "fixed_points" else {"amount_minor": amount}
        return lambda ctx, matching: (POINTS, "", amount, (), code, dict(why))

    if kind == "stamps":
        card, count, per_quantity = params["card"], params.get("count", 1), params.get("per", "event") == "quantity"
        why = {"card": card, "count": count, "per": "quantity" if per_quantity else "event"}

        def produce(ctx: Context, matching: list[int]) -> Draft | None:
            if not per_quantity:
                return (STAMPS, card, count, (), code, dict(why))
            mask = _mask(matching, len(ctx.lines))
            shares = tuple(count * max(0, line.quantity) if mask[index] else 0 for index, line in enumerate(ctx.lines))
            amount = sum(shares)
            return (STAMPS, card, amount, shares, code, dict(why)) if amount > 0 else None

        return produce

    if kind == "achievement":
        badge = params["badge"]
        return lambda ctx, matching: (ACHIEVEMENT, badge, 1, (), code, {"badge": badge})

    if kind == "reward":
        reward = str(params["reward"])
        return lambda ctx, matching: (REWARD, reward, 1, (), code, {"reward": reward})

    if kind == "tier_points":
        points, per = params["points"], params.get("per_minor")
        why = {"points": points, "per_minor": per}
        if per is None:
            return lambda ctx, matching: (TIER_POINTS, "", points, (), code, dict(why))

        def produce(ctx: Context, matching: list[int]) -> Draft | None:
            amount = divide(max(0, ctx.event.amount_minor) * points, per, ctx.terms.rounding)
            return (TIER_POINTS, "", amount, (), code, dict(why)) if amount > 0 else None

        return produce

    raise ValueError(f"unknown effect type {kind!r}")


def main_award(rule: Rule) -> tuple[str, str]:
    """What a rule's limits count: the (kind, target) of its first effect (POINTS for points and cashback)."""
    if not rule.effects:
        return (POINTS, "")
    effect = rule.effects[0]
    kind = EFFECT_KINDS[effect.type]
    target = {STAMPS: "card", ACHIEVEMENT: "badge", REWARD: "reward"}.get(kind)
    return (kind, str(effect.params[target]) if target else "")


LOOKUP_ATTRIBUTES = {"line.sku": "sku", "line.category": "category", "line.brand": "brand"}
LINE_VALUE = {attribute: attrgetter(attribute) for attribute in LOOKUP_ATTRIBUTES.values()}  # each one's getter, built once


def lookup_values(condition: Condition) -> tuple[Any, ...] | None:
    """The values an eq / in condition holds for, as keys of an index; None when it has none
    (another operator, or an unhashable value: only its predicate can test it)."""
    if condition.op not in ("eq", "in"):
        return None
    values = (condition.value,) if condition.op == "eq" else tuple(dict.fromkeys(condition.value))
    try:
        hash(values)
    except TypeError:
        return None
    return values


def _line_lookup(conditions: list[Condition], predicates: tuple[Callable[[Line], bool], ...]):
    """The first line condition that an index answers (eq / in on sku, category, brand), with the other predicates."""
    for position, condition in enumerate(conditions):
        attribute = LOOKUP_ATTRIBUTES.get(condition.field)
        if attribute is None or condition.op not in ("eq", "in"):
            continue
        values = lookup_values(condition)
        if values is None:
            return None
        return attribute, values, predicates[:position] + predicates[position + 1:]
    return None


def compile_rule(rule: Rule) -> Plan:
    """The rule's plan, built once and kept on the rule."""
    if rule.plan is not None:
        return rule.plan
    key = counter_key(rule.event_type, rule.event_name)
    steps = []
    line_conditions = []
    for condition in rule.conditions:
        if condition.field in LINE_FIELDS:
            line_conditions.append(condition)
            steps.append((condition, 1, None))
        elif condition.field == "matching_amount":
            steps.append((condition, 2, comparison(condition.op, condition.value)))
        else:
            steps.append((condition, 0, _context_check(condition, key)))
    predicates = tuple(_line_predicate(condition) for condition in line_conditions)
    plan = Plan(
        steps=tuple(steps),
        line_conditions=tuple(line_conditions),
        line_predicates=predicates,
        line_lookup=_line_lookup(line_conditions, predicates),
        effects=tuple(_effect(effect) for effect in rule.effects),
        main=main_award(rule),
        key=key,
        uses_lines=any(
            effect.params.get("on") == "lines" or effect.params.get("per") == "quantity" for effect in rule.effects
        ),
    )
    object.__setattr__(rule, "plan", plan)
    return plan
