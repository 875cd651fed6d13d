"""Manual adjustments, transfers between members and visits through the API."""

import datetime as dt

import pytest

from fidelo.api.tests.helpers import (
    API,
    ago,
    allow_transfers,
    assert_problem,
    nothing_written,
    state,
)
from fidelo.conftest import STAFF
from fidelo.core.models import AuditEntry
from fidelo.purchases.models import Visit
from fidelo.tenancy.services import program_update

pytestmark = pytest.mark.django_db


def available(api, member) -> int:
    return api.get(f"{API}/members/{member.id}/balance").json()["available"]


def test_an_adjustment_credits_and_debits_with_a_reason(world):
    path = f"{API}/members/{world.member.id}/adjustments"
    credit = world.api.post(path, {"points": 100, "reason": "  Geste commercial  "}, key="a1")
    assert credit.status_code == 201, credit.content
    entry = credit.json()
    assert (entry["member_id"], entry["points"], entry["kind"]) == (world.member.id, 100, "adjust")
    assert dt.datetime.fromisoformat(entry["occurred_at"]).tzinfo is not None
    assert available(world.api, world.member) == 142
    debit = world.api.post(path, {"points": -142, "reason": "Erreur de caisse"}, key="a2")
    assert (debit.status_code, debit.json()["points"]) == (201, -142)
    assert available(world.api, world.member) == 0
    audit = AuditEntry.objects.filter(action="points.adjust").order_by("id")
    assert [a.data["delta"] for a in audit] == [100, -142]
    assert [a.data["note"] for a in audit] == ["Geste commercial", "Erreur de caisse"]
    assert all(a.actor.startswith("api_key:") for a in audit)


def test_an_adjustment_never_goes_below_zero(world):
    with nothing_written(idempotency_records=1):
        problem = assert_problem(
            world.api.post(f"{API}/members/{world.member.id}/adjustments", {"points": -43, "reason": "Erreur"}, key="a1"),
            409, "insufficient_points",
        )
    assert (problem["balance"], problem["requested"]) == (42, 43)


def test_a_transfer_moves_points_between_members(world):
    body = {"sender": {"card": world.member.card_number}, "recipient": {"email": world.friend.email.upper()}, "points": 30}
    before = state()
    response = world.api.post(f"{API}/transfers", body, key="gift-1")
    assert response.status_code == 201, response.content
    transfer = response.json()
    assert (transfer["points"], transfer["sender_id"], transfer["recipient_id"]) == (30, world.member.id, world.friend.id)
    assert (available(world.api, world.member), available(world.api, world.friend)) == (12, 30)
    assert state()["transfer"] - before["transfer"] == 1


def test_transfers_follow_the_program_limits(world):
    allow_transfers(world.org, transfer_min=10, transfer_max_per_day=20)
    def send(points: int, key: str):
        body = {"sender": {"id": world.member.id}, "recipient": {"id": world.friend.id}, "points": points}
        return world.api.post(f"{API}/transfers", body, key=key)

    with nothing_written(idempotency_records=1):
        assert_problem(send(5, "t1"), 422, "transfer_below_minimum")
    assert send(15, "t2").status_code == 201
    with nothing_written(idempotency_records=1):
        problem = assert_problem(send(10, "t3"), 409, "transfer_limit_reached")
    assert (problem["limit"], problem["sent_today"]) == (20, 15)


def test_transfers_are_refused_when_the_program_does_not_allow_them(world):
    program_update(organization=world.org, actor=STAFF, transfers_allowed=False)
    body = {"sender": {"id": world.member.id}, "recipient": {"id": world.friend.id}, "points": 5}
    with nothing_written(idempotency_records=1):
        assert_problem(world.api.post(f"{API}/transfers", body, key="t1"), 403, "transfers_not_allowed")


def test_a_visit_is_recorded(world):
    occurred = ago(minutes=3)
    body = {"member": {"phone": "+33612345678"}, "store": world.store.code, "external_id": "GYM-1", "occurred_at": occurred}
    before = state()
    response = world.api.post(f"{API}/visits", body)
    assert response.status_code == 201, response.content
    visit = response.json()
    assert (visit["external_id"], visit["member_id"], visit["store"]) == ("GYM-1", world.member.id, "paris-11")
    assert dt.datetime.fromisoformat(visit["occurred_at"]) == dt.datetime.fromisoformat(occurred)
    after = state()
    assert (after["visit"] - before["visit"], after["transfer"] - before["transfer"]) == (1, 0)  # no earning rule yet
    assert Visit.objects.get(external_id="GYM-1").member_id == world.member.id
