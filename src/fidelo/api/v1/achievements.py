"""Achievements (badges): list, create, change; the badges a member earned.

Members earn badges through earning rules (the `achievement` effect), once each.
"""

import datetime as dt
from typing import Annotated

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router
from pydantic import AfterValidator, BaseModel, Field, StrictBool

from fidelo.api.v1.auth import actor_of, context
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.members import member_from_path
from fidelo.api.v1.schemas import Strict, Text, refuse_nul
from fidelo.engagement.selectors import badge_by_code, badge_list, member_achievements
from fidelo.engagement.services import achievement_create, achievement_update

router = Router(tags=["achievements"])

Code = Annotated[str, AfterValidator(refuse_nul), Field(min_length=1, max_length=64)]
Name = Annotated[str, Field(max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
Icon = Annotated[str, Field(max_length=16, description="an emoji")]
ImageUrl = Annotated[str, Field(max_length=500, description="an http(s) address or a path")]


class BadgeIn(Strict):
    code: Code = Field(description="letters, digits, '-' or '_': what earning rules name")
    name_fr: Name
    name_en: Name = ""
    description_fr: Description = ""
    description_en: Description = ""
    icon: Icon = ""
    image_url: ImageUrl = ""
    active: StrictBool = True


class BadgePatch(Strict):
    """Only the fields sent change. The code never changes."""

    name_fr: Name = None  # type: ignore[assignment]  (omitted: unchanged; null: refused)
    name_en: Name = None  # type: ignore[assignment]
    description_fr: Description = None  # type: ignore[assignment]
    description_en: Description = None  # type: ignore[assignment]
    icon: Icon = None  # type: ignore[assignment]
    image_url: ImageUrl = None  # type: ignore[assignment]
    active: StrictBool = None  # type: ignore[assignment]


class BadgeOut(BaseModel):
    code: str
    name_fr: str
    name_en: str
    description_fr: str
    description_en: str
    icon: str
    image_url: str
    active: bool
    created_at: dt.datetime


class BadgeListOut(BaseModel):
    items: list[BadgeOut]


class MemberBadgeOut(BaseModel):
    code: str
    name_fr: str
    name_en: str
    description_fr: str
    description_en: str
    icon: str
    image_url: str
    earned_at: dt.datetime
    source_type: str
    source_id: int | None


class MemberBadgesOut(BaseModel):
    member_id: int
    items: list[MemberBadgeOut]


def badge_body(badge) -> dict:
    return BadgeOut(
        code=badge.code, name_fr=badge.name_fr, name_en=badge.name_en, description_fr=badge.description_fr,
        description_en=badge.description_en, icon=badge.icon, image_url=badge.image_url, active=badge.active, created_at=badge.created_at,
    ).model_dump(mode="json")


@router.get("", response=BadgeListOut, summary="The badges, by code (all=true: inactive ones too)")
def list_badges(request: HttpRequest, all: bool = Query(False, description="include inactive badges")) -> dict:
    return {"items": [badge_body(badge) for badge in badge_list(context(request).organization.id, include_inactive=all)]}


@router.post("", response={201: BadgeOut}, summary="Define a badge")
def create_badge(request: HttpRequest, body: BadgeIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        return 201, badge_body(achievement_create(organization=ctx.organization, actor=actor_of(request), **body.model_dump()))

    return idempotent_post(request, operation="badge.create", payload=body.model_dump(mode="json"), execute=execute)


@router.get("/members/{member_ref}", response=MemberBadgesOut, summary="The badges a member earned, earliest first")
def member_badges(request: HttpRequest, member_ref: Text) -> dict:
    member = member_from_path(context(request).organization, member_ref)
    return {
        "member_id": member.id,
        "items": [
            {
                "code": a.badge.code, "name_fr": a.badge.name_fr, "name_en": a.badge.name_en, "description_fr": a.badge.description_fr,
                "description_en": a.badge.description_en, "icon": a.badge.icon, "image_url": a.badge.image_url, "earned_at": a.earned_at,
                "source_type": a.source_type, "source_id": a.source_id,
            }
            for a in member_achievements(member)
        ],
    }


@router.patch("/{code}", response=BadgeOut, summary="Change some fields of a badge")
def update_badge(request: HttpRequest, code: Text, body: BadgePatch) -> dict:
    ctx = context(request)
    badge = badge_by_code(ctx.organization.id, code)
    return badge_body(achievement_update(badge=badge, actor=actor_of(request), **body.model_dump(exclude_unset=True)))
