"""Schemas of the rules, events and simulation endpoints (no logic: services decide)."""

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictInt

from fidelo.api.v1.schemas import Cents, LineIn, MemberRef, Strict, Timestamp

Name = Annotated[str, Field(max_length=64)]


class RuleIn(Strict):
    definition: dict[str, Any] = Field(description="the rule, as documented in docs/rules.md")


class RuleOut(BaseModel):
    id: int
    name: str
    event: str
    active: bool
    version: int
    definition: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class RuleListOut(BaseModel):
    items: list[RuleOut]


class RuleVersionOut(BaseModel):
    version: int
    definition: dict[str, Any]
    created_at: dt.datetime
    created_by: str


class RuleVersionsOut(BaseModel):
    items: list[RuleVersionOut]


class EventIn(Strict):
    type: Annotated[str, Field(max_length=32)]
    name: Name = ""
    member: MemberRef
    external_id: Annotated[str, Field(min_length=1, max_length=120)]
    occurred_at: Timestamp
    store: Annotated[str, Field(max_length=64)] | None = None
    amount_cents: Cents = 0
    attributes: dict[str, Any] = Field(default_factory=dict)


class AwardOut(BaseModel):
    kind: str
    amount: int
    target: str = ""
    rule_id: int | None
    rule_version: int | None
    rule: str
    explanation: str


class SkippedOut(BaseModel):
    rule_id: int
    rule_version: int
    rule: str
    explanation: str


class EventOut(BaseModel):
    id: int | None
    type: str
    name: str
    external_id: str
    member_id: int
    occurred_at: dt.datetime
    base_points: int
    bonus_points: int
    awards: list[AwardOut]
    cancelled_at: dt.datetime | None = None


class SimulatedEventIn(Strict):
    type: Annotated[str, Field(max_length=32)]
    name: Name = ""
    occurred_at: Timestamp | None = None
    store: Annotated[str, Field(max_length=64)] | None = None
    channel: Annotated[str, Field(max_length=16)] | None = None
    amount_cents: Cents = 0
    lines: Annotated[list[LineIn], Field(max_length=500)] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


class ProfileIn(Strict):
    tier: Annotated[str, Field(max_length=32)] | None = None
    enrolled_at: Timestamp | None = None
    birthday: dt.date | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    interests: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=100)] = Field(default_factory=list)
    counts: dict[str, Annotated[StrictInt, Field(ge=0)]] = Field(default_factory=dict, description="events of each type before this one")
    counts_within: list[tuple[str, Annotated[StrictInt, Field(ge=1, le=3660)], Annotated[StrictInt, Field(ge=0)]]] = Field(
        default_factory=list, description="[type, days, count]: events of the type within the days before this one"
    )
    streak_months: dict[str, Annotated[StrictInt, Field(ge=0)]] = Field(default_factory=dict)


class SimulateIn(Strict):
    member: MemberRef | None = None
    profile: ProfileIn | None = None
    event: SimulatedEventIn


class SimulateOut(BaseModel):
    base_points: int
    bonus_points: int
    awards: list[AwardOut]
    skipped: list[SkippedOut]
