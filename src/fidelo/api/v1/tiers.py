"""Tiers: the levels and how members qualify; a member's tier, progress and history; VIP purchases.

Changing the levels or the settings needs an organization key (a store's key is refused).
A member is named in the path by id (`42`) or by `card:…`, `email:…`, `phone:…` or `external_id:…`.
"""

import datetime as dt
from typing import Annotated, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Router
from pydantic import BaseModel, Field, StrictInt

from fidelo.api.v1.auth import actor_of, context
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.members import member_from_path
from fidelo.api.v1.schemas import Strict, Text, Timestamp, as_utc
from fidelo.core.clock import now
from fidelo.core.errors import PermissionDenied
from fidelo.members.models import Member
from fidelo.tenancy.selectors import KeyContext, program_for
from fidelo.tiers.errors import TierNotFound, VipExternalIdReused
from fidelo.tiers.models import TierLevel
from fidelo.tiers.selectors import (
    Level,
    access_tier_level,
    member_tier_history,
    member_tier_status,
    members_by_tier,
    tier_levels,
    tier_settings,
)
from fidelo.tiers.services import (
    tier_level_create,
    tier_level_update,
    tier_set_manual,
    tier_settings_update,
    tier_vip_purchase,
)

router = Router(tags=["tiers"])

Code = Annotated[str, Field(min_length=1, max_length=32)]
Amount = Annotated[StrictInt, Field(ge=0, le=10**12)]


class OrganizationKeyRequired(PermissionDenied):
    code = "organization_key_required"
    title = _("This needs an organization API key, not a store's")


def _organization_key(ctx: KeyContext) -> None:
    if ctx.store_id is not None:
        raise OrganizationKeyRequired()


# --- schemas ---------------------------------------------------------------------------------


class LevelIn(Strict):
    code: Code
    name_fr: Annotated[str, Field(max_length=120)]
    name_en: Annotated[str, Field(max_length=120)] = ""
    rank: Annotated[StrictInt, Field(ge=1, le=100)]
    threshold: Amount | None = Field(None, description="in the metric's unit over the window; null: bought only (VIP)")
    multiplier_percent: StrictInt = Field(100, description="earn multiplier on base points, 100 (none) to 1000")
    perks_fr: Annotated[str, Field(max_length=2000)] = ""
    perks_en: Annotated[str, Field(max_length=2000)] = ""
    vip_price_cents: Amount | None = None
    vip_months: StrictInt | None = None


class LevelPatch(Strict):
    name_fr: Annotated[str, Field(max_length=120)] | None = None
    name_en: Annotated[str, Field(max_length=120)] | None = None
    rank: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    threshold: Amount | None = None
    multiplier_percent: StrictInt | None = None
    perks_fr: Annotated[str, Field(max_length=2000)] | None = None
    perks_en: Annotated[str, Field(max_length=2000)] | None = None
    vip_price_cents: Amount | None = None
    vip_months: StrictInt | None = None


class LevelOut(BaseModel):
    code: str
    name_fr: str
    name_en: str
    rank: int
    threshold: int | None
    multiplier_percent: int
    perks_fr: str
    perks_en: str
    vip_price_cents: int | None
    vip_months: int | None
    members: int | None = None


class LevelListOut(BaseModel):
    items: list[LevelOut]


class SettingsIn(Strict):
    metric: Literal["points", "spend", "visits"]
    window: Literal["calendar_year", "rolling"]
    window_months: Annotated[StrictInt, Field(ge=1, le=36)] = 12
    grace_days: Annotated[StrictInt, Field(ge=0, le=365)] = 0


class SettingsOut(BaseModel):
    metric: str
    window: str
    window_months: int
    grace_days: int


class LevelRef(BaseModel):
    code: str
    name_fr: str
    name_en: str
    rank: int
    threshold: int | None
    multiplier_percent: int


class ProgressOut(BaseModel):
    metric: str
    value: int
    window_start: dt.datetime
    window_end: dt.datetime | None
    qualified: LevelRef | None
    next_level: LevelRef | None
    missing: int | None


class HistoryItemOut(BaseModel):
    from_tier: str | None
    to_tier: str | None
    reason: str
    detail: str
    at: dt.datetime


class MemberTierOut(BaseModel):
    member_id: int
    tier: LevelRef | None
    since: dt.datetime | None
    via: str | None
    held: LevelRef | None
    vip: LevelRef | None
    vip_until: dt.datetime | None
    progress: ProgressOut
    review_at: dt.datetime | None
    requalify_value: int
    requalify_missing: int
    downgrade_at: dt.datetime | None
    falls_to: LevelRef | None
    history: list[HistoryItemOut]


class VipIn(Strict):
    tier: Code
    external_id: Annotated[str, Field(min_length=1, max_length=120)]
    occurred_at: Timestamp | None = None


class ManualIn(Strict):
    tier: Annotated[str, Field(max_length=32)] | None = Field(None, description="null: no tier")
    reason: Annotated[str, Field(min_length=1, max_length=200)]


# --- bodies -------------------------------------------------------------------------------------


def level_body(level: TierLevel, members: int | None = None) -> dict:
    return LevelOut(
        code=level.code, name_fr=level.name_fr, name_en=level.name_en, rank=level.rank, threshold=level.threshold,
        multiplier_percent=level.multiplier_percent, perks_fr=level.perks_fr, perks_en=level.perks_en,
        vip_price_cents=level.vip_price_minor, vip_months=level.vip_months, members=members,
    ).model_dump(mode="json")


def _ref(level: Level | None) -> dict | None:
    if level is None:
        return None
    return {"code": level.code, "name_fr": level.name_fr, "name_en": level.name_en, "rank": level.rank, "threshold": level.threshold,
            "multiplier_percent": level.multiplier_percent}



def member_tier_body(member: Member) -> dict:
    status = member_tier_status(member)
    if status is None:
        raise TierNotFound("This program has no tier levels", code="tiers_not_configured")
    progress = status.progress
    return MemberTierOut(
        member_id=member.pk, tier=_ref(status.tier), since=as_utc(status.since), via=status.via or None, held=_ref(status.held),
        vip=_ref(status.vip), vip_until=as_utc(status.vip_until),
        progress=ProgressOut(
            metric=progress.metric, value=progress.value, window_start=as_utc(progress.window_start), window_end=as_utc(progress.window_end),
            qualified=_ref(progress.qualified), next_level=_ref(progress.next_level), missing=progress.missing,
        ),
        review_at=as_utc(status.review_at), requalify_value=status.requalify_value, requalify_missing=status.requalify_missing,
        downgrade_at=as_utc(status.downgrade_at), falls_to=_ref(status.falls_to),
        history=[
            HistoryItemOut(from_tier=h.from_code or None, to_tier=h.to_code or None, reason=h.reason, detail=h.detail, at=as_utc(h.at))
            for h in member_tier_history(member)
        ],
    ).model_dump(mode="json")


def _fields(values: dict) -> dict:
    renamed = {"vip_price_cents": "vip_price_minor"}
    return {renamed.get(name, name): value for name, value in values.items()}


# --- operations ------------------------------------------------------------------------------------


@router.get("", response=LevelListOut, summary="The tier levels, lowest first, with how many members hold each")
def list_levels(request: HttpRequest) -> dict:
    organization_id = context(request).organization.id
    counts = members_by_tier(organization_id)
    return {"items": [level_body(level, counts.get(level.code, 0)) for level in tier_levels(organization_id)]}


@router.post("", response={201: LevelOut}, summary="Add a tier level")
def create_level(request: HttpRequest, body: LevelIn) -> HttpResponse:
    ctx = context(request)
    _organization_key(ctx)

    def execute() -> tuple[int, dict]:
        level = tier_level_create(organization=ctx.organization, actor=actor_of(request), **_fields(body.model_dump()))
        return 201, level_body(level, 0)

    return idempotent_post(request, operation="tier.create", payload=body.model_dump(mode="json"), execute=execute)


@router.get("/settings", response=SettingsOut, summary="How members qualify: metric, window, grace period")
def get_settings(request: HttpRequest) -> dict:
    settings = tier_settings(context(request).organization.id)
    return {"metric": settings.metric, "window": settings.window, "window_months": settings.window_months, "grace_days": settings.grace_days}


@router.put("/settings", response=SettingsOut, summary="Change how members qualify")
def put_settings(request: HttpRequest, body: SettingsIn) -> dict:
    ctx = context(request)
    _organization_key(ctx)
    settings = tier_settings_update(organization=ctx.organization, actor=actor_of(request), **body.model_dump())
    return {"metric": settings.metric, "window": settings.window, "window_months": settings.window_months, "grace_days": settings.grace_days}


@router.get("/members/{member_ref}", response=MemberTierOut, summary="A member's tier, progress to the next level, coming downgrade, history")
def get_member_tier(request: HttpRequest, member_ref: Text) -> dict:
    return member_tier_body(member_from_path(context(request).organization, member_ref))


@router.post("/members/{member_ref}/vip", response={201: MemberTierOut}, summary="The member bought a VIP level (idempotent by external_id)")
def buy_vip(request: HttpRequest, member_ref: Text, body: VipIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        member = member_from_path(ctx.organization, member_ref)
        tier_vip_purchase(
            program=program_for(ctx.organization.id), member=member, tier_code=body.tier, external_id=body.external_id,
            occurred_at=body.occurred_at or now(), actor=actor_of(request),
        )
        return 201, member_tier_body(member)

    return idempotent_post(
        request, operation="tier.vip", payload={"member": member_ref, **body.model_dump(mode="json")}, execute=execute,
        key_fallback=f"tier-vip:{body.external_id}", duplicate=lambda: VipExternalIdReused(external_id=body.external_id),
    )


@router.post("/members/{member_ref}/manual", response={200: MemberTierOut}, summary="Set the member's tier by hand, with a reason")
def set_manual(request: HttpRequest, member_ref: Text, body: ManualIn) -> HttpResponse:
    ctx = context(request)
    _organization_key(ctx)

    def execute() -> tuple[int, dict]:
        member = member_from_path(ctx.organization, member_ref)
        tier_set_manual(member=member, tier_code=body.tier or "", actor=actor_of(request), reason=body.reason)
        return 200, member_tier_body(member)

    return idempotent_post(request, operation="tier.manual", payload={"member": member_ref, **body.model_dump(mode="json")}, execute=execute)


@router.get("/{code}", response=LevelOut, summary="Get a tier level")
def get_level(request: HttpRequest, code: Text) -> dict:
    organization_id = context(request).organization.id
    level = access_tier_level(organization_id, code)
    return level_body(level, members_by_tier(organization_id).get(level.code, 0))


@router.patch("/{code}", response=LevelOut, summary="Change some fields of a tier level (not its code)")
def update_level(request: HttpRequest, code: Text, body: LevelPatch) -> dict:
    ctx = context(request)
    _organization_key(ctx)
    level = tier_level_update(
        level=access_tier_level(ctx.organization.id, code), actor=actor_of(request), **_fields(body.model_dump(exclude_unset=True))
    )
    return level_body(level, members_by_tier(ctx.organization.id).get(level.code, 0))
