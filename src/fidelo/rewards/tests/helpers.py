"""Small helpers the rewards tests share: a catalog entry, points to spend, a snapshot of everything."""

import datetime as dt

from fidelo.conftest import STAFF
from fidelo.ledger.models import Account, Lot, Transfer
from fidelo.ledger.services import Earned, Why, points_earn
from fidelo.members.models import Member
from fidelo.rewards.models import OfferEvent, PartnerCode, Reward, RewardKind, Voucher
from fidelo.rewards.services import reward_create
from fidelo.tenancy.models import Program, Store

EUROS = 100  # cents per euro

# What each kind needs to be a valid catalog entry.
KIND_DEFAULTS: dict[str, dict[str, object]] = {
    RewardKind.VOUCHER_AMOUNT: {"amount_minor": 5 * EUROS},
    RewardKind.VOUCHER_PERCENT: {"percent_bp": 1000},
    RewardKind.FREE_PRODUCT: {"product_sku": "CAFE"},
    RewardKind.EXPERIENCE: {},
    RewardKind.DONATION: {"charity_name": "Les Restos du Cœur", "amount_minor": 5 * EUROS},
    RewardKind.WALLET_CREDIT: {"amount_minor": 3 * EUROS},
    RewardKind.PARTNER_CODE: {},
}


def make_reward(program: Program, kind: str = RewardKind.VOUCHER_AMOUNT, *, cost: int = 50, stores: list[Store] | None = None,
                **fields: object) -> Reward:
    values = {**KIND_DEFAULTS[kind], "title_fr": f"Récompense {kind}", "cost_points": cost, **fields}
    return reward_create(organization=program.organization, program=program, actor=STAFF, stores=stores, kind=kind, **values)


def give_points(program: Program, member: Member, points: int, *, occurred_at: dt.datetime, expires_at: dt.datetime | None | bool = True) -> Earned:
    """Points earned outside a purchase (a welcome bonus), available at once, with the program's expiry."""
    return points_earn(
        program=program, member=member, amount=points, occurred_at=occurred_at, pending_days=0, expires_at=expires_at,
        why=Why(reason="bonus", params={"label": "welcome"}, source_type="bonus", actor="system"),
    )


def snapshot() -> dict[str, object]:
    """Everything a refused request must leave untouched."""
    return {
        "vouchers": sorted(Voucher.objects.values_list("pk", "status", "used_at", "closed_at", "used_value_minor")),
        "offer_events": OfferEvent.objects.count(),
        "transfers": Transfer.objects.count(),
        "balances": sorted(Account.objects.filter(member__isnull=False).values_list("pk", "balance")),
        "lots": sorted(Lot.objects.values_list("pk", "remaining", "status")),
        "stock": sorted(Reward.objects.values_list("pk", "stock")),
        "codes": sorted(PartnerCode.objects.values_list("pk", "voucher_id")),
    }
