"""Reads of the rewards catalog: access, catalog for a member, vouchers, stats, charity totals."""

import datetime as dt
import time
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from fidelo.core.clock import now
from fidelo.members.models import Member
from fidelo.rewards.errors import RewardNotFound, VoucherNotFound
from fidelo.rewards.models import (
    AutoRedemption,
    OfferEvent,
    OfferEventKind,
    PartnerCode,
    Reward,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from fidelo.rewards.services import normalize_code


def access_reward(organization_id: int, reward_id: int) -> Reward:
    reward = Reward.objects.filter(organization_id=organization_id, pk=reward_id).first() if 0 < reward_id < 2**63 else None
    if reward is None:
        raise RewardNotFound(f"No reward with id {reward_id}", reward_id=reward_id)
    return reward


CACHE_SECONDS = 5.0
_rewards: dict[tuple[int, int], tuple[float, Reward]] = {}


def reward_for_redemption(organization_id: int, reward_id: int) -> Reward:
    """The reward, cached per process for a few seconds (the redemption hot path).

    Only what a redemption reads before writing comes from the cache (cost, validity, tiers,
    limits, kind); the stock is taken with a conditional update on the row itself, so a
    cached copy never oversells. A change made in this process is seen at once (the cache
    is cleared by reward_update), in other processes within CACHE_SECONDS.
    """
    key = (organization_id, reward_id)
    cached = _rewards.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    reward = access_reward(organization_id, reward_id)
    _rewards[key] = (time.monotonic() + CACHE_SECONDS, reward)
    return reward


def forget_reward(organization_id: int, reward_id: int) -> None:
    _rewards.pop((organization_id, reward_id), None)


def clear_caches() -> None:
    _rewards.clear()


def access_voucher(organization_id: int, code: str) -> Voucher:
    voucher = (
        Voucher.objects.select_related("reward", "member", "campaign")
        .filter(organization_id=organization_id, code=normalize_code(code))
        .first()
    )
    if voucher is None:
        raise VoucherNotFound()
    return voucher


def catalog(organization_id: int, *, at: dt.datetime | None = None, include_inactive: bool = False) -> QuerySet[Reward]:
    """The rewards on offer now (valid, active, in stock; a partner reward with a free code), cheapest first."""
    at = at or now()
    rewards = Reward.objects.filter(organization_id=organization_id)
    if not include_inactive:
        free_code = PartnerCode.objects.filter(reward=OuterRef("pk"), voucher__isnull=True)
        rewards = rewards.filter(active=True).filter(Q(valid_from__isnull=True) | Q(valid_from__lte=at)).filter(
            Q(valid_until__isnull=True) | Q(valid_until__gt=at)
        ).exclude(stock=0).exclude(Q(kind=RewardKind.PARTNER_CODE) & ~Exists(free_code))
    return rewards.order_by("cost_points", "pk")


def member_vouchers(member: Member, *, status: str | None = None) -> QuerySet[Voucher]:
    vouchers = Voucher.objects.filter(member=member).select_related("reward", "campaign").order_by("-issued_at", "-pk")
    return vouchers.filter(status=status) if status else vouchers


@dataclass(frozen=True)
class OfferStats:
    reward_id: int
    seen: int  # distinct members who saw the offer
    requested: int  # distinct members who redeemed it
    used: int  # distinct members who used their voucher
    penetration_rate: float | None  # requested / seen
    usage_rate: float | None  # used / requested


def offer_stats(reward: Reward) -> OfferStats:
    counts = dict(
        OfferEvent.objects.filter(reward=reward).values("kind").annotate(members=Count("member", distinct=True)).values_list("kind", "members")
    )
    seen, requested, used = (counts.get(kind, 0) for kind in (OfferEventKind.SEEN, OfferEventKind.REQUESTED, OfferEventKind.USED))
    return OfferStats(
        reward_id=reward.pk, seen=seen, requested=requested, used=used,
        penetration_rate=round(requested / seen, 4) if seen else None,
        usage_rate=round(used / requested, 4) if requested else None,
    )


def charity_totals(organization_id: int) -> list[dict]:
    """Per association: donations made, points given and euros donated (in cents)."""
    rows = (
        Voucher.objects.filter(organization_id=organization_id, reward__kind=RewardKind.DONATION, status=VoucherStatus.USED)
        .values("reward__charity_name")
        .annotate(donations=Count("pk"), points=Sum("points"), amount_minor=Sum("used_value_minor"))
        .order_by("reward__charity_name")
    )
    return [
        {"association": row["reward__charity_name"], "donations": row["donations"], "points": row["points"] or 0, "amount_cents": row["amount_minor"] or 0}
        for row in rows
    ]


def auto_redemption_reward_id(member: Member) -> int | None:
    """The reward the member chose to have issued automatically, if any."""
    return AutoRedemption.objects.filter(member=member).values_list("reward_id", flat=True).first()
