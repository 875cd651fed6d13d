"""The rules engine's vocabulary: immutable values in, awards out, no database.

The engine (engine.evaluate) takes an event, what is known of the member, the program's
earning settings, the active rules and their usage so far, and returns the awards with,
for each, the rule that produced it and why; and, for each rule that did not fire, the
condition that failed. The caller (fidelo.awards) loads the facts and writes the awards.

Everything here is plain Python (no Django): the engine is unit-tested without a database.
Money is in minor units (cents), points are integers, time is timezone-aware.

Every value is immutable. A rule and its parts are frozen dataclasses, built once per rule
set. What is built anew for each event (the event and its lines, the member's facts, the
terms, the usage, the awards and their explanations) is a named tuple: as immutable, and
three times cheaper to build, since a frozen dataclass's __init__ sets each field through
object.__setattr__. A purchase builds about twenty of them (ten lines, five awards…); as
frozen dataclasses they cost a tenth of the rules' extra work on the purchase path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

EMPTY: Mapping[str, Any] = MappingProxyType({})  # the default of the mappings below: shared, so read-only

# --- event types ---------------------------------------------------------------------------

PURCHASE = "purchase"
VISIT = "visit"
SUBSCRIPTION_PAYMENT = "subscription_payment"
SIGNUP = "signup"
BIRTHDAY = "birthday"
REFERRAL_COMPLETED = "referral_completed"
REVIEW = "review"
SOCIAL_SHARE = "social_share"
SURVEY_ANSWERED = "survey_answered"
PROFILE_COMPLETED = "profile_completed"
INTERESTS_SHARED = "interests_shared"
CUSTOM = "custom"  # named by the merchant: Event.name

EVENT_TYPES = (
    PURCHASE, VISIT, SUBSCRIPTION_PAYMENT, SIGNUP, BIRTHDAY, REFERRAL_COMPLETED, REVIEW, SOCIAL_SHARE,
    SURVEY_ANSWERED, PROFILE_COMPLETED, INTERESTS_SHARED, CUSTOM,
)

# --- award kinds ---------------------------------------------------------------------------

POINTS = "points"  # bonus in the program's unit (points, or cents of cashback): kept apart from base
STAMPS = "stamps"  # target: stamp card code
ACHIEVEMENT = "achievement"  # target: badge code
REWARD = "reward"  # target: reward id (as a string), amount 1
TIER_POINTS = "tier_points"  # count towards tier qualification only, never spendable


class LineLike(Protocol):
    """What the engine reads of a purchase line. Event.lines takes any record that has it:
    engine.Line, or the purchase API's own line inputs as they are (not copied into ten
    Lines on every purchase). A line is known by its index in Event.lines."""

    @property
    def sku(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def brand(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def amount_minor(self) -> int: ...  # quantity * unit price - discount


class Line(NamedTuple):
    position: int  # 1-based, as sent
    sku: str
    category: str
    brand: str
    quantity: int
    amount_minor: int  # quantity * unit price - discount


class Event(NamedTuple):
    type: str  # one of EVENT_TYPES
    occurred_at: dt.datetime  # aware
    name: str = ""  # the custom event's name (type == CUSTOM)
    store: str | None = None  # store code
    channel: str | None = None  # "online" or "offline" (purchases)
    amount_minor: int = 0  # the basket (purchases, subscription payments)
    lines: tuple[LineLike, ...] = ()  # engine.Line or any LineLike
    attributes: Mapping[str, Any] = EMPTY  # the event's own fields (rating, survey id…)


class MemberFacts(NamedTuple):
    """What the rules may ask of the member, as of just before the event.

    The counters are filled only for what the active rules need (engine.needs tells which);
    a counter a rule needs but that is missing counts as 0.
    """

    enrolled_at: dt.datetime
    tier: str | None = None
    tier_multiplier_percent: int = 100  # the tier's earn benefit (150 = ×1.5 on base points)
    birthday: dt.date | None = None
    attributes: Mapping[str, Any] = EMPTY  # custom attributes
    interests: frozenset[str] = frozenset()
    # Events of each type before this one: {event type or "custom:<name>": count}, lifetime.
    counts: Mapping[str, int] = EMPTY
    # Events of each type within N days before (and excluding) this one: {(type, days): count}.
    counts_within: Mapping[tuple[str, int], int] = EMPTY
    # Consecutive calendar months (local time) ending with the month before the event's,
    # each with at least one event of the type: {type: months}.
    streak_months: Mapping[str, int] = EMPTY


class ProgramTerms(NamedTuple):
    """The program's earning settings the engine needs."""

    currency_mode: str  # "points" or "cashback"
    timezone: str  # the organization's, e.g. "Europe/Paris"
    rounding: str  # "down", "nearest" or "up"
    base_units: int  # what the base rate gave for this event (0 if none)
    base_line_units: tuple[int, ...] = ()  # the base units of each line (same order as Event.lines)


@dataclass(frozen=True, slots=True)
class Condition:
    field: str  # see definition.FIELDS
    op: str  # "eq", "ne", "in", "not_in", "gte", "lte", "gt", "lt", "between", "contains", "is"
    value: Any
    within_days: int | None = None  # for "event_count"


@dataclass(frozen=True, slots=True)
class Effect:
    type: str  # see definition.EFFECTS
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Limits:
    per_member_per_day: int | None = None  # in the award's own unit (points, stamps…)
    per_member_per_month: int | None = None
    per_member_total: int | None = None
    budget: int | None = None  # all members together, in the program's unit (points or cents)


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    version: int
    name: str
    event_type: str  # one of EVENT_TYPES
    event_name: str = ""  # for custom events
    conditions: tuple[Condition, ...] = ()
    effects: tuple[Effect, ...] = ()
    limits: Limits = Limits()
    priority: int = 0  # higher is evaluated first
    exclusive: bool = False  # when it fires, rules of lower priority do not
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    # The campaign the rule belongs to (its code): a campaign's budget, if it has one, is
    # shared by all its rules (evaluate's `campaign_room`).
    campaign: str = ""
    # The compiled matchers (engine.compile.Plan), built by definition.parse_rule or on first
    # evaluation; not part of the rule's identity, not copied by dataclasses.replace.
    plan: Any = field(default=None, init=False, compare=False, repr=False)


class Usage(NamedTuple):
    """What a rule has already given, to apply its limits. Missing = nothing yet."""

    member_day: int = 0  # to this member on the event's local day, in the capped unit
    member_month: int = 0  # this local calendar month
    member_total: int = 0
    budget_spent: int = 0  # to everyone, program unit


class Why(NamedTuple):
    """A reason a member or a merchant can read: a code rendered through gettext with params."""

    code: str
    params: dict[str, Any]  # stored as JSON with the award: a plain dict, always given


class Award(NamedTuple):
    kind: str  # POINTS, STAMPS, ACHIEVEMENT, REWARD, TIER_POINTS
    amount: int  # > 0
    rule_id: int | None  # None for the tier's earn multiplier (a benefit, not a rule)
    rule_version: int | None
    rule_name: str
    why: Why
    target: str = ""  # stamp card code, badge code, reward id
    line_amounts: tuple[int, ...] = ()  # for line-based awards: the share of each line (refunds by line)
    limited: bool = False  # its rule has limits or a budget: what it gave is counted (fidelo.awards keeps its own row)
    campaign: str = ""  # taken from this campaign's budget (points awards of a campaign with a budget)


class Skipped(NamedTuple):
    rule_id: int
    rule_version: int
    rule_name: str
    why: Why  # the condition that failed, the limit reached, the exclusive rule that won…


class Evaluation(NamedTuple):
    awards: tuple[Award, ...]
    skipped: tuple[Skipped, ...]

    def total(self, kind: str) -> int:
        return sum(award.amount for award in self.awards if award.kind == kind)
