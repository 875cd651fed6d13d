"""Campaign offers: promotions that offer rewards for a while, some at a special cost.

A campaign ("Offres du moment", a summer sale…) has a code unique in its organization, a
name and a description in French and English, a start, an optional end, and an on/off
switch. Its offers name rewards of the same organization; an offer may carry a special
cost in points that replaces the reward's cost in this campaign only.

A member redeems through an offer with `reward_redeem(..., campaign=...)` (or
`redemption_plan(..., campaign=...)`): the campaign must be switched on and current, and
offer the reward; the reward's own checks (active, valid, tiers, stock, limit per member)
still apply. The voucher records the campaign, and so do its "requested" and "used" offer
events: the campaign offer's statistics count those events only, while the reward's own
totals keep counting every event, with or without a campaign.

Writes here are staff changes: each one leaves an audit row.
"""

import datetime as dt
import re

from django.db import IntegrityError, transaction

from fidelo.core.actors import Actor
from fidelo.core.audit import audit_record
from fidelo.core.clock import now, require_aware
from fidelo.core.db import write_transaction
from fidelo.members.models import Member
from fidelo.rewards.campaign_selectors import access_campaign_offer
from fidelo.rewards.errors import (
    CampaignCodeTaken,
    CampaignDatesInvalid,
    CampaignEnded,
    CampaignNotActive,
    CampaignNotFound,
    CampaignNotStarted,
    InvalidCampaign,
    OfferNotInCampaign,
    RewardNotFound,
)
from fidelo.rewards.models import (
    Campaign,
    CampaignOffer,
    OfferEvent,
    OfferEventKind,
    Reward,
)
from fidelo.tenancy.models import Organization

CODE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
EDITABLE = {"name_fr", "name_en", "description_fr", "description_en", "starts_at", "ends_at", "active", "budget"}
MAX_BUDGET = 10**12
MAX_COST = 10**9
MAX_POSITION = 10**6


def _check_campaign(campaign: Campaign) -> None:
    if not isinstance(campaign.code, str) or not CODE_PATTERN.fullmatch(campaign.code):
        raise InvalidCampaign(
            "code must be 1 to 64 lowercase letters, digits, dashes or underscores (starting with a letter or digit)", field="code"
        )
    if not isinstance(campaign.name_fr, str) or not campaign.name_fr.strip():
        raise InvalidCampaign("A French name is required", field="name_fr")
    for field, most in (("name_fr", 200), ("name_en", 200), ("description_fr", 5000), ("description_en", 5000)):
        value = getattr(campaign, field)
        if not isinstance(value, str) or len(value) > most or "\x00" in value:
            raise InvalidCampaign(f"{field} must be a text of at most {most} characters", field=field)
    if not isinstance(campaign.active, bool):
        raise InvalidCampaign("active must be true or false", field="active")
    budget = campaign.budget
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or not 0 < budget <= MAX_BUDGET):
        raise InvalidCampaign(f"budget must be between 1 and {MAX_BUDGET} (or empty: no budget)", field="budget")
    if not isinstance(campaign.starts_at, dt.datetime):
        raise InvalidCampaign("starts_at is required", field="starts_at")
    require_aware(campaign.starts_at, "starts_at")
    if campaign.ends_at is not None:
        if not isinstance(campaign.ends_at, dt.datetime):
            raise InvalidCampaign("ends_at must be a date and time (or empty: no end)", field="ends_at")
        require_aware(campaign.ends_at, "ends_at")
        if campaign.ends_at <= campaign.starts_at:
            raise CampaignDatesInvalid(
                "ends_at must come after starts_at", field="ends_at", starts_at=campaign.starts_at.isoformat(), ends_at=campaign.ends_at.isoformat(),
            )


def campaign_create(
    *, organization: Organization, actor: Actor, code: str, name_fr: str, starts_at: dt.datetime, name_en: str = "",
    description_fr: str = "", description_en: str = "", ends_at: dt.datetime | None = None, active: bool = True,
    budget: int | None = None,
) -> Campaign:
    """A new campaign (without offers yet: add them with campaign_offer_set). `budget`: shared by
    the earning rules that name the campaign (docs/rules.md), in the program's unit."""
    campaign = Campaign(
        organization=organization, code=code, name_fr=name_fr, name_en=name_en, description_fr=description_fr,
        description_en=description_en, starts_at=starts_at, ends_at=ends_at, active=active, budget=budget,
    )
    _check_campaign(campaign)
    with write_transaction():
        if Campaign.objects.filter(organization=organization, code=code).exists():
            raise CampaignCodeTaken(f"A campaign with the code {code!r} already exists", field="code", campaign_code=code)
        try:
            with transaction.atomic():  # a savepoint: a concurrent twin hits the unique index
                campaign.save()
        except IntegrityError as exc:
            raise CampaignCodeTaken(f"A campaign with the code {code!r} already exists", field="code", campaign_code=code) from exc
        audit_record(organization_id=organization.id, actor=actor, action="campaign.create", target_type="campaign", target_id=campaign.id,
                     data={"code": code})
    return campaign


def campaign_update(*, campaign: Campaign, actor: Actor, **changes: object) -> Campaign:
    """Change some of the campaign's fields (its code never changes: links and statistics name it)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidCampaign(f"Unknown or read-only campaign fields: {', '.join(sorted(unknown))}", fields=sorted(unknown))
    with write_transaction():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        for field, value in changes.items():
            setattr(campaign, field, value)
        _check_campaign(campaign)
        if changes:
            campaign.save(update_fields=sorted(changes))
        audit_record(organization_id=campaign.organization_id, actor=actor, action="campaign.update", target_type="campaign",
                     target_id=campaign.id, data={"fields": sorted(changes)})
    return campaign


def campaign_offer_set(
    *, campaign: Campaign, reward: Reward, actor: Actor, cost_points: int | None = None, position: int = 0,
) -> CampaignOffer:
    """Offer `reward` in `campaign` (or change its offer): at `cost_points` (None: the reward's own cost)."""
    if reward.organization_id != campaign.organization_id:
        raise RewardNotFound(f"No reward with id {reward.pk}", reward_id=reward.pk)
    if cost_points is not None and (not isinstance(cost_points, int) or isinstance(cost_points, bool) or not 0 < cost_points <= MAX_COST):
        raise InvalidCampaign(f"cost_points must be between 1 and {MAX_COST} (or empty: the reward's cost)", field="cost_points")
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= MAX_POSITION:
        raise InvalidCampaign(f"position must be between 0 and {MAX_POSITION}", field="position")
    with write_transaction():
        offer, created = CampaignOffer.objects.update_or_create(
            campaign=campaign, reward=reward, defaults={"cost_points": cost_points, "position": position},
        )
        audit_record(
            organization_id=campaign.organization_id, actor=actor, action="campaign.offer_set", target_type="campaign", target_id=campaign.id,
            data={"reward_id": reward.pk, "cost_points": cost_points, "position": position, "created": created},
        )
    offer.reward = reward
    return offer


def campaign_offer_remove(*, campaign: Campaign, reward: Reward, actor: Actor) -> None:
    """Stop offering `reward` in `campaign`. Vouchers already issued through it stay as they are."""
    if reward.organization_id != campaign.organization_id:
        raise RewardNotFound(f"No reward with id {reward.pk}", reward_id=reward.pk)
    with write_transaction():
        deleted, _ = CampaignOffer.objects.filter(campaign=campaign, reward=reward).delete()
        if not deleted:
            raise OfferNotInCampaign(reward_id=reward.pk, campaign=campaign.code)
        audit_record(organization_id=campaign.organization_id, actor=actor, action="campaign.offer_remove", target_type="campaign",
                     target_id=campaign.id, data={"reward_id": reward.pk})


def check_campaign_current(campaign: Campaign, at: dt.datetime) -> None:
    """The campaign is switched on and `at` falls between its start and its end."""
    if not campaign.active:
        raise CampaignNotActive(campaign=campaign.code)
    if at < campaign.starts_at:
        raise CampaignNotStarted(f"Starts at {campaign.starts_at.isoformat()}", campaign=campaign.code, starts_at=campaign.starts_at.isoformat())
    if campaign.ends_at is not None and at >= campaign.ends_at:
        raise CampaignEnded(f"Ended at {campaign.ends_at.isoformat()}", campaign=campaign.code, ends_at=campaign.ends_at.isoformat())


def campaign_offer_cost(*, campaign: Campaign, reward: Reward, member: Member, at: dt.datetime) -> int:
    """What `member` pays for `reward` through `campaign` at `at`, or the refusal (used by redemption_plan)."""
    if campaign.organization_id != member.organization_id:
        raise CampaignNotFound(campaign=campaign.code)
    check_campaign_current(campaign, at)
    return access_campaign_offer(campaign, reward).cost


def campaign_offer_seen(*, campaign: Campaign, reward: Reward, member: Member, at: dt.datetime | None = None) -> OfferEvent:
    """Offer tracking: `member` saw `reward` offered by `campaign` (counts for the reward too)."""
    if campaign.organization_id != member.organization_id:
        raise CampaignNotFound(campaign=campaign.code)
    if reward.organization_id != member.organization_id:
        raise RewardNotFound()
    access_campaign_offer(campaign, reward)
    with write_transaction():
        return OfferEvent.objects.create(
            organization_id=member.organization_id, reward=reward, member=member, kind=OfferEventKind.SEEN, at=at or now(), campaign=campaign,
        )
