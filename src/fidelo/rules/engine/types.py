"""The rules engine's vocabulary: frozen dataclasses in, awards out, no database.

The engine (engine.evaluate) takes an event, what is known of the member, the program's
earning settings, the active rules and their usage so far, and returns the awards with,
for each, the rule that produced it and why; and, for each rule that did not fire, the
condition that failed. The caller (fidelo.awards) loads the facts and writes the awards.

Everything here is plain Python (no Django): the engine is unit-tested without a database.
Money is in minor units (cents), points are integers, time is timezone-aware.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True, slots=True)
class Line:
    position: int  # 1-based, as sent
    sku: str
    category: str
    brand: str
    quantity: int
    amount_minor: int  # quantity * unit price - discount


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # one of EVENT_TYPES
    occurred_at: dt.datetime  # aware
    name: str = ""  # the custom event's name (type == CUSTOM)
    store: str | None = None  # store code
    channel: str | None = None  # "online" or "offline" (purchases)
    amount_minor: int = 0  # the basket (purchases, subscription payments)
    lines: tuple[Line, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)  # the event's own fields (rating, survey id…)


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the rules may ask of the member, as of just before the event.

    The counters are filled only for what the active rules need (engine.needs tells which);
    a counter a rule needs but that is missing counts as 0.
    """

    enrolled_at: dt.datetime
    tier: str | None = None
    tier_multiplier_percent: int = 100  # the tier's earn benefit (150 = ×1.5 on base points)
    birthday: dt.date | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)  # custom attributes
    interests: frozenset[str] = frozenset()
    # Events of each type before this one: {event type or "custom:<name>": count}, lifetime.
    counts: Mapping[str, int] = field(default_factory=dict)
    # Events of each type within N days before (and excluding) this one: {(type, days): count}.
    counts_within: Mapping[tuple[str, int], int] = field(default_factory=dict)
    # Consecutive calendar months (local time) ending with the month before the event's,
    # each with at least one event of the type: {type: months}.
    streak_months: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProgramTerms:
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


@dataclass(frozen=True, slots=True)
class Usage:
    """What a rule has already given, to apply its limits. Missing = nothing yet."""

    member_day: int = 0  # to this member on the event's local day, in the capped unit
    member_month: int = 0  # this local calendar month
    member_total: int = 0
    budget_spent: int = 0  # to everyone, program unit


@dataclass(frozen=True, slots=True)
class Why:
    """A reason a member or a merchant can read: a code rendered through gettext with params."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Award:
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


@dataclass(frozen=True, slots=True)
class Skipped:
    rule_id: int
    rule_version: int
    rule_name: str
    why: Why  # the condition that failed, the limit reached, the exclusive rule that won…


@dataclass(frozen=True, slots=True)
class Evaluation:
    awards: tuple[Award, ...]
    skipped: tuple[Skipped, ...]

    def total(self, kind: str) -> int:
        return sum(award.amount for award in self.awards if award.kind == kind)
