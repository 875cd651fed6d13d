"""Request and response schemas of the API (no logic: services decide)."""

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
)

from fidelo.core.money import MAX_MINOR

Cents = Annotated[StrictInt, Field(ge=0, le=MAX_MINOR, description="an amount in cents (minor units)")]
Points = Annotated[StrictInt, Field(ge=-(10**12), le=10**12)]


def refuse_nul(value: str) -> str:
    # PostgreSQL cannot store NUL characters in text: refuse them as input, not with a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# A query or path string parameter: NUL-free and of bounded length.
Text = Annotated[str, AfterValidator(refuse_nul), Field(max_length=1000)]

EARLIEST_YEAR = 2000


def refuse_ancient(value: dt.datetime) -> dt.datetime:
    # Absurd input, and near year 1 a timestamp overflows on conversion to UTC (SQLite) or is
    # stored but cannot be read back (PostgreSQL). The services refuse the future.
    if value.year < EARLIEST_YEAR:
        raise ValueError(f"must not be before the year {EARLIEST_YEAR}")
    return value


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A time as the database gives it back (UTC): an object read later shows what its creation returned."""
    return moment.astimezone(dt.UTC) if moment is not None else None


# When something happened: ISO 8601 with an offset (the services refuse a naive one).
Timestamp = Annotated[dt.datetime, AfterValidator(refuse_ancient)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: object) -> object:
        return refuse_nul(value) if isinstance(value, str) else value


class MemberRef(Strict):
    """Exactly one identifier of the member: what a till scans or a web shop knows."""

    id: StrictInt | None = None
    card: Annotated[str, Field(max_length=20)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None
    external_id: Annotated[str, Field(max_length=120)] | None = None


class LineIn(Strict):
    sku: Annotated[str, Field(max_length=120)] = ""
    name: Annotated[str, Field(max_length=200)] = ""
    category: Annotated[str, Field(max_length=120)] = ""
    brand: Annotated[str, Field(max_length=120)] = ""
    quantity: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    unit_price_cents: Cents
    discount_cents: Cents = 0


class PurchaseIn(Strict):
    member: MemberRef
    store: Annotated[str, Field(max_length=64)] | None = Field(None, description="store code; defaults to the API key's store")
    external_id: Annotated[str, Field(min_length=1, max_length=120)]
    occurred_at: Timestamp
    total_cents: Cents
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    channel: Literal["offline", "online"] = "offline"
    lines: Annotated[list[LineIn], Field(max_length=500)] = []


class PointsOut(BaseModel):
    earned: int
    status: Literal["pending", "available", "none"]
    available_at: dt.datetime | None
    bonus: int = Field(0, description="what earning rules added on top of the base points (a separate ledger credit)")


class PurchaseLineOut(BaseModel):
    position: int
    sku: str
    quantity: int
    amount_cents: int
    points: int


class PurchaseOut(BaseModel):
    id: int
    external_id: str
    member_id: int
    store: str | None
    channel: str
    occurred_at: dt.datetime
    total_cents: int
    refunded_cents: int
    currency: str
    points: PointsOut
    points_reversed: int
    lines: list[PurchaseLineOut]


class RefundLineIn(Strict):
    position: Annotated[StrictInt, Field(ge=1)] | None = None
    sku: Annotated[str, Field(max_length=120)] | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=1_000_000)]


class RefundIn(Strict):
    external_id: Annotated[str, Field(min_length=1, max_length=120)]
    amount_cents: Annotated[StrictInt, Field(ge=1, le=MAX_MINOR)] | None = None
    lines: Annotated[list[RefundLineIn], Field(max_length=500)] | None = None
    currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None
    occurred_at: Timestamp | None = None


class RefundOut(BaseModel):
    id: int
    external_id: str
    purchase_external_id: str
    amount_cents: int
    points_reversed: int
    points_forgiven: int
    purchase_refunded_cents: int
    purchase_points_reversed: int


class ConsentsIn(Strict):
    email: StrictBool | None = None
    sms: StrictBool | None = None
    voice: StrictBool | None = None


class MemberIn(Strict):
    first_name: Annotated[str, Field(max_length=120)] = ""
    last_name: Annotated[str, Field(max_length=120)] = ""
    email: Annotated[str, Field(max_length=254)] = ""
    phone: Annotated[str, Field(max_length=32)] = ""
    birthday: dt.date | None = None
    locale: Annotated[str, Field(max_length=8)] | None = None
    store: Annotated[str, Field(max_length=64)] | None = None
    external_id: Annotated[str, Field(max_length=120)] = ""
    consents: ConsentsIn = ConsentsIn()
    attributes: dict[str, Any] = Field(default_factory=dict, description="custom attributes declared in the program settings")
    interests: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)] = Field(default_factory=list)
    referral_code: Annotated[str, Field(max_length=32)] = Field("", description="the code of the member who referred this one")


class MemberPatch(Strict):
    first_name: Annotated[str, Field(max_length=120)] | None = None
    last_name: Annotated[str, Field(max_length=120)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None
    birthday: dt.date | None = None
    locale: Annotated[str, Field(max_length=8)] | None = None
    attributes: dict[str, Any] | None = Field(None, description="merged into the member's; null removes an attribute")
    interests: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)] | None = None


class ConsentOut(BaseModel):
    granted: bool
    at: dt.datetime
    source: str


class MemberOut(BaseModel):
    id: int
    card_number: str
    external_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    birthday: dt.date | None
    locale: str
    status: str
    enrolled_at: dt.datetime
    enrolled_store: str | None
    consents: dict[str, ConsentOut]
    card_qr_url: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    interests: list[str] = Field(default_factory=list)
    tier: str | None = None


class MemberListOut(BaseModel):
    items: list[MemberOut]
    next_cursor: str | None


class BalanceOut(BaseModel):
    member_id: int
    unit: str
    available: int
    pending: int
    expiring_within_30_days: int
    next_expiry: dt.datetime | None


class HistoryRuleOut(BaseModel):
    rule_id: int | None = Field(description="None for the tier's earn multiplier")
    rule_version: int | None
    rule: str
    points: int
    explanation: str


class HistoryEntryOut(BaseModel):
    id: int
    occurred_at: dt.datetime
    kind: str
    points: int = Field(description="signed change of the available balance")
    pending_points: int = Field(description="signed change of the pending balance")
    reason: str
    reason_code: str
    source_type: str
    source_id: int | None
    rules: list[HistoryRuleOut] = Field(default_factory=list, description="for a bonus: each rule that gave part of it, and why")


class HistoryOut(BaseModel):
    items: list[HistoryEntryOut]
    next_cursor: str | None


class AdjustmentIn(Strict):
    points: Annotated[StrictInt, Field(ge=-(10**9), le=10**9)]
    reason: Annotated[str, Field(max_length=500)]


class TransferIn(Strict):
    sender: MemberRef
    recipient: MemberRef
    points: Annotated[StrictInt, Field(ge=1, le=10**9)]


class TransferOut(BaseModel):
    id: int
    points: int
    sender_id: int
    recipient_id: int
    occurred_at: dt.datetime


class EntryOut(BaseModel):
    id: int
    member_id: int
    points: int
    kind: str
    occurred_at: dt.datetime


class ProgramOut(BaseModel):
    name: str
    currency_mode: str
    unit: str
    earn_units: int
    earn_per_cents: int
    rounding: str
    expiry_policy: str
    expiry_months: int
    pending_days: int
    refund_policy: str
    transfers_allowed: bool
    transfer_min: int
    transfer_max_per_day: int
    currency: str
    timezone: str
    member_attributes: list[dict[str, str]] = Field(default_factory=list)


class MemberAttributesIn(Strict):
    attributes: Annotated[list[dict[str, str]], Field(max_length=50)] = Field(
        description='the custom member attributes: [{"key": "favorite_drink", "type": "string|number|boolean|date", "label": "…"}]'
    )


class StoreOut(BaseModel):
    code: str
    name: str
    city: str
    is_online: bool


class VisitIn(Strict):
    member: MemberRef
    store: Annotated[str, Field(max_length=64)] | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=120)]
    occurred_at: Timestamp


class VisitOut(BaseModel):
    id: int
    external_id: str
    member_id: int
    store: str | None
    occurred_at: dt.datetime
    bonus_points: int = 0
