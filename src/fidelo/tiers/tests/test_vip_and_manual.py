"""A VIP level bought for a period, then its end; staff overrides."""

import pytest

from fidelo.conftest import STAFF, make_member, make_org, program_of
from fidelo.core.clock import travel_to
from fidelo.core.errors import DomainError
from fidelo.core.models import AuditEntry
from fidelo.members.models import Member, MemberStatus
from fidelo.tiers.models import TierHistory, TierStatus, TierVipPurchase
from fidelo.tiers.selectors import (
    access_tier_level,
    member_tier_history,
    member_tier_status,
)
from fidelo.tiers.services import (
    tier_level_update,
    tier_set_manual,
    tier_vip_purchase,
    tiers_review_due,
)
from fidelo.tiers.tests.helpers import earn, ladder, paris, tier_of

pytestmark = pytest.mark.django_db


def buy_vip(program, member, when, tier_code="platinum", external_id="VIP-1"):
    with travel_to(when):
        return tier_vip_purchase(program=program, member=member, tier_code=tier_code, external_id=external_id, occurred_at=when, actor=STAFF)


def refused(code: str, call) -> DomainError:
    with pytest.raises(DomainError) as error:
        call()
    assert error.value.code == code, error.value.as_problem()
    return error.value


def test_vip_bought_then_expires_and_falls_back_to_the_qualified_level(org, program, member):
    ladder(org)
    earn(program, member, paris(2025, 1, 10), points=600)  # silver by threshold
    status = buy_vip(program, member, paris(2025, 2, 1))
    assert (status.tier_code, status.via, status.vip_until) == ("platinum", "vip", paris(2026, 2, 1))
    assert tier_of(member) == "platinum"
    assert AuditEntry.objects.filter(action="tier.vip").count() == 1

    earn(program, member, paris(2025, 6, 1), points=500)  # 1100 in 2025: gold, held under the VIP level
    assert tier_of(member) == "platinum"
    assert TierStatus.objects.get(member=member).held_code == "gold"
    with travel_to(paris(2026, 1, 2)):
        assert tiers_review_due() == 0  # 2025 supports gold; the VIP still runs
        status = member_tier_status(member)
    assert status.downgrade_at == paris(2026, 2, 1) and status.falls_to.code == "gold"
    assert tier_of(member) == "platinum"

    with travel_to(paris(2026, 2, 1, 12, 5)):
        assert tiers_review_due() == 1
    assert tier_of(member) == "gold"
    status = TierStatus.objects.get(member=member)
    assert (status.via, status.vip_code, status.vip_until) == ("threshold", "", None)
    assert [(h.from_code, h.to_code, h.reason) for h in member_tier_history(member)] == [
        ("platinum", "gold", "vip_ended"), ("silver", "platinum", "vip"), ("", "silver", "upgrade"),
    ]


def test_a_vip_without_qualification_falls_back_to_no_tier(org, program, member):
    ladder(org)
    buy_vip(program, member, paris(2025, 2, 1))
    with travel_to(paris(2026, 2, 2)):
        assert tiers_review_due() == 1
    assert tier_of(member) == ""


def test_the_vip_purchase_is_idempotent_by_external_id(org, program, member):
    ladder(org)
    first = buy_vip(program, member, paris(2025, 2, 1))
    again = buy_vip(program, member, paris(2025, 2, 1, 12, 1))
    assert (again.tier_code, again.vip_until) == (first.tier_code, first.vip_until)
    assert TierVipPurchase.objects.count() == 1 and TierHistory.objects.count() == 1


def test_buying_the_same_vip_again_extends_it(org, program, member):
    ladder(org)
    buy_vip(program, member, paris(2025, 2, 1))
    status = buy_vip(program, member, paris(2025, 12, 1), external_id="VIP-2")
    assert status.vip_until == paris(2027, 2, 1)
    assert TierHistory.objects.count() == 1  # the tier did not change


def test_vip_refusals_change_nothing(org, program, member):
    ladder(org)
    tier_level_update(level=access_tier_level(org.id, "gold"), actor=STAFF, vip_price_minor=4900, vip_months=6)
    buy_vip(program, member, paris(2025, 2, 1))
    other = make_member(org)
    before = (TierVipPurchase.objects.count(), TierHistory.objects.count(), list(TierStatus.objects.values_list("member_id", "tier_code", "vip_until")))

    refused("tier_not_for_sale", lambda: buy_vip(program, other, paris(2025, 2, 2), tier_code="silver", external_id="VIP-9"))
    refused("tier_not_found", lambda: buy_vip(program, other, paris(2025, 2, 2), tier_code="diamond", external_id="VIP-9"))
    refused("vip_external_id_reused", lambda: buy_vip(program, other, paris(2025, 2, 2)))
    refused("vip_external_id_reused", lambda: buy_vip(program, member, paris(2025, 2, 2), tier_code="gold"))
    refused("vip_already_active", lambda: buy_vip(program, member, paris(2025, 3, 1), tier_code="gold", external_id="VIP-3"))
    refused("invalid_tier", lambda: buy_vip(program, other, paris(2025, 2, 2), external_id=""))
    with travel_to(paris(2025, 2, 2)):
        refused("occurred_in_future", lambda: tier_vip_purchase(program=program, member=other, tier_code="gold", external_id="VIP-8",
                                                                occurred_at=paris(2025, 2, 3), actor=STAFF))
    stranger_org = make_org("salle-de-sport")
    stranger = make_member(stranger_org)
    refused("member_not_found", lambda: buy_vip(program, stranger, paris(2025, 2, 2), external_id="VIP-7"))
    refused("tier_not_found", lambda: buy_vip(program_of(stranger_org), stranger, paris(2025, 2, 2), external_id="VIP-7"))
    Member.objects.filter(pk=other.pk).update(status=MemberStatus.CLOSED)
    other.refresh_from_db()
    refused("member_closed", lambda: buy_vip(program, other, paris(2025, 2, 2), tier_code="gold", external_id="VIP-6"))

    after = (TierVipPurchase.objects.count(), TierHistory.objects.count(), list(TierStatus.objects.values_list("member_id", "tier_code", "vip_until")))
    assert after == before


def test_staff_can_set_a_tier_until_the_end_of_the_window(org, program, member):
    ladder(org)
    with travel_to(paris(2025, 3, 1)):
        change = tier_set_manual(member=member, tier_code="gold", actor=STAFF, reason="Client historique")
    assert (change.from_code, change.to_code, change.reason) == ("", "gold", "manual")
    assert tier_of(member) == "gold"
    entry = member_tier_history(member)[0]
    assert (entry.detail, entry.actor) == ("Client historique", str(STAFF))
    assert TierStatus.objects.get(member=member).via == "manual"
    assert AuditEntry.objects.filter(action="tier.manual").count() == 1
    with travel_to(paris(2026, 1, 1, 1)):
        assert tiers_review_due() == 1  # nothing earned in 2025
    assert tier_of(member) == ""


def test_manual_refusals(org, program, member):
    ladder(org)
    refused("reason_required", lambda: tier_set_manual(member=member, tier_code="gold", actor=STAFF, reason="  "))
    refused("tier_not_found", lambda: tier_set_manual(member=member, tier_code="diamond", actor=STAFF, reason="Geste"))
    assert tier_of(member) == "" and not TierHistory.objects.exists()
