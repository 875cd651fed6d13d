"""Reads of stamp cards and achievements: definitions (cached), a member's cards and badges, stats.

Definitions are read on every event that earns stamps or badges and by the rules
validation (known card and badge codes): they are cached per process for CACHE_SECONDS. A
change made in this process is seen at once (the services clear the cache), in other
processes within CACHE_SECONDS.
"""

import time
from dataclasses import dataclass

from django.db.models import Count, QuerySet, Sum

from fidelo.engagement.errors import BadgeNotFound, StampCardNotFound
from fidelo.engagement.models import (
    Badge,
    MemberAchievement,
    MemberStampCard,
    StampCard,
)
from fidelo.members.models import Member

CACHE_SECONDS = 5.0

_cards: dict[tuple[int, str], tuple[float, StampCard]] = {}
_badges: dict[tuple[int, str], tuple[float, Badge]] = {}
_card_codes: dict[int, tuple[float, frozenset[str]]] = {}
_badge_codes: dict[int, tuple[float, frozenset[str]]] = {}


def clear_caches() -> None:
    for cache in (_cards, _badges, _card_codes, _badge_codes):
        cache.clear()


def forget_stamp_card(organization_id: int, code: str) -> None:
    _cards.pop((organization_id, code), None)
    _card_codes.pop(organization_id, None)


def forget_badge(organization_id: int, code: str) -> None:
    _badges.pop((organization_id, code), None)
    _badge_codes.pop(organization_id, None)


def _fresh(entry: tuple[float, object] | None) -> bool:
    return entry is not None and entry[0] > time.monotonic()


# --- definitions ---------------------------------------------------------------------------


def stamp_card_by_code(organization_id: int, code: str) -> StampCard:
    """The organization's card with this code (cached), active or not."""
    cached = _cards.get((organization_id, code))
    if cached is not None and _fresh(cached):
        return cached[1]
    card = StampCard.objects.filter(organization_id=organization_id, code=code).first() if isinstance(code, str) and code else None
    if card is None:
        raise StampCardNotFound(f"No stamp card with code {code!r}", card=code)
    _cards[(organization_id, code)] = (time.monotonic() + CACHE_SECONDS, card)
    return card


def badge_by_code(organization_id: int, code: str) -> Badge:
    """The organization's badge with this code (cached), active or not."""
    cached = _badges.get((organization_id, code))
    if cached is not None and _fresh(cached):
        return cached[1]
    badge = Badge.objects.filter(organization_id=organization_id, code=code).first() if isinstance(code, str) and code else None
    if badge is None:
        raise BadgeNotFound(f"No badge with code {code!r}", badge=code)
    _badges[(organization_id, code)] = (time.monotonic() + CACHE_SECONDS, badge)
    return badge


def stamp_cards_of(organization_id: int) -> frozenset[str]:
    """The codes of the organization's stamp cards, active or not (what a rule may name)."""
    cached = _card_codes.get(organization_id)
    if cached is not None and _fresh(cached):
        return cached[1]
    codes = frozenset(StampCard.objects.filter(organization_id=organization_id).values_list("code", flat=True))
    _card_codes[organization_id] = (time.monotonic() + CACHE_SECONDS, codes)
    return codes


def badges_of(organization_id: int) -> frozenset[str]:
    """The codes of the organization's badges, active or not (what a rule may name)."""
    cached = _badge_codes.get(organization_id)
    if cached is not None and _fresh(cached):
        return cached[1]
    codes = frozenset(Badge.objects.filter(organization_id=organization_id).values_list("code", flat=True))
    _badge_codes[organization_id] = (time.monotonic() + CACHE_SECONDS, codes)
    return codes


def stamp_card_list(organization_id: int, *, include_inactive: bool = True) -> QuerySet[StampCard]:
    cards = StampCard.objects.filter(organization_id=organization_id)
    return (cards if include_inactive else cards.filter(active=True)).order_by("code")


def badge_list(organization_id: int, *, include_inactive: bool = True) -> QuerySet[Badge]:
    badges = Badge.objects.filter(organization_id=organization_id)
    return (badges if include_inactive else badges.filter(active=True)).order_by("code")


# --- a member's progress -------------------------------------------------------------------


@dataclass(frozen=True)
class MemberCard:
    card: StampCard
    stamps: int  # on the current card
    stamps_required: int
    completed: int  # cards filled so far

    @property
    def stamps_left(self) -> int:
        return max(self.stamps_required - self.stamps, 0)


def member_stamp_cards(member: Member) -> list[MemberCard]:
    """Every active card of the organization with the member's progress (0 if none yet), and
    the inactive cards the member has stamps or completions on; by code."""
    progress = {row.card_id: row for row in MemberStampCard.objects.filter(member=member)}
    cards = StampCard.objects.filter(organization_id=member.organization_id).select_related("reward").order_by("code")
    result = []
    for card in cards:
        row = progress.get(card.pk)
        if not card.active and (row is None or (row.stamps == 0 and row.completed == 0)):
            continue
        result.append(
            MemberCard(card=card, stamps=row.stamps if row else 0, stamps_required=card.stamps_required, completed=row.completed if row else 0)
        )
    return result


def member_achievements(member: Member) -> QuerySet[MemberAchievement]:
    """The badges the member earned, earliest first."""
    return MemberAchievement.objects.filter(member=member).select_related("badge").order_by("earned_at", "pk")


# --- stats ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardStats:
    code: str
    name: str
    members: int  # members with a stamp on this card at least once
    stamps_given: int
    stamps_taken_back: int
    cards_completed: int


@dataclass(frozen=True)
class StampStats:
    stamps_given: int
    stamps_taken_back: int
    cards_completed: int
    cards: tuple[CardStats, ...]


def stamp_stats(organization_id: int) -> StampStats:
    """Stamps given and taken back, cards filled, per card and in all (from the members' card rows)."""
    sums = {
        row["card_id"]: row
        for row in MemberStampCard.objects.filter(organization_id=organization_id)
        .values("card_id")
        .annotate(members=Count("pk"), given=Sum("stamps_earned"), taken=Sum("stamps_reversed"), completed=Sum("completed"))
    }
    cards = []
    for card in stamp_card_list(organization_id):
        row = sums.get(card.pk, {})
        cards.append(
            CardStats(
                code=card.code, name=card.name_fr, members=row.get("members", 0) or 0, stamps_given=int(row.get("given") or 0),
                stamps_taken_back=int(row.get("taken") or 0), cards_completed=int(row.get("completed") or 0),
            )
        )
    return StampStats(
        stamps_given=sum(c.stamps_given for c in cards), stamps_taken_back=sum(c.stamps_taken_back for c in cards),
        cards_completed=sum(c.cards_completed for c in cards), cards=tuple(cards),
    )


def badge_counts(organization_id: int) -> dict[str, int]:
    """Per badge code: how many members earned it."""
    rows = MemberAchievement.objects.filter(organization_id=organization_id).values("badge__code").annotate(n=Count("pk"))
    return {row["badge__code"]: row["n"] for row in rows}
