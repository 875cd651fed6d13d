"""What the rules need to know of a member, loaded in as few queries as the active rules allow.

engine.needs(rules) says which counters matter; everything else is skipped. Counters are
"before this event": rows already recorded up to the event's time (the event itself is
not written yet when the rules are evaluated).
"""

import datetime as dt
import functools
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection

from fidelo.core.clock import local_date
from fidelo.core.db import db_date, db_time, fetchone_prepared
from fidelo.members.models import Member
from fidelo.rules.engine.evaluate import Needs
from fidelo.rules.engine.types import MemberFacts, Usage

STREAK_LOOKBACK_MONTHS = 37  # streaks longer than three years count as three years


def _source(key: str) -> tuple[str, str, list]:
    """The table and filter holding the events of a counter key ("purchase", "visit", "custom:<name>", or a type)."""
    if key == "purchase":
        return "purchases_purchase", "", []
    if key == "visit":
        return "purchases_visit", "", []
    if key.startswith("custom:"):
        return "events_event", " AND type = %s AND name = %s", ["custom", key.removeprefix("custom:")]
    return "events_event", " AND type = %s", [key]


@dataclass(frozen=True)
class Capped:
    """A rule with limits: what its Usage counts (the award kind), and whether it has a budget."""

    rule_id: int
    kind: str
    budget: bool
    day: bool = True  # which of its usage windows a limit reads: the others are not loaded
    month: bool = True
    total: bool = True


MEMBER = object()  # in a FactsQuery's parameters: the member's id


class _When:
    """In a FactsShape's parameters: a value taken from the event's time when it is bound."""

    __slots__ = ("days", "what")

    def __init__(self, what: str, days: int = 0) -> None:
        self.what, self.days = what, days


DAY, MONTH_START, MOMENT = _When("day"), _When("month"), _When("moment")  # local day, its month's first day, the time


class _Gate:
    """In a FactsShape's parameters: whether the capped rule at `index` may fire for the event
    (FactsQuery.gates), so that its usage is read; else its subqueries are skipped (read as 0)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


@functools.lru_cache(maxsize=256)
def _formatted(selects: tuple[str, ...], member_sql: str) -> tuple[str, ...]:
    return tuple(select.format(member=member_sql) for select in selects)


class Facts(NamedTuple):
    member: MemberFacts
    usage: dict[int, Usage]  # per capped rule
    campaign_room: dict[str, int]  # per campaign with a budget: what it has left


@dataclass(frozen=True)
class FactsQuery:
    """What the rules need to know of a member for one event, as scalar subqueries on the member's id.

    `selects` name the member's id as `{member}` (MEMBER in their parameters): member_facts
    runs them with the id as a parameter, and a member lookup can run them in its own
    statement (members.selectors.member_lookup_with), with no round trip of their own.
    `decode` turns the values back.
    """

    shape: "FactsShape"
    at: dt.datetime
    timezone: str
    times: dict  # the value of each of the shape's time markers, for this event
    gates: tuple[bool, ...] | None = None  # per capped rule, whether its usage is read (None: all are)

    @property
    def unread(self) -> frozenset[int]:
        """The capped rules whose usage was not read (they cannot fire for the event)."""
        if self.gates is None:
            return frozenset()
        return frozenset(rule.rule_id for rule, gate in zip(self.shape.capped, self.gates) if not gate)

    @property
    def selects(self) -> tuple[str, ...]:
        return self.shape.selects

    @property
    def needs(self) -> Needs:
        return self.shape.needs

    @property
    def capped(self) -> tuple["Capped", ...]:
        return self.shape.capped

    @property
    def campaigns(self) -> tuple[str, ...]:
        return self.shape.campaigns

    def sql(self, member_sql: str) -> tuple[str, ...]:
        return _formatted(self.shape.selects, member_sql)

    def bound(self, member_id: int | None) -> list:
        """The parameters in order: the member's id for MEMBER, or nothing when `{member}` is a column."""
        shape, times = self.shape, self.times
        gates = self.gates or (True,) * len(shape.capped)
        if member_id is None:  # the purchase path's: a copy of the template, the event's times and the gates put in
            params = list(shape.template)
            for position, marker in shape.slots:
                params[position] = times[marker]
            for position, index in shape.gate_slots:
                params[position] = gates[index]
            return params
        return [member_id if value is MEMBER else times[value] if value.__class__ is _When else gates[value.index]
                if value.__class__ is _Gate else value for params in shape.params for value in params]

    def decode(self, member: Member, values: Sequence, tier_multiplier_percent: int = 100) -> Facts:
        shape, position = self.shape, 0
        usage: dict[int, Usage] = {}  # a rule that gave nothing yet is left out (Usage: missing = nothing yet)
        # Most events find the capped rules' usage all 0 (nothing given yet today, or not read: the gates).
        for rule_id, slots in shape.usage_slots if any(values[:shape.usage_count]) else ():
            read = values[position:position + len(slots)]
            position += len(slots)
            if any(read):
                windows = [0, 0, 0, 0]  # Usage's fields in order: day, month, total, budget spent
                for slot, value in zip(slots, read):
                    windows[slot] = int(value)
                usage[rule_id] = Usage(*windows)
        position = shape.usage_count
        counts = {}
        for key in shape.count_keys:
            counts[key] = int(values[position])
            position += 1
        within = {}
        for key in shape.within_keys:
            within[key] = int(values[position])
            position += 1
        campaign_room = {}
        for code in shape.campaigns:
            room = values[position]
            position += 1
            if room is not None:  # None: no budget
                campaign_room[code] = int(room)
        streaks = {key: _streak_months(member.id, key, self.at, self.timezone) for key in shape.streak_keys}
        facts = MemberFacts(  # by position (cheaper, once per purchase): MemberFacts' fields in order
            member.enrolled_at, member.tier or None, tier_multiplier_percent, member.birthday, member.attributes or {},
            frozenset(member.interests or ()), counts, within, streaks,
        )
        return Facts(facts, usage, campaign_room)


@dataclass(frozen=True)
class FactsShape:
    """The subqueries for what a set of rules needs, with markers where a value comes from the
    event's time (DAY, MONTH_START, MOMENT, or a moment some days before): what depends on the
    rules only, built once per rule set (events.earning keeps it), bound per event."""

    selects: tuple[str, ...]
    params: tuple[tuple, ...]
    needs: Needs
    capped: tuple[Capped, ...]
    campaigns: tuple[str, ...]
    # Derived once, for binding and decoding each event's values quickly:
    template: tuple = ()  # the parameters in order without MEMBER, markers left in
    slots: tuple[tuple[int, _When], ...] = ()  # (position in template, marker)
    gate_slots: tuple[tuple[int, int], ...] = ()  # (position in template, capped rule's index)
    count_keys: tuple[str, ...] = ()  # needs.counts, in the selects' order
    within_keys: tuple[tuple[str, int], ...] = ()
    streak_keys: tuple[str, ...] = ()
    usage_slots: tuple[tuple[int, tuple[int, ...]], ...] = ()  # per capped rule: its id, the Usage fields its values fill in order
    usage_count: int = 0  # how many values the usage_slots take, at the start of the values
    ago_markers: tuple["_When", ...] = ()  # the markers of a moment some days before the event's


def facts_shape(
    *, needs: Needs, capped: Sequence[Capped] = (), organization_id: int = 0, count_limits: Mapping[str | tuple[str, int], int] | None = None,
) -> FactsShape:
    """The subqueries for the member facts `needs` asks for, and what each capped rule already gave.

    A capped rule's subqueries run only if its gate says it may fire (FactsQuery.gates).
    `count_limits` (engine.count_limits): counts that need not go past a number of events;
    the others are counted in full (the simulation shows them)."""
    selects: list[str] = []
    params: list[tuple] = []
    count_limits = count_limits or {}
    for index, rule in enumerate(capped):
        # Today, this month, ever (those its limits read), in the kind they count; and its budget spent.
        gate = _Gate(index)
        for since in _windows(rule):
            selects.append(
                "CASE WHEN %s THEN (SELECT COALESCE(SUM(amount - reversed), 0) FROM awards_award WHERE member_id = {member} "
                "AND rule_id = %s AND kind = %s" + (" AND local_day >= %s) ELSE 0 END" if since is not None else ") ELSE 0 END")
            )
            params.append((gate, MEMBER, rule.rule_id, rule.kind) + ((since,) if since is not None else ()))
        if rule.budget:
            selects.append("CASE WHEN %s THEN (SELECT COALESCE(MAX(spent), 0) FROM rules_rulebudget WHERE rule_id = %s) ELSE 0 END")
            params.append((gate, rule.rule_id))
    for key in sorted(needs.counts):
        table, extra, extra_params = _source(key)
        selects.append(_counted(f"{table} WHERE member_id = {{member}}{extra} AND occurred_at <= %s", count_limits.get(key)))
        params.append((MEMBER, *extra_params, MOMENT))
    for key, days in sorted(needs.counts_within):
        table, extra, extra_params = _source(key)
        selects.append(_counted(f"{table} WHERE member_id = {{member}}{extra} AND occurred_at <= %s AND occurred_at > %s",
                                count_limits.get((key, days))))
        params.append((MEMBER, *extra_params, MOMENT, _When("ago", days)))
    campaigns = tuple(sorted(needs.campaigns))
    for code in campaigns:  # what the campaign's budget has left for its rules (NULL: no budget)
        selects.append("(SELECT budget - budget_spent FROM rewards_campaign WHERE organization_id = %s AND code = %s AND budget IS NOT NULL)")
        params.append((organization_id, code))
    template = tuple(value for group in params for value in group if value is not MEMBER)
    slots = tuple((position, value) for position, value in enumerate(template) if value.__class__ is _When)
    usage_slots = tuple((rule.rule_id, _usage_slots(rule)) for rule in capped)
    return FactsShape(
        selects=tuple(selects), params=tuple(params), needs=needs, capped=tuple(capped), campaigns=campaigns, template=template,
        slots=slots,
        gate_slots=tuple((position, value.index) for position, value in enumerate(template) if value.__class__ is _Gate),
        count_keys=tuple(sorted(needs.counts)), within_keys=tuple(sorted(needs.counts_within)), streak_keys=tuple(sorted(needs.streaks)),
        usage_slots=usage_slots,
        usage_count=sum(len(rule_slots) for _rule_id, rule_slots in usage_slots),
        ago_markers=tuple(dict.fromkeys(marker for _position, marker in slots if marker.what == "ago")),
    )


def _counted(rows: str, limit: int | None) -> str:
    """A count of the rows of `rows` ("<table> WHERE …"), stopping at `limit` when one is given."""
    if limit is None:
        return f"(SELECT COUNT(*) FROM {rows})"
    return f"(SELECT COUNT(*) FROM (SELECT 1 FROM {rows} LIMIT {int(limit)}) AS counted)"


def facts_query(
    *, at: dt.datetime, timezone: str, needs: Needs | None = None, capped: Sequence[Capped] = (), organization_id: int = 0,
    shape: FactsShape | None = None, gates: tuple[bool, ...] | None = None, count_limits: Mapping | None = None,
) -> FactsQuery:
    """The subqueries of `shape` (else of facts_shape(needs, capped)) bound to the event's time;
    `gates`: per capped rule, whether its usage is read (None: all are)."""
    if shape is None:
        shape = facts_shape(needs=needs or Needs(), capped=capped, organization_id=organization_id, count_limits=count_limits)
    day = local_date(at, timezone)
    times = {DAY: db_date(day), MONTH_START: db_date(day.replace(day=1)), MOMENT: db_time(at)}
    for marker in shape.ago_markers:
        times[marker] = db_time(at - dt.timedelta(days=marker.days))
    return FactsQuery(shape=shape, at=at, timezone=timezone, times=times, gates=gates)


def member_facts(
    *, member: Member, at: dt.datetime, needs: Needs, timezone: str, tier_multiplier_percent: int = 100, capped: Sequence[Capped] = (),
    count_limits: Mapping | None = None,
) -> Facts:
    """The member's facts, what each capped rule already gave them, and what the budgets of their
    rules' campaigns have left: one query for all. `count_limits`: see facts_shape."""
    query = facts_query(at=at, needs=needs, timezone=timezone, capped=capped, organization_id=member.organization_id,
                        count_limits=count_limits)
    values: Sequence = ()
    if query.selects:
        # Prepared on PostgreSQL: planning a dozen subqueries costs more than running them.
        values = fetchone_prepared("SELECT " + ", ".join(query.sql("%s")), query.bound(member.id))
    return query.decode(member, values, tier_multiplier_percent)


def campaign_rooms(organization_id: int, codes) -> dict[str, int]:
    """What the budget of each of these campaigns has left (campaigns without a budget are left out)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT code, budget - budget_spent FROM rewards_campaign WHERE organization_id = %s AND budget IS NOT NULL AND code IN ("
            + ", ".join(["%s"] * len(codes)) + ")",
            [organization_id, *sorted(codes)],
        )
        return {code: int(room) for code, room in cursor.fetchall()}


def _usage_slots(rule: Capped) -> tuple[int, ...]:
    """The Usage fields (0 day, 1 month, 2 total, 3 budget spent) the rule's subqueries read, in their order."""
    return tuple(slot for slot, wanted in enumerate((rule.day, rule.month, rule.total, rule.budget)) if wanted)


def _windows(rule: Capped) -> list[_When | None]:
    """The first local day of each usage window the rule's limits read (None: ever), in Usage's order."""
    return [since for since, wanted in ((DAY, rule.day), (MONTH_START, rule.month), (None, rule.total)) if wanted]


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _streak_months(member_id: int, key: str, at: dt.datetime, timezone: str) -> int:
    """Consecutive local months with at least one event, ending with the month before `at`'s."""
    table, extra, extra_params = _source(key)
    current = _month_index(local_date(at, timezone))
    tz = zoneinfo.ZoneInfo(timezone)
    start_month = current - STREAK_LOOKBACK_MONTHS
    start = dt.datetime(start_month // 12, start_month % 12 + 1, 1, tzinfo=tz)
    month_start = dt.datetime(current // 12, current % 12 + 1, 1, tzinfo=tz)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT occurred_at FROM {table} WHERE member_id = %s{extra} AND occurred_at >= %s AND occurred_at < %s",
            [member_id, *extra_params, db_time(start), db_time(month_start)],
        )
        months = {_month_index(local_date(_aware(value), timezone)) for (value,) in cursor.fetchall()}
    streak, month = 0, current - 1
    while month in months:
        streak += 1
        month -= 1
    return streak


def _aware(value) -> dt.datetime:
    if isinstance(value, str):  # SQLite hands back text through a raw cursor
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
