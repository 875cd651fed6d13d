"""Evaluation: an event, the member's facts, the program's terms and the rules in; awards out.

evaluate() is pure and fast (rules are compiled once, the event's local time is computed
once); needs() tells the caller which member facts and usage to load for a set of rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from fidelo.rules.engine.arith import allocate, divide
from fidelo.rules.engine.compile import (
    CONTEXT_VALUES,
    LINE_VALUE,
    LOOKUP_ATTRIBUTES,
    Context,
    Plan,
    compile_rule,
    counter_key,
    event_count,
    lookup_values,
    membership_years,
)
from fidelo.rules.engine.types import (
    CUSTOM,
    POINTS,
    Award,
    Condition,
    Evaluation,
    Event,
    Limits,
    MemberFacts,
    ProgramTerms,
    Rule,
    Skipped,
    Usage,
    Why,
)

NO_USAGE = Usage()
NO_LIMITS = Limits()
LIMIT_ORDER = ("per_member_per_day", "per_member_per_month", "per_member_total", "budget")


@dataclass(frozen=True)
class Needs:
    """What the caller must load before evaluating these rules."""

    counts: frozenset[str] = frozenset()  # counter keys needing lifetime counts
    counts_within: frozenset[tuple[str, int]] = frozenset()  # (counter key, days)
    streaks: frozenset[str] = frozenset()  # counter keys needing month streaks
    member_fields: frozenset[str] = frozenset()  # among "tier", "attributes", "interests", "birthday"
    usage_rule_ids: frozenset[int] = frozenset()  # rules with limits: load their Usage
    campaigns: frozenset[str] = frozenset()  # the rules' campaigns: load what each budget has left


def needs(rules: Sequence[Rule]) -> Needs:
    counts: set[str] = set()
    within: set[tuple[str, int]] = set()
    streaks: set[str] = set()
    fields: set[str] = set()
    usage: set[int] = set()
    campaigns: set[str] = set()
    for rule in rules:
        if rule.campaign:
            campaigns.add(rule.campaign)
        key = counter_key(rule.event_type, rule.event_name)
        for condition in rule.conditions:
            name = condition.field
            if name == "first_purchase":
                counts.add("purchase")
            elif name == "event_count":
                if condition.within_days is None:
                    counts.add(key)
                else:
                    within.add((key, condition.within_days))
            elif name == "streak_months":
                streaks.add(key)
            elif name == "member.tier":
                fields.add("tier")
            elif name.startswith("member.attribute."):
                fields.add("attributes")
            elif name == "member.interests":
                fields.add("interests")
            elif name == "member.birthday_month":
                fields.add("birthday")
        if rule.limits != Limits():
            usage.add(rule.id)
    return Needs(frozenset(counts), frozenset(within), frozenset(streaks), frozenset(fields), frozenset(usage), frozenset(campaigns))


def count_limits(rules: Sequence[Rule]) -> dict[str | tuple[str, int], int]:
    """How many past events each count of Needs.counts / counts_within needs to tell apart for
    these rules: {key: n}, where n or more past events all read as n and decide every condition
    alike (event_count compares the count + 1 with values up to n; first_purchase only asks
    whether it is 0). A key left out must be counted in full (multiple_of, or a value that is
    not a whole number). So a member's long history is not counted on every event."""
    limits: dict[str | tuple[str, int], int | None] = {}

    def need(key: str | tuple[str, int], limit: int | None) -> None:  # None: count in full
        if key in limits and limits[key] is None:
            return
        limits[key] = None if limit is None else max(limits.get(key, 0), limit)

    for rule in rules:
        key = counter_key(rule.event_type, rule.event_name)
        for condition in rule.conditions:
            if condition.field == "first_purchase":
                need("purchase", 1)
            elif condition.field == "event_count":
                values = condition.value if isinstance(condition.value, (list, tuple)) else [condition.value]
                bounded = condition.op != "multiple_of" and all(type(value) is int for value in values)
                need(key if condition.within_days is None else (key, condition.within_days),
                     max([0, *values]) if bounded else None)
    return {key: limit for key, limit in limits.items() if limit is not None}


_NOBODY = MemberFacts(enrolled_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


def may_fire(event: Event, timezone: str, rules: Sequence[Rule]) -> tuple[bool, ...]:
    """For each rule, whether it may give something for `event` to some member: the event is of
    its type and within its dates, and its conditions on the event hold (those on the member are
    not tested). False: it gives nothing for this event, whoever the member (its usage need not
    be read)."""
    ctx: Context | None = None  # built only for a rule that needs more than its lines' values
    held: dict[str, set] = {}  # per line attribute, the basket's values: taken once, met with each offer's in C
    moment = event.occurred_at
    allowed = []
    for rule in rules:
        if (rule.event_type != event.type or (rule.event_type == CUSTOM and rule.event_name != event.name)
                or (rule.starts_at is not None and moment < rule.starts_at) or (rule.ends_at is not None and moment >= rule.ends_at)):
            allowed.append(False)
            continue
        plan = rule.plan or compile_rule(rule)
        if plan.event_lookup is not None:  # a product, category or brand offer: is it in the basket?
            attribute, values = plan.event_lookup
            in_basket = held.get(attribute)
            if in_basket is None:
                in_basket = held[attribute] = set(map(LINE_VALUE[attribute], event.lines))
            allowed.append(not values.isdisjoint(in_basket))
            continue
        if ctx is None:
            ctx = Context(event, _NOBODY, ProgramTerms(currency_mode="", timezone=timezone, rounding="down", base_units=0))
        allowed.append(plan.event_allows(ctx))
    return tuple(allowed)


class Gates:
    """may_fire for one list of rules (a rule set's capped rules), asked on every event: when
    each of them is an offer on products, categories or brands (its one condition on the event
    is a line lookup, Plan.event_lookup) of one event type other than custom, without dates,
    the answer is one set test per rule, derived once here; else may_fire itself."""

    __slots__ = ("event_type", "lookups", "rules")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self.event_type = self.rules[0].event_type if self.rules else ""
        lookups = []
        for rule in self.rules:
            plan = rule.plan or compile_rule(rule)
            if (plan.event_lookup is None or rule.event_type != self.event_type or rule.event_type == CUSTOM
                    or rule.starts_at is not None or rule.ends_at is not None):
                lookups = None
                break
            lookups.append(plan.event_lookup)
        self.lookups: tuple[tuple[str, frozenset], ...] | None = tuple(lookups) if lookups is not None else None

    def __call__(self, event: Event, timezone: str) -> tuple[bool, ...]:
        if self.lookups is None:
            return may_fire(event, timezone, self.rules)
        if event.type != self.event_type:
            return (False,) * len(self.rules)
        held: dict[str, set] = {}  # per line attribute, the basket's values
        for attribute, _values in self.lookups:
            if attribute not in held:
                held[attribute] = set(map(LINE_VALUE[attribute], event.lines))
        return tuple(not values.isdisjoint(held[attribute]) for attribute, values in self.lookups)


def _order(rule: Rule) -> tuple[int, int]:
    return (-rule.priority, rule.id)


class _Entry(NamedTuple):
    """One rule as the loop without explanations (_award) reads it: derived once per rule set."""

    rule: Rule
    plan: Plan
    dated: bool  # it has a start or an end
    check: Any  # Plan.only_check: its one condition, on the event's context; else None
    limited: bool  # its limits apply (what it gives is counted)
    # Whether its line-based points are shared among the lines: only when the award is counted
    # (limits, a campaign: fidelo.awards writes its row, and cuts the shares with the amount).
    # Else the purchase keeps its bonus total, and no one reads the shares.
    line_shares: bool


def _entry(rule: Rule) -> _Entry:
    plan = rule.plan or compile_rule(rule)
    limited = rule.limits != NO_LIMITS
    return _Entry(rule, plan, rule.starts_at is not None or rule.ends_at is not None, plan.only_check, limited, limited or bool(rule.campaign))


class _Candidates:
    """The rules an event goes through, in evaluation order, and an index of those with one
    condition only, "<field> is (one of) these values", on a line's sku / category / brand or
    on the store, channel, weekday, month or member's tier: per field, each value's rules
    (their positions in `rules`). Without explanations, such a rule is passed over at once
    when the event holds none of its values, instead of being run: most of a catalogue's
    product, category, store and tier offers, on most events."""

    __slots__ = ("entries", "indexed", "on_context", "on_lines", "rules", "unindexed")

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = tuple(rules)
        # What the loop without explanations reads of each rule, in one tuple: _Entry.
        self.entries = tuple(_entry(rule) for rule in self.rules)
        on_lines: dict[str, dict[Any, list[int]]] = {}
        on_context: dict[str, dict[Any, list[int]]] = {}
        for position, rule in enumerate(self.rules):
            if len(rule.conditions) != 1:
                continue
            condition = rule.conditions[0]
            values = lookup_values(condition)
            if values is None:
                continue
            if condition.field in LOOKUP_ATTRIBUTES:
                table = on_lines.setdefault(LOOKUP_ATTRIBUTES[condition.field], {})
            elif condition.field in CONTEXT_VALUES:
                table = on_context.setdefault(condition.field, {})
            else:
                continue
            for value in values:
                table.setdefault(value, []).append(position)

        def frozen(tables: dict[str, dict[Any, list[int]]]) -> dict[str, dict[Any, tuple[int, ...]]]:
            return {name: {value: tuple(found) for value, found in table.items()} for name, table in tables.items()}

        self.on_lines, self.on_context = frozen(on_lines), frozen(on_context)
        self.indexed = frozenset(
            position for tables in (self.on_lines, self.on_context) for table in tables.values() for found in table.values() for position in found
        )
        self.unindexed = frozenset(range(len(self.rules))) - self.indexed  # run on every event

    def to_run(self, ctx: Context) -> list[int]:
        """Without explanations: the positions of the rules the event may satisfy, in order (the
        others have one eq / in condition on values the event does not hold)."""
        if not self.indexed:
            return list(range(len(self.rules)))
        return sorted(self.unindexed.union(self.holding_a_value(ctx)))

    def holding_a_value(self, ctx: Context) -> set[int]:
        """The indexed rules whose value the event holds (on some line, or in its context)."""
        found: set[int] = set()
        for attribute, table in self.on_lines.items():
            # The lines' values met with the table's in C (a set intersection), not line by line.
            for value in table.keys() & ctx.line_values(attribute):
                found.update(table[value])
        for name, table in self.on_context.items():
            positions = table.get(CONTEXT_VALUES[name](ctx))
            if positions:
                found.update(positions)
        return found


class RuleSet(tuple):
    """Rules evaluated together on many events (an organization's active rules): evaluate()
    keeps here what it derives from them for each event type (their order, their index), for
    as long as the set lives. A plain tuple or list of rules works too, derived anew each time.
    A tuple subclass, so that it goes wherever the rules did."""

    by_event: dict[tuple[str, str], _Candidates]  # (event type, custom event's name) -> what evaluate() derived

    def __new__(cls, rules=()):
        self = super().__new__(cls, rules)
        self.by_event = {}
        return self


def _candidates_for(rules: Sequence[Rule], event: Event) -> _Candidates:
    kept = rules.by_event.get((event.type, event.name)) if isinstance(rules, RuleSet) else None
    if kept is not None:
        return kept
    listening = [
        rule for rule in rules
        if rule.event_type == event.type and (rule.event_type != CUSTOM or rule.event_name == event.name)
    ]
    listening.sort(key=_order)
    candidates = _Candidates(listening)
    if isinstance(rules, RuleSet):
        rules.by_event[(event.type, event.name)] = candidates
    return candidates


def evaluate(
    event: Event, member: MemberFacts, terms: ProgramTerms, rules: Sequence[Rule], usage: Mapping[int, Usage],
    *, explain: bool = True, campaign_room: Mapping[str, int] | None = None,
) -> Evaluation:
    """The awards this event earns and, for each rule of its type that gives nothing, why not.

    explain=False leaves the rules that gave nothing out (Evaluation.skipped is empty): the
    purchase path does not show them, and saying why costs half the evaluation. It also leaves
    out the line shares (Award.line_amounts) of a line-based points award whose rule has no
    limits and no campaign: nothing counts that award, and the purchase keeps its bonus total.
    campaign_room: what each campaign with a budget has left (program unit), shared by its
    rules' points in priority order; a campaign missing from it has no budget.
    """
    room_left = dict(campaign_room) if campaign_room else {}
    ctx = Context(event, member, terms)
    awards: list[Award] = []
    skipped: list[Skipped] = []

    percent = member.tier_multiplier_percent
    if percent != 100 and terms.base_units > 0:
        amount = divide(terms.base_units * (percent - 100), 100, terms.rounding) if percent > 100 else 0
        if amount > 0:
            line_amounts = allocate(amount, ctx.line_units()) if event.lines else ()
            awards.append(Award(
                kind=POINTS, amount=amount, rule_id=None, rule_version=None, rule_name="",
                why=Why("tier_multiplier", {"tier": member.tier or "", "percent": percent}), line_amounts=line_amounts,
            ))

    candidates = _candidates_for(rules, event)
    if not explain:  # the purchase path's: see _award
        _award(ctx, candidates, usage, room_left, awards)
        return Evaluation(awards=tuple(awards), skipped=())

    def say(rule: Rule, code: str, **params: Any) -> None:  # why a rule gave nothing
        skipped.append(_skip(rule, code, **params))

    moment = event.occurred_at
    winner: Rule | None = None
    for rule, plan, _dated, check, limited, _line_shares in candidates.entries:  # every rule, to say why it gave nothing
        if winner is not None:
            say(rule, "exclusive_rule_won", winner=winner.name, winner_id=winner.id)
            continue
        if rule.starts_at is not None and moment < rule.starts_at:
            say(rule, "rule_not_started", starts_at=rule.starts_at.isoformat())
            continue
        if rule.ends_at is not None and moment >= rule.ends_at:
            say(rule, "rule_ended", ends_at=rule.ends_at.isoformat())
            continue
        if check is not None:  # one condition, on the event's context (most rules): checked at once
            failed, matching = (None if check(ctx) else plan.steps[0][0]), None
        else:
            failed, matching = plan.first_failing(plan.steps, ctx, True)
        if failed is not None:
            say(rule, "condition_failed", **_failure(failed, ctx, plan))  # saying which condition failed costs half the evaluation
            continue
        if matching is None:
            matching = plan.matching(ctx) if plan.uses_lines else ctx.all_lines
        refusal = _give(rule, plan, ctx, matching, limited, usage, room_left, awards)
        if refusal is not None:
            say(rule, refusal[0], **refusal[1])
            continue
        if rule.exclusive:
            winner = rule
    return Evaluation(awards=tuple(awards), skipped=tuple(skipped))


def _award(ctx: Context, candidates: _Candidates, usage: Mapping[int, Usage], room_left: dict[str, int], awards: list[Award]) -> None:
    """evaluate()'s loop without explanations: the same steps, in the same order, on the rules
    the event may satisfy only (see _Candidates), with nothing said of those that give nothing
    and no line shares where no one reads them (_Entry.line_shares). It runs on every purchase:
    each rule is one tuple read, not a dozen attributes."""
    moment = ctx.event.occurred_at
    entries = candidates.entries
    for position in candidates.to_run(ctx):
        rule, plan, dated, check, limited, line_shares = entries[position]
        if dated and ((rule.starts_at is not None and moment < rule.starts_at) or (rule.ends_at is not None and moment >= rule.ends_at)):
            continue
        matching = None
        if check is not None:  # one condition, on the event's context (most rules)
            if not check(ctx):
                continue
        else:
            failed, matching = plan.first_failing(plan.steps, ctx, False)
            if failed is not None:
                continue
        if matching is None:
            matching = plan.matching(ctx) if plan.uses_lines else ctx.all_lines
        ctx.line_shares = line_shares
        refusal = _give(rule, plan, ctx, matching, limited, usage, room_left, awards)
        ctx.line_shares = True
        if refusal is None and rule.exclusive:
            return  # the rules after it (lower priority) give nothing


def _give(rule: Rule, plan: Plan, ctx: Context, matching: list[int], limited: bool, usage: Mapping[int, Usage], room_left: dict[str, int],
          awards: list[Award]) -> tuple[str, dict[str, Any]] | None:
    """What a rule whose conditions hold gives: its effects' drafts, cut by its limits and by its
    campaign's budget (`room_left` shrinks), appended to `awards`. None when it gave something,
    else why not: (why code, params)."""
    effects = plan.effects
    if len(effects) == 1:  # most rules: no generator to go through
        draft = effects[0](ctx, matching)
        drafts = [draft] if draft is not None else []
    else:
        drafts = [draft for draft in (produce(ctx, matching) for produce in effects) if draft is not None]
    if limited:
        drafts, reached = _apply_limits(rule, plan, drafts, usage.get(rule.id, NO_USAGE))
        if reached is not None:
            extra = {"currency_mode": ctx.terms.currency_mode} if reached[0] == "budget" else {}
            return "limit_reached", {"limit": reached[0], "value": reached[1], **extra}
    campaign = ""
    if rule.campaign in room_left and drafts:
        limited, campaign = True, rule.campaign
        drafts = _within_campaign_budget(rule, plan, drafts, room_left)
        if drafts is None:
            return "limit_reached", {"limit": "campaign_budget", "value": rule.campaign}  # the campaign's code
    if not drafts:
        return "nothing_to_award", {}
    name = rule.name
    for kind, target, amount, line_amounts, code, params in drafts:
        params["rule"] = name
        # Award's fields in order (by position: a third cheaper than by keyword): kind, amount,
        # rule id, version and name, why, target, line amounts, limited, campaign.
        awards.append(Award(kind, amount, rule.id, rule.version, name, Why(code, params), target, line_amounts, limited,
                            campaign if kind == POINTS else ""))
    return None


def _skip(rule: Rule, code: str, **params: Any) -> Skipped:
    params["rule"] = rule.name
    return Skipped(rule_id=rule.id, rule_version=rule.version, rule_name=rule.name, why=Why(code, params))


def _within_campaign_budget(rule: Rule, plan: Plan, drafts: list, room_left: dict[str, int]) -> list | None:
    """The rule's points cut to what its campaign's budget has left (None when nothing is left); the room shrinks."""
    room = room_left[rule.campaign]
    if room <= 0 and any(draft[0] == POINTS for draft in drafts):
        return None
    result, room_left[rule.campaign] = _cut(drafts, lambda kind, target: kind == POINTS, room, {"capped_by": "campaign_budget"})
    return result


def _cut(drafts: list, counted, room: int, note: dict) -> tuple[list, int]:
    """The drafts `counted(kind, target)` selects, given in order while `room` lasts (their line
    shares cut in proportion, `note` added to a reduced one's params); the others as they are.
    Returns the drafts and the room left."""
    result = []
    for draft in drafts:
        kind, target, amount, line_amounts, code, params = draft
        if not counted(kind, target):
            result.append(draft)
            continue
        given = min(amount, room)
        room -= given
        if given == amount:
            result.append(draft)
        elif given > 0:
            params.update(note)
            result.append((kind, target, given, allocate(given, line_amounts) if line_amounts else (), code, params))
    return result, room


def _apply_limits(rule: Rule, plan: Plan, drafts: list, used: Usage) -> tuple[list, tuple[str, int] | None]:
    """Cut the rule's main award to what its limits still allow; (drafts, (limit, value)) when nothing is left."""
    limits = rule.limits
    tightest: tuple[int, str, int] | None = None  # (room left, limit name, limit value)
    for name, limit, spent in (
        ("per_member_per_day", limits.per_member_per_day, used.member_day),
        ("per_member_per_month", limits.per_member_per_month, used.member_month),
        ("per_member_total", limits.per_member_total, used.member_total),
        ("budget", limits.budget if plan.main[0] == POINTS else None, used.budget_spent),
    ):
        if limit is not None and (tightest is None or limit - spent < tightest[0]):
            tightest = (limit - spent, name, limit)
    if tightest is None:
        return drafts, None
    room, name, limit = tightest
    if room <= 0:
        return drafts, (name, limit)
    result, _room = _cut(drafts, lambda kind, target: (kind, target) == plan.main, room, {"capped_by": name, "cap": limit})
    return result, None


# --- why a condition failed ----------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list, frozenset, set)):
        return [_plain(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _actual(condition: Condition, ctx: Context, plan: Plan) -> Any:
    name = condition.field
    event, member = ctx.event, ctx.member
    simple = {
        "store": lambda: event.store,
        "channel": lambda: event.channel,
        "amount": lambda: event.amount_minor,
        "line.sku": lambda: [line.sku for line in event.lines],
        "line.category": lambda: [line.category for line in event.lines],
        "line.brand": lambda: [line.brand for line in event.lines],
        "line.amount": lambda: [line.amount_minor for line in event.lines],
        "matching_amount": lambda: sum(event.lines[index].amount_minor for index in plan.matching(ctx)),
        "date": lambda: ctx.date.isoformat(),
        "weekday": lambda: ctx.weekday,
        "time": lambda: f"{ctx.local.hour:02d}:{ctx.local.minute:02d}",
        "month": lambda: ctx.month,
        "member.tier": lambda: member.tier or "",
        "member.interests": lambda: sorted(member.interests),
        "member.birthday_month": lambda: member.birthday is not None and member.birthday.month == ctx.month,
        "first_purchase": lambda: member.counts.get("purchase", 0) == 0,
        "event_count": lambda: event_count(ctx, plan.key, condition.within_days),
        "streak_months": lambda: member.streak_months.get(plan.key, 0) + 1,
        "membership_years": lambda: membership_years(ctx),
    }
    if name in simple:
        return _plain(simple[name]())
    if name.startswith("member.attribute."):
        return _plain(member.attributes.get(name[len("member.attribute."):]))
    if name.startswith("event.attribute."):
        return _plain(event.attributes.get(name[len("event.attribute."):]))
    return None


def _failure(condition: Condition, ctx: Context, plan: Plan) -> dict[str, Any]:
    params = {
        "field": condition.field, "op": condition.op, "expected": _plain(condition.value),
        "actual": _actual(condition, ctx, plan),
    }
    if condition.within_days is not None:
        params["within_days"] = condition.within_days
    return params
