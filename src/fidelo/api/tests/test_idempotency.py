"""Idempotent writes through HTTP (DESIGN.md, ledger invariant 5).

A retry returns the first response byte for byte, flagged Idempotent-Replayed, and writes
nothing; the same key with another payload is a 409; a retry of a refused request is
refused the same way even once the state has changed; an external id recorded under
another key is a 409 too.
"""

import pytest

from fidelo.api.tests.helpers import (
    API,
    POSTS,
    ago,
    allow_transfers,
    assert_problem,
    buy,
    nothing_written,
    purchase_payload,
    state,
)
from fidelo.conftest import STAFF
from fidelo.tenancy.services import program_update, store_create

pytestmark = pytest.mark.django_db

# A change to each POST's payload that makes it another request.
OTHER_PAYLOAD = {
    "purchase.create": {"total_cents": 4251},
    "refund.create": {"amount_cents": 999},
    "member.enroll": {"first_name": "Zoë"},
    "member.adjust": {"points": -6},
    "transfer.create": {"points": 6},
    "visit.create": {"occurred_at": "2026-01-01T10:00:00+01:00"},
}


@pytest.mark.parametrize("endpoint", POSTS, ids=str)
def test_a_retry_returns_the_first_response_byte_for_byte(world, endpoint):
    body = endpoint.body(world)
    first = world.api.post(endpoint.path(world), body, key="order-1")
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    with nothing_written():
        again = world.api.post(endpoint.path(world), body, key="order-1")
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"] == "application/json"
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("endpoint", POSTS, ids=str)
def test_the_same_key_with_another_payload_is_409(world, endpoint):
    body = endpoint.body(world)
    assert world.api.post(endpoint.path(world), body, key="order-1").status_code == 201
    with nothing_written():
        response = world.api.post(endpoint.path(world), {**body, **OTHER_PAYLOAD[endpoint.name]}, key="order-1")
        problem = assert_problem(response, 409, "idempotency_key_reused")
    assert problem["idempotency_key"] == "order-1"


def test_a_key_used_for_one_operation_cannot_be_used_for_another(world):
    assert world.api.post(f"{API}/members", {"first_name": "Zoé"}, key="k-1").status_code == 201
    with nothing_written():
        response = world.api.post(f"{API}/members/{world.member.id}/adjustments", {"points": 5, "reason": "Geste"}, key="k-1")
        assert_problem(response, 409, "idempotency_key_reused")


@pytest.mark.parametrize("endpoint", POSTS, ids=str)
def test_a_refused_request_is_replayed_as_refused(world, endpoint):
    body = endpoint.body(world)
    path = endpoint.path(world).replace(f"/members/{world.member.id}/", "/members/999999999/")
    path = path.replace(f"/purchases/{world.purchase['external_id']}/", "/purchases/NOPE/")
    if "member" in body:
        body["member"] = {"card": "999999999999"}
    if "sender" in body:
        body["sender"] = {"card": "999999999999"}
    if endpoint.name == "member.enroll":
        body["store"] = "marseille-1"
    first = world.api.post(path, body, key="order-1")
    assert 400 <= first.status_code < 500
    with nothing_written():
        again = world.api.post(path, body, key="order-1")
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again["Content-Type"] == "application/problem+json"
    assert again["Idempotent-Replayed"] == "true"


def test_a_refused_adjustment_stays_refused_after_points_are_earned(world):
    path = f"{API}/members/{world.member.id}/adjustments"
    debit = {"points": -50, "reason": "Erreur de caisse"}
    with nothing_written(idempotency_records=1):
        first = world.api.post(path, debit, key="adjust-1")
    problem = assert_problem(first, 409, "insufficient_points")
    assert (problem["balance"], problem["requested"]) == (42, 50)

    buy(world.api, world.member, world.store)  # 42 more: 84 now, enough for 50
    with nothing_written():
        again = world.api.post(path, debit, key="adjust-1")
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert world.api.get(f"{API}/members/{world.member.id}/balance").json()["available"] == 84

    # A new key is a new request.
    assert world.api.post(path, debit, key="adjust-2").status_code == 201
    assert world.api.get(f"{API}/members/{world.member.id}/balance").json()["available"] == 34


def test_a_refused_transfer_stays_refused_once_transfers_are_allowed(world):
    program_update(organization=world.org, actor=STAFF, transfers_allowed=False)
    body = {"sender": {"id": world.member.id}, "recipient": {"id": world.friend.id}, "points": 10}
    first = world.api.post(f"{API}/transfers", body, key="gift-1")
    assert_problem(first, 403, "transfers_not_allowed")
    allow_transfers(world.org)
    with nothing_written():
        assert world.api.post(f"{API}/transfers", body, key="gift-1").content == first.content
    assert world.api.post(f"{API}/transfers", body, key="gift-2").status_code == 201


def test_a_purchase_refused_for_an_unknown_store_stays_refused_once_the_store_exists(world):
    body = {**purchase_payload(world.member), "store": "lyon-2"}
    first = world.api.post(f"{API}/purchases", body)  # keyed by its external id
    assert_problem(first, 404, "store_not_found")
    store_create(organization=world.org, code="lyon-2", name="Lyon 2e")
    with nothing_written():
        again = world.api.post(f"{API}/purchases", body)
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"


def test_a_request_refused_by_the_schema_does_not_use_up_its_key(world):
    body = purchase_payload(world.member, world.store)
    assert_problem(world.api.post(f"{API}/purchases", {**body, "total_cents": 42.5}, key="order-1"), 422, "validation_error")
    assert world.api.post(f"{API}/purchases", body, key="order-1").status_code == 201


def test_a_purchase_without_key_is_keyed_by_its_external_id(world):
    body = purchase_payload(world.member, world.store)
    first = world.api.post(f"{API}/purchases", body)
    assert first.status_code == 201
    with nothing_written():
        again = world.api.post(f"{API}/purchases", body)
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    with nothing_written():
        assert_problem(world.api.post(f"{API}/purchases", {**body, "total_cents": 1}), 409, "idempotency_key_reused")


def test_a_purchase_external_id_reused_under_another_key_is_409(world):
    body = purchase_payload(world.member, world.store)
    assert world.api.post(f"{API}/purchases", body, key="till-1/0001").status_code == 201
    with nothing_written():
        problem = assert_problem(world.api.post(f"{API}/purchases", body, key="till-1/0002"), 409, "purchase_exists")
    assert problem["external_id"] == body["external_id"]
    with nothing_written():  # without a key: keyed by the external id, which is another key again
        assert_problem(world.api.post(f"{API}/purchases", {**body, "total_cents": 100}), 409, "purchase_exists")


def test_a_purchase_first_sent_without_key_then_with_one_is_409(world):
    body = purchase_payload(world.member, world.store)
    assert world.api.post(f"{API}/purchases", body).status_code == 201
    with nothing_written():
        assert_problem(world.api.post(f"{API}/purchases", body, key="till-1/0001"), 409, "purchase_exists")


def test_a_refund_external_id_reused_under_another_key_is_409(world):
    path = f"{API}/purchases/{world.purchase['external_id']}/refunds"
    assert world.api.post(path, {"external_id": "R-1", "amount_cents": 100}, key="r-1").status_code == 201
    with nothing_written():
        assert_problem(world.api.post(path, {"external_id": "R-1", "amount_cents": 100}, key="r-2"), 409, "refund_exists")


def test_a_visit_external_id_reused_under_another_key_is_409(world):
    body = {"member": {"id": world.member.id}, "external_id": "V-1", "occurred_at": ago(minutes=1)}
    assert world.api.post(f"{API}/visits", body, key="v-1").status_code == 201
    with nothing_written():
        assert_problem(world.api.post(f"{API}/visits", body, key="v-2"), 409, "visit_exists")


def test_the_replay_is_the_first_response_even_after_the_purchase_changed(world):
    body = purchase_payload(world.member, world.store)
    first = world.api.post(f"{API}/purchases", body, key="order-1")
    refund = world.api.post(f"{API}/purchases/{body['external_id']}/refunds", {"external_id": "R-1"})
    assert refund.json()["purchase_refunded_cents"] == 4250
    again = world.api.post(f"{API}/purchases", body, key="order-1")
    assert again.content == first.content
    assert again.json()["refunded_cents"] == 0
    assert world.api.get(f"{API}/purchases/{body['external_id']}").json()["refunded_cents"] == 4250


def test_one_purchase_one_transfer_whatever_the_retries(world):
    body = purchase_payload(world.member, world.store)
    before = state()
    for _ in range(3):
        assert world.api.post(f"{API}/purchases", body, key="order-1").status_code == 201
    after = state()
    assert (after["purchase"] - before["purchase"], after["transfer"] - before["transfer"], after["lot"] - before["lot"]) == (1, 1, 1)
    assert after["idempotency"] - before["idempotency"] == 1
