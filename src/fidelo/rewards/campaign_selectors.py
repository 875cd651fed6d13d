"""Reads of campaign offers: access, the campaigns on now with their offers, offer tracking.

Offer tracking per campaign offer counts distinct members among the offer events that name
the campaign (rewards.models.OfferEvent.campaign):

- seen: members who saw the reward offered by the campaign (portal, API);
- requested: members who redeemed it through the campaign;
- used: members who used a voucher redeemed through the campaign.

Penetration rate = requested / seen; usage rate = used / requested. Both are given exactly
(`fractions.Fraction`) and as integer per mille rounded half up (667 = 66.7 %); None when
the denominator is 0. A member may redeem without a recorded "seen" (an API integration
that never reports what it shows), so a penetration rate can exceed 1.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from django.db.models import Count, Q, QuerySet

from fidelo.core.clock import now
from fidelo.rewards.errors import CampaignNotFound, OfferNotInCampaign
from fidelo.rewards.models import (
    Campaign,
    CampaignOffer,
    OfferEvent,
    OfferEventKind,
    Reward,
)
from fidelo.rewards.selectors import catalog


def access_campaign(organization_id: int, code: str) -> Campaign:
    campaign = Campaign.objects.filter(organization_id=organization_id, code=code).first() if isinstance(code, str) and len(code) <= 64 else None
    if campaign is None:
        raise CampaignNotFound(f"No campaign with the code {code!r}", campaign=str(code)[:64])
    return campaign


def access_campaign_offer(campaign: Campaign, reward: Reward) -> CampaignOffer:
    """The campaign's offer of `reward` (with both loaded), or OfferNotInCampaign."""
    offer = CampaignOffer.objects.filter(campaign_id=campaign.pk, reward_id=reward.pk).first()
    if offer is None:
        raise OfferNotInCampaign(reward_id=reward.pk, campaign=campaign.code)
    offer.campaign, offer.reward = campaign, reward
    return offer


def campaigns_of(organization_id: int) -> QuerySet[Campaign]:
    """Every campaign of the organization, the latest start first."""
    return Campaign.objects.filter(organization_id=organization_id).order_by("-starts_at", "-pk")


def campaigns_with_offer_counts(organization_id: int) -> QuerySet[Campaign]:
    """campaigns_of, each with `offer_count` (the back office's list, one query)."""
    return campaigns_of(organization_id).annotate(offer_count=Count("offers"))


def campaign_offers(campaign: Campaign) -> list[CampaignOffer]:
    """The campaign's offers in their order (position, then the reward's cost), with their rewards."""
    return list(CampaignOffer.objects.filter(campaign=campaign).select_related("reward").order_by("position", "reward__cost_points", "reward_id"))


def is_current(campaign: Campaign, at: dt.datetime) -> bool:
    return campaign.active and campaign.starts_at <= at and (campaign.ends_at is None or at < campaign.ends_at)


@dataclass(frozen=True)
class CurrentCampaign:
    campaign: Campaign
    offers: list[CampaignOffer]  # each with its reward loaded; offer.cost is what a member pays


def current_campaigns(organization_id: int, *, at: dt.datetime | None = None) -> list[CurrentCampaign]:
    """The campaigns on at `at` (switched on, started, not ended) with the offers a member can redeem now.

    An offer is listed while its reward is in the catalog (active, valid, in stock); a campaign
    with no such offer is left out. Two queries.
    """
    at = at or now()
    campaigns = list(
        Campaign.objects.filter(organization_id=organization_id, active=True, starts_at__lte=at)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        .order_by("starts_at", "pk")
    )
    if not campaigns:
        return []
    offers = (
        CampaignOffer.objects.filter(campaign__in=campaigns, reward__in=catalog(organization_id, at=at).values("pk"))
        .select_related("reward")
        .order_by("position", "reward__cost_points", "reward_id")
    )
    by_campaign: dict[int, list[CampaignOffer]] = defaultdict(list)
    for offer in offers:
        by_campaign[offer.campaign_id].append(offer)
    return [CurrentCampaign(campaign=c, offers=by_campaign[c.pk]) for c in campaigns if by_campaign[c.pk]]


def per_mille(numerator: int, denominator: int) -> int | None:
    """numerator / denominator in per mille, rounded half up, in integers only; None for 0 / 0."""
    if not denominator:
        return None
    return (2000 * numerator + denominator) // (2 * denominator)


def ratio(numerator: int, denominator: int) -> Fraction | None:
    return Fraction(numerator, denominator) if denominator else None


@dataclass(frozen=True)
class CampaignOfferStats:
    campaign_id: int
    reward_id: int
    reward: Reward
    offered: bool  # still offered by the campaign (False: removed, its past events still count)
    cost_points: int | None  # what the offer costs now (None: removed)
    special_cost: bool  # the offer's cost replaces the reward's
    position: int | None  # the offer's order (None: removed)
    seen: int  # distinct members who saw the offer
    requested: int  # distinct members who redeemed through it
    used: int  # distinct members who used a voucher redeemed through it

    @property
    def penetration_rate(self) -> Fraction | None:
        return ratio(self.requested, self.seen)

    @property
    def usage_rate(self) -> Fraction | None:
        return ratio(self.used, self.requested)

    @property
    def penetration_per_mille(self) -> int | None:
        return per_mille(self.requested, self.seen)

    @property
    def usage_per_mille(self) -> int | None:
        return per_mille(self.used, self.requested)


def campaign_offer_counts(organization_id: int, *, campaign_id: int | None = None) -> dict[tuple[int, int], dict[str, int]]:
    """{(campaign id, reward id): {"seen": n, "requested": n, "used": n}} in distinct members, one query.

    Every campaign of the organization, or one. For the statistics dashboard too.
    """
    events = OfferEvent.objects.filter(organization_id=organization_id, campaign__isnull=False)
    if campaign_id is not None:
        events = events.filter(campaign_id=campaign_id)
    rows = events.values("campaign_id", "reward_id", "kind").annotate(members=Count("member", distinct=True)).order_by()
    counts: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: {kind: 0 for kind in OfferEventKind.values})
    for row in rows:
        counts[(row["campaign_id"], row["reward_id"])][row["kind"]] = row["members"]
    return dict(counts)


def campaign_stats(campaign: Campaign) -> list[CampaignOfferStats]:
    """Offer tracking for each offer of the campaign (and each reward it offered before), in the offers' order."""
    offers = campaign_offers(campaign)
    counts = campaign_offer_counts(campaign.organization_id, campaign_id=campaign.pk)
    offered = {offer.reward_id for offer in offers}
    removed = Reward.objects.filter(pk__in=[reward_id for _c, reward_id in counts if reward_id not in offered]).order_by("pk")
    zero = {kind: 0 for kind in OfferEventKind.values}
    stats = []
    for offer in offers:
        n = counts.get((campaign.pk, offer.reward_id), zero)
        stats.append(CampaignOfferStats(
            campaign_id=campaign.pk, reward_id=offer.reward_id, reward=offer.reward, offered=True, cost_points=offer.cost,
            special_cost=offer.cost_points is not None, position=offer.position, seen=n[OfferEventKind.SEEN], requested=n[OfferEventKind.REQUESTED], used=n[OfferEventKind.USED],
        ))
    for reward in removed:
        n = counts[(campaign.pk, reward.pk)]
        stats.append(CampaignOfferStats(
            campaign_id=campaign.pk, reward_id=reward.pk, reward=reward, offered=False, cost_points=None, special_cost=False, position=None,
            seen=n[OfferEventKind.SEEN], requested=n[OfferEventKind.REQUESTED], used=n[OfferEventKind.USED],
        ))
    return stats
