"""Request and response schemas of the campaign offers (no logic: services decide)."""

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StrictInt

from fidelo.api.v1.schemas import MemberRef, Strict, Timestamp

CampaignCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="lowercase letters, digits, - and _")]
Name = Annotated[str, Field(max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
SpecialCost = Annotated[StrictInt, Field(ge=1, le=10**9)]
Position = Annotated[StrictInt, Field(ge=0, le=10**6)]
Budget = Annotated[StrictInt, Field(ge=1, le=10**12)]


class CampaignIn(Strict):
    code: CampaignCode
    name_fr: Name
    name_en: Name = ""
    description_fr: Description = ""
    description_en: Description = ""
    starts_at: Timestamp
    ends_at: Timestamp | None = Field(None, description="null: until switched off")
    active: StrictBool = True
    budget: Budget | None = Field(None, description="shared by the earning rules of the campaign (points, or cents in cashback mode); null: none")


class CampaignPatch(Strict):
    """Only the fields sent change; ends_at sent as null means no end; the code never changes."""

    name_fr: Name = None  # type: ignore[assignment]  (omitted: unchanged; null: refused)
    name_en: Name = None  # type: ignore[assignment]
    description_fr: Description = None  # type: ignore[assignment]
    description_en: Description = None  # type: ignore[assignment]
    starts_at: Timestamp = None  # type: ignore[assignment]
    ends_at: Timestamp | None = None
    active: StrictBool = None  # type: ignore[assignment]
    budget: Budget | None = None


class CampaignOfferIn(Strict):
    cost_points: SpecialCost | None = Field(None, description="the special cost in this campaign; null: the reward's own cost")
    position: Position = Field(0, description="order of the offers, smallest first")


class CampaignOfferOut(BaseModel):
    reward_id: int
    title_fr: str
    title_en: str
    reward_cost_points: int = Field(description="the reward's own cost")
    cost_points: int = Field(description="what a member pays through this offer")
    special_cost: bool = Field(description="the offer has its own cost")
    position: int


class CampaignOut(BaseModel):
    code: str
    name_fr: str
    name_en: str
    description_fr: str
    description_en: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    active: bool
    current: bool = Field(description="switched on, started and not ended now")
    budget: int | None = Field(description="the budget of the campaign's earning rules; null: none")
    budget_spent: int = Field(description="what the campaign's earning rules have given so far, in the program's unit")
    offers: list[CampaignOfferOut]
    created_at: dt.datetime


class CampaignListOut(BaseModel):
    items: list[CampaignOut]
    next_cursor: str | None


class CampaignSeenIn(Strict):
    member: MemberRef


class CampaignSeenOut(BaseModel):
    campaign: str
    reward_id: int
    member_id: int
    kind: str
    at: dt.datetime


class CampaignOfferStatsOut(BaseModel):
    reward_id: int
    title_fr: str
    offered: bool = Field(description="still offered (false: removed; its past events still count)")
    cost_points: int | None
    seen: int = Field(description="distinct members who saw the offer")
    requested: int = Field(description="distinct members who redeemed through it")
    used: int = Field(description="distinct members who used a voucher redeemed through it")
    penetration_per_mille: int | None = Field(description="requested / seen, per mille, rounded half up; null if nobody saw it")
    usage_per_mille: int | None = Field(description="used / requested, per mille, rounded half up; null if nobody redeemed it")


class CampaignStatsOut(BaseModel):
    campaign: str
    offers: list[CampaignOfferStatsOut]
