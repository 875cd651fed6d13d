"""Stamp cards (digital punch cards): list, create, change; a member's cards.

What earns stamps is decided by earning rules (the `stamps` effect); a full card issues its
reward as a voucher, without points.
"""

import datetime as dt
from typing import Annotated

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
)

from fidelo.api.v1.auth import actor_of, context
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.members import member_from_path
from fidelo.api.v1.schemas import Strict, Text, refuse_nul
from fidelo.engagement.selectors import (
    member_stamp_cards,
    stamp_card_by_code,
    stamp_card_list,
)
from fidelo.engagement.services import stamp_card_create, stamp_card_update
from fidelo.rewards.selectors import access_reward

router = Router(tags=["stamp cards"])

Code = Annotated[str, AfterValidator(refuse_nul), Field(min_length=1, max_length=64)]
Name = Annotated[str, Field(max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
StampsRequired = Annotated[StrictInt, Field(ge=1, le=1000, description="stamps that fill the card (10: the 11th coffee free)")]

class StampCardIn(Strict):
    code: Code = Field(description="letters, digits, '-' or '_': what earning rules name")
    name_fr: Name
    name_en: Name = ""
    description_fr: Description = ""
    description_en: Description = ""
    stamps_required: StampsRequired
    reward_id: StrictInt | None = Field(None, description="the reward a full card issues (a catalog reward); null: none")
    active: StrictBool = True


class StampCardPatch(Strict):
    """Only the fields sent change; reward_id null removes the reward. The code never changes."""

    name_fr: Name = None  # type: ignore[assignment]  (omitted: unchanged; null: refused)
    name_en: Name = None  # type: ignore[assignment]
    description_fr: Description = None  # type: ignore[assignment]
    description_en: Description = None  # type: ignore[assignment]
    stamps_required: StampsRequired = None  # type: ignore[assignment]
    reward_id: StrictInt | None = None
    active: StrictBool = None  # type: ignore[assignment]


class StampCardOut(BaseModel):
    code: str
    name_fr: str
    name_en: str
    description_fr: str
    description_en: str
    stamps_required: int
    reward_id: int | None
    active: bool
    created_at: dt.datetime


class StampCardListOut(BaseModel):
    items: list[StampCardOut]


class MemberCardOut(BaseModel):
    code: str
    name_fr: str
    name_en: str
    stamps: int = Field(description="stamps on the current card")
    stamps_required: int
    stamps_left: int
    completed: int = Field(description="cards filled so far")
    reward_id: int | None
    active: bool


class MemberCardsOut(BaseModel):
    member_id: int
    items: list[MemberCardOut]


def card_body(card) -> dict:
    return StampCardOut(
        code=card.code, name_fr=card.name_fr, name_en=card.name_en, description_fr=card.description_fr, description_en=card.description_en,
        stamps_required=card.stamps_required, reward_id=card.reward_id, active=card.active, created_at=card.created_at,
    ).model_dump(mode="json")


def _reward(organization_id: int, reward_id: int | None):
    return access_reward(organization_id, reward_id) if reward_id is not None else None


@router.get("", response=StampCardListOut, summary="The stamp cards, by code (all=true: inactive ones too)")
def list_cards(request: HttpRequest, all: bool = Query(False, description="include inactive cards")) -> dict:
    return {"items": [card_body(card) for card in stamp_card_list(context(request).organization.id, include_inactive=all)]}


@router.post("", response={201: StampCardOut}, summary="Define a stamp card")
def create_card(request: HttpRequest, body: StampCardIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        fields = body.model_dump(exclude={"reward_id"})
        card = stamp_card_create(organization=ctx.organization, actor=actor_of(request), reward=_reward(ctx.organization.id, body.reward_id), **fields)
        return 201, card_body(card)

    return idempotent_post(request, operation="stamp_card.create", payload=body.model_dump(mode="json"), execute=execute)


@router.get("/members/{member_ref}", response=MemberCardsOut, summary="A member's cards: stamps on the current card, cards filled")
def member_cards(request: HttpRequest, member_ref: Text) -> dict:
    member = member_from_path(context(request).organization, member_ref)
    return {
        "member_id": member.id,
        "items": [
            {
                "code": view.card.code, "name_fr": view.card.name_fr, "name_en": view.card.name_en, "stamps": view.stamps,
                "stamps_required": view.stamps_required, "stamps_left": view.stamps_left, "completed": view.completed,
                "reward_id": view.card.reward_id, "active": view.card.active,
            }
            for view in member_stamp_cards(member)
        ],
    }


@router.patch("/{code}", response=StampCardOut, summary="Change some fields of a stamp card")
def update_card(request: HttpRequest, code: Text, body: StampCardPatch) -> dict:
    ctx = context(request)
    card = stamp_card_by_code(ctx.organization.id, code)
    changes = body.model_dump(exclude_unset=True)
    if "reward_id" in changes:
        changes["reward"] = _reward(ctx.organization.id, changes.pop("reward_id"))
    return card_body(stamp_card_update(card=card, actor=actor_of(request), **changes))
