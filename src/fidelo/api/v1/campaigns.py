"""Campaign offers: campaigns (create, list, get, change), their offers (set, remove), offer
tracking (seen) and statistics. A member redeems through an offer with POST
/members/{id}/redemptions and `campaign` in the body."""

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from fidelo.api.v1.auth import actor_of, context
from fidelo.api.v1.campaign_schemas import (
    CampaignIn,
    CampaignListOut,
    CampaignOfferIn,
    CampaignOfferOut,
    CampaignOut,
    CampaignPatch,
    CampaignSeenIn,
    CampaignSeenOut,
    CampaignStatsOut,
)
from fidelo.api.v1.idempotency import idempotent_post
from fidelo.api.v1.members import resolve_member
from fidelo.api.v1.pagination import decode_keyset, encode_keyset, keyset_time
from fidelo.api.v1.schemas import Text, as_utc
from fidelo.core.clock import now
from fidelo.rewards.campaign_selectors import (
    access_campaign,
    campaign_offers,
    campaign_stats,
    campaigns_of,
    is_current,
)
from fidelo.rewards.campaigns import (
    campaign_create,
    campaign_offer_remove,
    campaign_offer_seen,
    campaign_offer_set,
    campaign_update,
)
from fidelo.rewards.models import Campaign, CampaignOffer
from fidelo.rewards.selectors import access_reward

router = Router(tags=["campaigns"])


def offer_body(offer: CampaignOffer) -> dict:
    reward = offer.reward
    return CampaignOfferOut(
        reward_id=reward.pk, title_fr=reward.title_fr, title_en=reward.title_en, reward_cost_points=reward.cost_points, cost_points=offer.cost,
        special_cost=offer.cost_points is not None, position=offer.position,
    ).model_dump(mode="json")


def campaign_body(campaign: Campaign, offers: list[CampaignOffer] | None = None) -> dict:
    offers = campaign_offers(campaign) if offers is None else offers
    return CampaignOut(
        code=campaign.code, name_fr=campaign.name_fr, name_en=campaign.name_en, description_fr=campaign.description_fr,
        description_en=campaign.description_en, starts_at=as_utc(campaign.starts_at), ends_at=as_utc(campaign.ends_at), active=campaign.active,
        current=is_current(campaign, now()), budget=campaign.budget, budget_spent=campaign.budget_spent, offers=[offer_body(offer) for offer in offers], created_at=campaign.created_at,
    ).model_dump(mode="json")


@router.get("", response=CampaignListOut, summary="The campaigns, the latest start first, with their offers")
def list_campaigns(request: HttpRequest, cursor: Text | None = None, limit: int = Query(50, ge=1, le=200)) -> dict:
    campaigns = campaigns_of(context(request).organization.id)
    after = decode_keyset(cursor, keyset_time)
    if after is not None:
        starts_at, pk = after
        campaigns = campaigns.filter(starts_at__lt=starts_at) | campaigns.filter(starts_at=starts_at, pk__lt=pk)
    rows = list(campaigns.prefetch_related("offers__reward")[: limit + 1])
    last = rows[limit - 1] if len(rows) > limit else None

    def ordered(campaign: Campaign) -> list[CampaignOffer]:
        return sorted(campaign.offers.all(), key=lambda o: (o.position, o.reward.cost_points, o.reward_id))

    return {
        "items": [campaign_body(c, ordered(c)) for c in rows[:limit]],
        "next_cursor": encode_keyset(as_utc(last.starts_at).isoformat(), last.pk) if last else None,
    }


@router.post("", response={201: CampaignOut}, summary="Create a campaign (then add its offers)")
def create_campaign(request: HttpRequest, body: CampaignIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        campaign = campaign_create(organization=ctx.organization, actor=actor_of(request), **body.model_dump())
        return 201, campaign_body(campaign, [])

    return idempotent_post(request, operation="campaign.create", payload=body.model_dump(mode="json"), execute=execute)


@router.get("/{code}", response=CampaignOut, summary="Get a campaign and its offers")
def get_campaign(request: HttpRequest, code: str) -> dict:
    return campaign_body(access_campaign(context(request).organization.id, code))


@router.patch("/{code}", response=CampaignOut, summary="Change some fields of a campaign (not its code)")
def update_campaign(request: HttpRequest, code: str, body: CampaignPatch) -> dict:
    ctx = context(request)
    campaign = campaign_update(
        campaign=access_campaign(ctx.organization.id, code), actor=actor_of(request), **body.model_dump(exclude_unset=True)
    )
    return campaign_body(campaign)


@router.put("/{code}/offers/{reward_id}", response=CampaignOfferOut, summary="Offer a reward in the campaign, at a special cost or its own")
def set_offer(request: HttpRequest, code: str, reward_id: int, body: CampaignOfferIn) -> dict:
    ctx = context(request)
    campaign = access_campaign(ctx.organization.id, code)
    reward = access_reward(ctx.organization.id, reward_id)
    offer = campaign_offer_set(campaign=campaign, reward=reward, actor=actor_of(request), cost_points=body.cost_points, position=body.position)
    return offer_body(offer)


@router.delete("/{code}/offers/{reward_id}", response={204: None}, summary="Stop offering a reward in the campaign")
def remove_offer(request: HttpRequest, code: str, reward_id: int) -> tuple[int, None]:
    ctx = context(request)
    campaign = access_campaign(ctx.organization.id, code)
    campaign_offer_remove(campaign=campaign, reward=access_reward(ctx.organization.id, reward_id), actor=actor_of(request))
    return 204, None


@router.get("/{code}/stats", response=CampaignStatsOut, summary="Offer tracking per offer: seen, requested, used, and the rates")
def get_stats(request: HttpRequest, code: str) -> dict:
    campaign = access_campaign(context(request).organization.id, code)
    return {
        "campaign": campaign.code,
        "offers": [
            {
                "reward_id": s.reward_id, "title_fr": s.reward.title_fr, "offered": s.offered, "cost_points": s.cost_points, "seen": s.seen,
                "requested": s.requested, "used": s.used, "penetration_per_mille": s.penetration_per_mille, "usage_per_mille": s.usage_per_mille,
            }
            for s in campaign_stats(campaign)
        ],
    }


@router.post("/{code}/offers/{reward_id}/seen", response={201: CampaignSeenOut}, summary="Record that a member saw the campaign's offer")
def record_seen(request: HttpRequest, code: str, reward_id: int, body: CampaignSeenIn) -> HttpResponse:
    ctx = context(request)

    def execute() -> tuple[int, dict]:
        campaign = access_campaign(ctx.organization.id, code)
        reward = access_reward(ctx.organization.id, reward_id)
        member = resolve_member(ctx.organization, body.member)
        event = campaign_offer_seen(campaign=campaign, reward=reward, member=member)
        return 201, CampaignSeenOut(campaign=campaign.code, reward_id=reward.pk, member_id=member.pk, kind=event.kind, at=event.at).model_dump(mode="json")

    payload = {"campaign": code, "reward": reward_id, **body.model_dump(mode="json")}
    return idempotent_post(request, operation="campaign.seen", payload=payload, execute=execute)
