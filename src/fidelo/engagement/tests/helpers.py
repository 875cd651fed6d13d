"""Helpers the engagement tests share: a café's stamp card and badges, a snapshot of every engagement table."""

from fidelo.conftest import STAFF
from fidelo.engagement.models import (
    Badge,
    MemberAchievement,
    MemberStampCard,
    StampCard,
    StampCompletion,
    StampEntry,
)
from fidelo.engagement.services import achievement_create, stamp_card_create
from fidelo.rewards.models import Reward, RewardKind
from fidelo.rewards.tests.helpers import make_reward
from fidelo.tenancy.models import Program


def free_coffee(program: Program, **fields: object) -> Reward:
    values = {"title_fr": "Café offert", "title_en": "Free coffee", "product_sku": "CAFE", "cost_points": 100, **fields}
    return make_reward(program, RewardKind.FREE_PRODUCT, **values)


def coffee_card(program: Program, *, reward: Reward | None = None, required: int = 10, code: str = "cafe", **fields: object) -> StampCard:
    values = {"name_fr": "Carte café", "name_en": "Coffee card", **fields}
    return stamp_card_create(organization=program.organization, actor=STAFF, code=code, stamps_required=required, reward=reward, **values)


def badge(program: Program, code: str = "first-visit", **fields: object) -> Badge:
    values = {"name_fr": "Première visite", "icon": "☕", **fields}
    return achievement_create(organization=program.organization, actor=STAFF, code=code, **values)


def engagement_state() -> dict:
    return {
        "cards": sorted(StampCard.objects.values_list("pk", "code", "name_fr", "stamps_required", "reward_id", "active")),
        "member_cards": sorted(MemberStampCard.objects.values_list("pk", "stamps", "completed", "stamps_earned", "stamps_reversed")),
        "entries": StampEntry.objects.count(),
        "completions": StampCompletion.objects.count(),
        "badges": sorted(Badge.objects.values_list("pk", "code", "name_fr", "active", "icon", "image_url")),
        "achievements": MemberAchievement.objects.count(),
    }
