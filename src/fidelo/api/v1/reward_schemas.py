"""Request and response schemas of the rewards catalog, vouchers and wallet (no logic: services decide)."""

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictInt

from fidelo.api.v1.schemas import Cents, MemberRef, Strict, Timestamp, refuse_nul
from fidelo.core.money import MAX_MINOR

RewardKindIn = Literal["voucher_amount", "voucher_percent", "free_product", "experience", "donation", "wallet_credit", "partner_code"]
Count = Annotated[StrictInt, Field(ge=0, le=10**9)]
Title = Annotated[str, Field(max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
# Strings inside lists: Strict refuses NUL characters in top-level strings only.
StoreCode = Annotated[str, AfterValidator(refuse_nul), Field(min_length=1, max_length=64)]
TierCode = Annotated[str, AfterValidator(refuse_nul), Field(min_length=1, max_length=64)]
PartnerCodeText = Annotated[str, AfterValidator(refuse_nul), Field(max_length=200)]
Sku = Annotated[str, Field(max_length=120)]
BasisPoints = Annotated[StrictInt, Field(ge=0, le=10000, description="a percentage in basis points: 1500 = 15 %")]
VoucherDays = Annotated[StrictInt, Field(ge=1, le=3650)]


class RewardIn(Strict):
    kind: RewardKindIn
    title_fr: Title
    title_en: Title = ""
    description_fr: Description = ""
    description_en: Description = ""
    image_url: Annotated[str, Field(max_length=500)] = ""
    cost_points: Annotated[StrictInt, Field(ge=1, le=10**9)]
    stock: Count | None = Field(None, description="units left; null: unlimited")
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None
    limit_per_member: Annotated[StrictInt, Field(ge=1, le=10**9)] | None = Field(None, description="null: no limit")
    allowed_tiers: Annotated[list[TierCode], Field(max_length=50)] = Field([], description="tier codes; empty: every member")
    stores: Annotated[list[StoreCode], Field(max_length=500)] = Field([], description="store codes; empty: every store")
    active: StrictBool = True
    amount_cents: Cents = Field(0, description="a fixed amount voucher's value, a wallet credit, the most a free product covers")
    percent_bp: BasisPoints = 0
    min_basket_cents: Cents = 0
    product_sku: Sku = ""
    charity_name: Title = ""
    voucher_days: VoucherDays = 30
    refund_points_on_expiry: StrictBool = False


class RewardPatch(Strict):
    """Only the fields sent change; a field sent as null is cleared where null means something
    (stock: unlimited, valid_from, valid_until, limit_per_member) and refused elsewhere."""

    title_fr: Title = None  # type: ignore[assignment]  (omitted: unchanged; null: refused)
    title_en: Title = None  # type: ignore[assignment]
    description_fr: Description = None  # type: ignore[assignment]
    description_en: Description = None  # type: ignore[assignment]
    image_url: Annotated[str, Field(max_length=500)] = None  # type: ignore[assignment]
    cost_points: Annotated[StrictInt, Field(ge=1, le=10**9)] = None  # type: ignore[assignment]
    stock: Count | None = None
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None
    limit_per_member: Annotated[StrictInt, Field(ge=1, le=10**9)] | None = None
    allowed_tiers: Annotated[list[TierCode], Field(max_length=50)] = None  # type: ignore[assignment]
    stores: Annotated[list[StoreCode], Field(max_length=500)] = None  # type: ignore[assignment]
    active: StrictBool = None  # type: ignore[assignment]
    amount_cents: Cents = None  # type: ignore[assignment]
    percent_bp: BasisPoints = None  # type: ignore[assignment]
    min_basket_cents: Cents = None  # type: ignore[assignment]
    product_sku: Sku = None  # type: ignore[assignment]
    charity_name: Title = None  # type: ignore[assignment]
    voucher_days: VoucherDays = None  # type: ignore[assignment]
    refund_points_on_expiry: StrictBool = None  # type: ignore[assignment]


class RewardOut(BaseModel):
    id: int
    kind: str
    title_fr: str
    title_en: str
    description_fr: str
    description_en: str
    image_url: str
    cost_points: int
    stock: int | None
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    limit_per_member: int | None
    allowed_tiers: list[str]
    stores: list[str]
    active: bool
    amount_cents: int
    percent_bp: int
    min_basket_cents: int
    product_sku: str
    charity_name: str
    voucher_days: int
    refund_points_on_expiry: bool
    created_at: dt.datetime


class RewardListOut(BaseModel):
    items: list[RewardOut]
    next_cursor: str | None


class CodesIn(Strict):
    codes: Annotated[list[PartnerCodeText], Field(min_length=1, max_length=10000)]


class CodesOut(BaseModel):
    reward_id: int
    added: int


class SeenIn(Strict):
    member: MemberRef


class OfferEventOut(BaseModel):
    reward_id: int
    member_id: int
    kind: str
    at: dt.datetime


class OfferStatsOut(BaseModel):
    reward_id: int
    seen: int = Field(description="members who saw the offer")
    requested: int = Field(description="members who redeemed it")
    used: int = Field(description="members who used their voucher")
    penetration_rate: float | None = Field(description="requested / seen")
    usage_rate: float | None = Field(description="used / requested")


class CharityTotalOut(BaseModel):
    association: str
    donations: int
    points: int
    amount_cents: int


class CharityTotalsOut(BaseModel):
    currency: str
    items: list[CharityTotalOut]


# --- vouchers ------------------------------------------------------------------------------------


class RewardSummaryOut(BaseModel):
    id: int
    kind: str
    title_fr: str
    title_en: str
    amount_cents: int
    percent_bp: int
    min_basket_cents: int
    product_sku: str
    charity_name: str


class VoucherOut(BaseModel):
    code: str
    status: Literal["issued", "used", "expired", "cancelled"]
    member_id: int
    points: int
    channel: str
    issued_at: dt.datetime
    expires_at: dt.datetime | None
    used_at: dt.datetime | None
    used_store: str | None
    used_value_cents: int
    used_purchase_external_id: str
    closed_at: dt.datetime | None
    reward: RewardSummaryOut
    campaign: str | None = Field(description="the code of the campaign it was redeemed through; null: from the catalog")
    partner_code: str | None
    qr_url: str


class VoucherListOut(BaseModel):
    items: list[VoucherOut]
    next_cursor: str | None


class RedemptionIn(Strict):
    reward_id: Annotated[StrictInt, Field(ge=1)]
    channel: Literal["portal", "pos", "api"] = "api"
    campaign: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="a campaign's code: redeem through its offer of the reward, at the offer's cost"
    )


class BasketLineIn(Strict):
    sku: Sku = ""  # (Strict refuses NUL here: each line is a model)
    quantity: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    unit_price_cents: Cents


class VoucherCheckIn(Strict):
    store: Annotated[str, Field(max_length=64)] | None = Field(None, description="store code; defaults to the API key's store")
    basket_cents: Cents
    lines: Annotated[list[BasketLineIn], Field(max_length=500)] = Field(default_factory=list)


class VoucherUseIn(VoucherCheckIn):
    purchase_external_id: Annotated[str, Field(max_length=120)] = ""


class ValuationOut(BaseModel):
    value_cents: int = Field(description="what the voucher takes off this basket")
    basket_cents: int
    voucher: VoucherOut


# --- wallet, auto-redemption -------------------------------------------------------------------


class AutoRedemptionIn(Strict):
    reward_id: Annotated[StrictInt, Field(ge=1)] | None


class AutoRedemptionOut(BaseModel):
    member_id: int
    reward_id: int | None


class WalletOut(BaseModel):
    member_id: int
    currency: str
    balance_cents: int


class WalletSpendIn(Strict):
    basket_cents: Annotated[StrictInt, Field(ge=1, le=MAX_MINOR)]
    store: Annotated[str, Field(max_length=64)] | None = Field(None, description="store code; defaults to the API key's store")


class WalletSpendOut(BaseModel):
    member_id: int
    currency: str
    applied_cents: int
    balance_cents: int
