"""Reads of purchases: access by external id, the lot their points went into."""

import datetime as dt
from dataclasses import dataclass

from fidelo.ledger.models import Lot, LotStatus, TransferKind
from fidelo.purchases.errors import PurchaseNotFound
from fidelo.purchases.models import Purchase


def access_purchase(organization_id: int, external_id: str) -> Purchase:
    purchase = Purchase.objects.select_related("member").filter(organization_id=organization_id, external_id=external_id).first()
    if purchase is None:
        raise PurchaseNotFound(f"No purchase with external id {external_id!r}", external_id=external_id)
    return purchase


def purchase_lot(purchase: Purchase) -> Lot | None:
    """The lot the purchase's base points went into (found through its earn transfer; rules' bonuses have their own)."""
    return (
        Lot.objects.select_related("member")
        .filter(transfer__source_type="purchase", transfer__source_id=purchase.pk, transfer__kind=TransferKind.EARN)
        .exclude(transfer__reason="bonus")
        .first()
    )


@dataclass(frozen=True)
class PurchasePoints:
    pending: bool
    available_at: dt.datetime | None


def purchase_points(purchase: Purchase) -> PurchasePoints:
    """Whether the purchase's points are still in the return window, and from when they are spendable."""
    lot = purchase_lot(purchase)
    if lot is None:
        return PurchasePoints(pending=False, available_at=None)
    return PurchasePoints(pending=lot.status == LotStatus.PENDING, available_at=lot.available_at)
