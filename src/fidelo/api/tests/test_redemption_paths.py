"""A redemption through the API spends the earliest-expiring lots, respects the stock and gives
the same lots back on cancellation — on PostgreSQL through the two-statement path
(rewards.sql), on SQLite through the general one; both must agree."""

import datetime as dt

import pytest

from fidelo.conftest import STAFF
from fidelo.core.clock import travel_to
from fidelo.core.db import write_transaction
from fidelo.ledger.models import Lot
from fidelo.ledger.selectors import ledger_verify, member_balance
from fidelo.ledger.services import Why, points_earn
from fidelo.rewards.models import OfferEvent, Voucher
from fidelo.rewards.services import reward_create
from fidelo.tenancy.selectors import forget_program, program_for
from fidelo.tenancy.services import program_update

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone.utc)


def earn(program, member, amount, when):
    with write_transaction():
        points_earn(program=program, member=member, amount=amount, why=Why(reason="bonus", params={"label": "x"}), occurred_at=when)


def test_redeeming_takes_the_earliest_expiring_lots_and_cancelling_gives_them_back(api, org, member):
    program_update(organization=org, actor=STAFF, expiry_policy="months", expiry_months=6)
    forget_program(org.id)
    program = program_for(org.id)
    with travel_to(NOW):
        earn(program, member, 30, NOW - dt.timedelta(days=150))  # expires first
        earn(program, member, 50, NOW - dt.timedelta(days=10))
        earn(program, member, 40, NOW - dt.timedelta(days=90))
        reward = reward_create(organization=org, program=program, actor=STAFF, kind="voucher_amount", title_fr="Bon de 5 €",
                               cost_points=60, amount_minor=500, stock=1)
        response = api.post(f"/api/v1/members/{member.id}/redemptions", {"reward_id": reward.id}, key="r-1")
        assert response.status_code == 201, response.content
        voucher = Voucher.objects.get(code=response.json()["code"])
        # 30 from the lot expiring first, then 30 of the 40 earned 90 days ago; the newest lot is untouched
        assert [part["amount"] for part in voucher.spent_lots] == [30, 30]
        assert sorted(Lot.objects.filter(member=member, status="available").values_list("remaining", flat=True)) == [10, 50]
        assert member_balance(member, "PTS").available == 60
        assert OfferEvent.objects.filter(reward=reward, kind="requested").count() == 1
        reward.refresh_from_db()
        assert reward.stock == 0

        # The stock is gone: refused, and nothing changed
        again = api.post(f"/api/v1/members/{member.id}/redemptions", {"reward_id": reward.id}, key="r-2")
        assert again.status_code == 409 and again.json()["code"] == "out_of_stock"
        assert member_balance(member, "PTS").available == 60 and Voucher.objects.count() == 1

        # A retry of the first request replays it
        assert api.post(f"/api/v1/members/{member.id}/redemptions", {"reward_id": reward.id}, key="r-1").content == response.content

        # Cancelling gives back the same lots with their own expiry dates
        cancelled = api.post(f"/api/v1/vouchers/{voucher.code}/cancel", key="c-1")
        assert cancelled.status_code == 200, cancelled.content
        assert member_balance(member, "PTS").available == 120
        restored = Lot.objects.filter(member=member, transfer__kind="restore").order_by("expires_at")
        originals = {lot.earned_at: lot.expires_at for lot in Lot.objects.filter(member=member, transfer__kind="earn")}
        assert [lot.remaining for lot in restored] == [30, 30]
        assert all(lot.expires_at == originals[lot.earned_at] for lot in restored)
        assert ledger_verify(organization_id=org.id) == []


def test_a_member_short_of_points_is_refused_with_the_balance(api, org, member):
    program = program_for(org.id)
    earn(program, member, 20, NOW)
    reward = reward_create(organization=org, program=program, actor=STAFF, kind="experience", title_fr="Séance", cost_points=50)
    response = api.post(f"/api/v1/members/{member.id}/redemptions", {"reward_id": reward.id}, key="r-1")
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["balance"]) == ("insufficient_points", 20)
    assert member_balance(member, "PTS").available == 20 and not Voucher.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_redemptions_racing_for_one_member_and_the_last_units_of_stock():
    from fidelo.conftest import ApiClient, make_member, make_org
    from fidelo.ledger.tests.helpers import all_at_once
    from fidelo.tenancy.services import api_key_create

    org = make_org("course")
    program = program_for(org.id)
    rich, poor = make_member(org), make_member(org)
    earn(program, rich, 1_000, NOW)
    earn(program, poor, 30, NOW)  # enough for three
    cheap = reward_create(organization=org, program=program, actor=STAFF, kind="voucher_amount", title_fr="Bon", cost_points=10, amount_minor=100)
    scarce = reward_create(organization=org, program=program, actor=STAFF, kind="experience", title_fr="Rare", cost_points=10, stock=2)
    token = api_key_create(organization=org, name="k", actor=STAFF).token
    jobs = [(poor, cheap, f"p{n}") for n in range(8)] + [(rich, scarce, f"s{n}") for n in range(6)]

    def redeem(index: int) -> tuple[int, int, str | None]:
        member, reward, key = jobs[index]
        response = ApiClient(token).post(f"/api/v1/members/{member.id}/redemptions", {"reward_id": reward.id}, key=key)
        return reward.id, response.status_code, response.json().get("code")

    codes = [value for _, value in all_at_once(len(jobs), redeem)]
    poor_results = sorted(status for reward_id, status, _ in codes if reward_id == cheap.id)
    scarce_results = sorted(status for reward_id, status, _ in codes if reward_id == scarce.id)
    assert poor_results == [201] * 3 + [409] * 5
    assert scarce_results == [201] * 2 + [409] * 4
    assert {code for reward_id, status, code in codes if status == 409} == {"insufficient_points", "out_of_stock"}
    assert member_balance(poor, "PTS").available == 0
    assert member_balance(rich, "PTS").available == 980
    assert ledger_verify(organization_id=org.id) == []
