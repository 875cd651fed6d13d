"""Referrals: the organization's settings, a member's code, link and referrals, enrolling with a code, statistics."""

import datetime as dt
from typing import Annotated

from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse
from ninja import Router
from pydantic import BaseModel, Field, StrictBool, StrictInt

from fidelo.api.v1.auth import actor_of, context
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.members import member_from_path, resolve_member
from fidelo.api.v1.schemas import MemberRef, Strict, Text, Timestamp, as_utc
from fidelo.core.clock import now, require_aware
from fidelo.core.errors import ValidationFailed
from fidelo.core.money import MAX_MINOR
from fidelo.referrals.models import Referral, ReferralSettings
from fidelo.referrals.selectors import (
    member_referrals,
    referral_of,
    referral_settings_for,
    referral_stats,
)
from fidelo.referrals.services import (
    MAX_POINTS,
    referral_code_for,
    referral_enroll,
    referral_settings_update,
)
from fidelo.tenancy.models import Organization
from fidelo.tenancy.selectors import program_for

router = Router(tags=["referrals"])

UnitAmount = Annotated[StrictInt, Field(ge=0, le=MAX_POINTS, description="in the program's unit: points, or cents in cashback mode")]


class ReferralSettingsIn(Strict):
    enabled: StrictBool
    referrer_points: UnitAmount
    referee_points: UnitAmount
    min_purchase_cents: Annotated[StrictInt, Field(ge=0, le=MAX_MINOR)] = 0
    completion_days: Annotated[StrictInt, Field(ge=0, le=3650, description="0: no limit")] = 0
    max_per_referrer_per_year: Annotated[StrictInt, Field(ge=0, le=100_000, description="0: no limit")] = 0
    link_base_url: Annotated[str, Field(max_length=300, description="your own sign-up page; empty: the member portal")] = ""


class ReferralSettingsOut(BaseModel):
    enabled: bool
    unit: str
    referrer_points: int
    referee_points: int
    min_purchase_cents: int
    completion_days: int
    max_per_referrer_per_year: int
    link_base_url: str


class ReferralOut(BaseModel):
    id: int
    referrer_id: int
    referee_id: int
    code: str
    status: str
    enrolled_at: dt.datetime
    complete_by: dt.datetime | None
    completed_at: dt.datetime | None
    closed_at: dt.datetime | None
    referrer_points: int
    referee_points: int
    referrer_capped: bool
    source_type: str
    source_id: int | None


class MemberReferralsOut(BaseModel):
    member_id: int
    code: str
    link: str
    referred_by: ReferralOut | None
    referrals: list[ReferralOut]


class EnrollIn(Strict):
    member: MemberRef
    code: Annotated[str, Field(min_length=1, max_length=32)]


class ReferralStatsOut(BaseModel):
    start: dt.datetime
    end: dt.datetime
    unit: str
    made: int
    completed: int
    refused: int
    expired: int
    referrer_points: int
    referee_points: int
    points_given: int



def referral_body(referral: Referral) -> dict:
    return ReferralOut(
        id=referral.id, referrer_id=referral.referrer_id, referee_id=referral.referee_id, code=referral.code, status=referral.status,
        enrolled_at=as_utc(referral.enrolled_at), complete_by=as_utc(referral.complete_by), completed_at=as_utc(referral.completed_at),
        closed_at=as_utc(referral.closed_at), referrer_points=referral.referrer_points, referee_points=referral.referee_points,
        referrer_capped=referral.referrer_capped, source_type=referral.source_type, source_id=referral.source_id,
    ).model_dump(mode="json")


def settings_body(settings: ReferralSettings, organization: Organization) -> dict:
    return {
        "enabled": settings.enabled, "unit": program_for(organization.id).unit, "referrer_points": settings.referrer_points,
        "referee_points": settings.referee_points, "min_purchase_cents": settings.min_purchase_minor,
        "completion_days": settings.completion_days, "max_per_referrer_per_year": settings.max_per_referrer_per_year,
        "link_base_url": settings.link_base_url,
    }


def portal_url(request: HttpRequest, organization: Organization) -> str:
    """The organization's member portal: FIDELO_PUBLIC_URL (settings.PUBLIC_URL) or this server's address."""
    base = (getattr(django_settings, "PUBLIC_URL", "") or request.build_absolute_uri("/")).rstrip("/")
    return f"{base}/portal/{organization.slug}"


@router.get("/settings", response=ReferralSettingsOut, summary="The referral program's settings")
def get_settings(request: HttpRequest) -> dict:
    organization = context(request).organization
    return settings_body(referral_settings_for(organization.id), organization)


@router.put("/settings", response=ReferralSettingsOut, summary="Change the referral program's settings")
def put_settings(request: HttpRequest, body: ReferralSettingsIn) -> dict:
    organization = context(request).organization
    values = body.model_dump()
    values["min_purchase_minor"] = values.pop("min_purchase_cents")
    saved = referral_settings_update(organization=organization, actor=actor_of(request), **values)
    return settings_body(saved, organization)


@router.get("/members/{member_ref}", response=MemberReferralsOut, summary="A member's code, link and the referrals they made")
def get_member_referrals(request: HttpRequest, member_ref: Text) -> dict:
    organization = context(request).organization
    member = member_from_path(organization, member_ref)
    referral_code_for(member=member)  # made on first request
    found = member_referrals(member, base_url=portal_url(request, organization))
    return {
        "member_id": member.id, "code": found.code, "link": found.link,
        "referred_by": referral_body(found.referred_by) if found.referred_by else None,
        "referrals": [referral_body(r) for r in found.referrals],
    }


@router.post("/enroll", response={200: ReferralOut, 201: ReferralOut}, summary="Link a member who joined with a referral code")
def enroll(request: HttpRequest, body: EnrollIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        member = resolve_member(ctx.organization, body.member)
        before = referral_of(member)
        referral = referral_enroll(referee=member, code=body.code)
        # Enrolled again with the same referrer's code: the existing referral, 200.
        return (200 if before is not None and before.pk == referral.pk else 201), referral_body(referral)

    return idempotent_post(request, operation="referral.enroll", payload=body.model_dump(mode="json"), execute=execute)


@router.get("/stats", response=ReferralStatsOut, summary="Referrals made, completed, refused, expired and points given in a period")
def get_stats(request: HttpRequest, start: Timestamp | None = None, end: Timestamp | None = None) -> dict:
    organization = context(request).organization
    end = require_aware(end, "end") if end else now()
    start = require_aware(start, "start") if start else end - dt.timedelta(days=30)
    if start >= end:
        raise ValidationFailed("start must come before end", code="invalid_period", field="start")
    stats = referral_stats(organization.id, start, end)
    return {
        "start": start, "end": end, "unit": program_for(organization.id).unit, "made": stats.made, "completed": stats.completed,
        "refused": stats.refused, "expired": stats.expired, "referrer_points": stats.referrer_points,
        "referee_points": stats.referee_points, "points_given": stats.points_given,
    }
