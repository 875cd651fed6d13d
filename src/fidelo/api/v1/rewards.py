"""The rewards catalog: list, create, get, update; partner code pools; offer tracking and stats; charity totals."""


from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from fidelo.api.v1.auth import actor_of, context, store_for
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.members import resolve_member
from fidelo.api.v1.pagination import decode_keyset, encode_keyset, keyset_int
from fidelo.api.v1.reward_schemas import (
    CharityTotalsOut,
    CodesIn,
    CodesOut,
    OfferEventOut,
    OfferStatsOut,
    RewardIn,
    RewardListOut,
    RewardOut,
    RewardPatch,
    SeenIn,
)
from fidelo.api.v1.schemas import Text, as_utc
from fidelo.rewards.models import Reward
from fidelo.rewards.selectors import access_reward, catalog, charity_totals, offer_stats
from fidelo.rewards.services import (
    offer_seen,
    reward_add_codes,
    reward_create,
    reward_update,
)
from fidelo.tenancy.models import Store
from fidelo.tenancy.selectors import KeyContext, program_for

router = Router(tags=["rewards"])

# API names of the reward fields that differ from the model's.
RENAMED = {"amount_cents": "amount_minor", "min_basket_cents": "min_basket_minor"}



def reward_body(reward: Reward, stores: list[str] | None = None) -> dict:
    return RewardOut(
        id=reward.id, kind=reward.kind, title_fr=reward.title_fr, title_en=reward.title_en, description_fr=reward.description_fr,
        description_en=reward.description_en, image_url=reward.image_url, cost_points=reward.cost_points, stock=reward.stock,
        valid_from=as_utc(reward.valid_from), valid_until=as_utc(reward.valid_until), limit_per_member=reward.limit_per_member,
        allowed_tiers=list(reward.allowed_tiers or []),
        stores=stores if stores is not None else sorted(store.code for store in reward.stores.all()),
        active=reward.active, amount_cents=reward.amount_minor, percent_bp=reward.percent_bp, min_basket_cents=reward.min_basket_minor,
        product_sku=reward.product_sku, charity_name=reward.charity_name, voucher_days=reward.voucher_days,
        refund_points_on_expiry=reward.refund_points_on_expiry, created_at=reward.created_at,
    ).model_dump(mode="json")


def _stores(ctx: KeyContext, codes: list[str]) -> list[Store]:
    return [store_for(ctx, code) for code in dict.fromkeys(codes)]  # a store key may name only its own store


def _fields(values: dict) -> dict:
    return {RENAMED.get(name, name): value for name, value in values.items() if name != "stores"}


@router.get("", response=RewardListOut, summary="The rewards on offer now, cheapest first (all=true: every reward)")
def list_rewards(
    request: HttpRequest, all: bool = Query(False, description="include inactive, expired and sold-out rewards"),
    cursor: Text | None = None, limit: int = Query(50, ge=1, le=200),
) -> dict:
    rewards = catalog(context(request).organization.id, include_inactive=all).prefetch_related("stores")
    after = decode_keyset(cursor, keyset_int)
    if after is not None:
        cost, pk = after
        rewards = rewards.filter(Q(cost_points__gt=cost) | Q(cost_points=cost, pk__gt=pk))
    rows = list(rewards[: limit + 1])
    last = rows[limit - 1] if len(rows) > limit else None
    return {"items": [reward_body(r) for r in rows[:limit]], "next_cursor": encode_keyset(last.cost_points, last.pk) if last else None}


@router.post("", response={201: RewardOut}, summary="Add a reward to the catalog")
def create_reward(request: HttpRequest, body: RewardIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        stores = _stores(ctx, body.stores)
        reward = reward_create(
            organization=ctx.organization, program=program_for(ctx.organization.id), actor=actor_of(request), stores=stores,
            **_fields(body.model_dump()),
        )
        return 201, reward_body(reward, sorted(store.code for store in stores))

    return idempotent_post(request, operation="reward.create", payload=body.model_dump(mode="json"), execute=execute)


@router.get("/charity/totals", response=CharityTotalsOut, summary="Donations per association: count, points and euros")
def get_charity_totals(request: HttpRequest) -> dict:
    ctx = context(request)
    return {"currency": ctx.organization.currency, "items": charity_totals(ctx.organization.id)}


@router.get("/{reward_id}", response=RewardOut, summary="Get a reward")
def get_reward(request: HttpRequest, reward_id: int) -> dict:
    return reward_body(access_reward(context(request).organization.id, reward_id))


@router.patch("/{reward_id}", response=RewardOut, summary="Change some fields of a reward")
def update_reward(request: HttpRequest, reward_id: int, body: RewardPatch) -> dict:
    ctx = context(request)
    sent = body.model_dump(exclude_unset=True)
    stores = _stores(ctx, sent["stores"]) if "stores" in sent else None
    reward = reward_update(
        reward=access_reward(ctx.organization.id, reward_id), program=program_for(ctx.organization.id), actor=actor_of(request),
        stores=stores, **_fields(sent),
    )
    return reward_body(reward)


@router.post("/{reward_id}/codes", response={201: CodesOut}, summary="Upload partner codes to the reward's pool")
def add_codes(request: HttpRequest, reward_id: int, body: CodesIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        reward = access_reward(ctx.organization.id, reward_id)
        added = reward_add_codes(reward=reward, codes=body.codes, actor=actor_of(request))
        return 201, CodesOut(reward_id=reward.id, added=added).model_dump(mode="json")

    return idempotent_post(request, operation="reward.codes", payload={"reward": reward_id, **body.model_dump(mode="json")}, execute=execute)


@router.get("/{reward_id}/stats", response=OfferStatsOut, summary="Offer tracking: seen, requested, used, and the rates")
def get_stats(request: HttpRequest, reward_id: int) -> dict:
    stats = offer_stats(access_reward(context(request).organization.id, reward_id))
    return {
        "reward_id": stats.reward_id, "seen": stats.seen, "requested": stats.requested, "used": stats.used,
        "penetration_rate": stats.penetration_rate, "usage_rate": stats.usage_rate,
    }


@router.post("/{reward_id}/seen", response={201: OfferEventOut}, summary="Record that a member saw the offer")
def record_seen(request: HttpRequest, reward_id: int, body: SeenIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        reward = access_reward(ctx.organization.id, reward_id)
        member = resolve_member(ctx.organization, body.member)
        event = offer_seen(reward=reward, member=member)
        return 201, OfferEventOut(reward_id=reward.id, member_id=member.id, kind=event.kind, at=event.at).model_dump(mode="json")

    return idempotent_post(request, operation="reward.seen", payload={"reward": reward_id, **body.model_dump(mode="json")}, execute=execute)
