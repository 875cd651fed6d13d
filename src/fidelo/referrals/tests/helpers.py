"""Helpers the referral tests share: turn referrals on, refer a new member, buy, snapshot the tables."""

import datetime as dt

from fidelo.conftest import STAFF, make_member
from fidelo.core.models import AuditEntry
from fidelo.ledger.models import Lot, Transfer
from fidelo.ledger.tests.helpers import buy
from fidelo.members.models import Member
from fidelo.referrals.models import Referral, ReferralCode, ReferralSettings
from fidelo.referrals.services import (
    referral_code_for,
    referral_enroll,
    referral_progress,
    referral_settings_update,
)
from fidelo.tenancy.models import Organization, Program

EUROS = 100


def enable(org: Organization, **settings: object) -> ReferralSettings:
    """Referrals on: 100 points to the referrer, 50 to the new member, from a first purchase of 20 €."""
    values = {"enabled": True, "referrer_points": 100, "referee_points": 50, "min_purchase_minor": 20 * EUROS}
    values.update(settings)
    return referral_settings_update(organization=org, actor=STAFF, **values)


def refer(org: Organization, referrer: Member, *, at: dt.datetime | None = None, **fields: object) -> tuple[Member, Referral]:
    """A new member who joins with the referrer's code."""
    referee = make_member(org, **fields)
    return referee, referral_enroll(referee=referee, code=referral_code_for(member=referrer), at=at)


def purchase_and_progress(program: Program, member: Member, cents: int, *, occurred_at: dt.datetime) -> Referral | None:
    """What the awards orchestrator does: record the purchase, then let the referral progress."""
    result = buy(program, member, cents, occurred_at=occurred_at)
    return referral_progress(
        program=program, member=member, amount_minor=cents, occurred_at=occurred_at, source_type="purchase",
        source_id=result.purchase.id,
    )


def snapshot() -> dict:
    return {
        "referrals": list(Referral.objects.order_by("pk").values_list("pk", "status", "referrer_points", "referee_points")),
        "codes": list(ReferralCode.objects.order_by("pk").values_list("pk", "code")),
        "settings": list(ReferralSettings.objects.order_by("pk").values()),
        "transfers": Transfer.objects.count(),
        "lots": Lot.objects.count(),
        "audit": AuditEntry.objects.count(),
    }
