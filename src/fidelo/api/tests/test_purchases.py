"""Purchases and refunds through the API: points at the base rate, taken back proportionally."""

import datetime as dt

import pytest

from fidelo.api.tests.helpers import (
    API,
    ago,
    assert_problem,
    buy,
    purchase_payload,
    state,
)
from fidelo.conftest import STAFF, make_member
from fidelo.ledger.models import Transfer
from fidelo.tenancy.selectors import forget_program
from fidelo.tenancy.services import program_update

pytestmark = pytest.mark.django_db


def balance(api, member) -> dict:
    return api.get(f"{API}/members/{member.id}/balance").json()


def test_a_purchase_returns_what_was_recorded(api, member, store):
    body = purchase_payload(member, store, occurred_at="2026-03-01T10:00:00+01:00")
    before = state()
    response = api.post(f"{API}/purchases", body)
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/json"
    purchase = response.json()
    assert purchase == {
        "id": purchase["id"],
        "external_id": body["external_id"],
        "member_id": member.id,
        "store": "paris-11",
        "channel": "offline",
        "occurred_at": "2026-03-01T10:00:00+01:00",
        "total_cents": 4250,
        "refunded_cents": 0,
        "currency": "EUR",
        "points": {"earned": 42, "bonus": 0, "status": "available", "available_at": "2026-03-01T10:00:00+01:00"},
        "points_reversed": 0,
        "lines": [],
    }
    after = state()
    assert {k: after[k] - before[k] for k in ("purchase", "transfer", "lot", "idempotency", "member")} == {
        "purchase": 1, "transfer": 1, "lot": 1, "idempotency": 1, "member": 0,
    }
    assert balance(api, member)["available"] == 42


def test_get_purchase_shows_the_same_purchase(api, member, store):
    created = buy(api, member, store, total_cents=5000, lines=[
        {"sku": "CAFE", "name": "Café", "quantity": 2, "unit_price_cents": 1500},
        {"sku": "THE", "quantity": 1, "unit_price_cents": 2500, "discount_cents": 500},
    ])
    fetched = api.get(f"{API}/purchases/{created['external_id']}")
    assert fetched.status_code == 200
    assert fetched["Content-Type"] == "application/json"
    read = fetched.json()
    assert dt.datetime.fromisoformat(read.pop("occurred_at")) == dt.datetime.fromisoformat(created.pop("occurred_at"))
    assert dt.datetime.fromisoformat(read["points"].pop("available_at")) == dt.datetime.fromisoformat(created["points"].pop("available_at"))
    assert read == created


def test_lines_share_the_points_and_add_up(api, member, store):
    purchase = buy(api, member, store, total_cents=5000, lines=[
        {"sku": "CAFE", "quantity": 2, "unit_price_cents": 1500},
        {"sku": "THE", "quantity": 1, "unit_price_cents": 2500, "discount_cents": 500},
    ])
    assert purchase["points"]["earned"] == 50
    assert [(l["position"], l["sku"], l["quantity"], l["amount_cents"], l["points"]) for l in purchase["lines"]] == [
        (1, "CAFE", 2, 3000, 30), (2, "THE", 1, 2000, 20),
    ]


@pytest.mark.parametrize(
    "ref",
    [
        lambda m: {"id": m.id},
        lambda m: {"card": m.card_number},
        lambda m: {"email": "ANNE.DUPONT@exemple.fr"},
        lambda m: {"phone": "+33 6 12 34 56 78"},
        lambda m: {"external_id": "CRM-1"},
    ],
    ids=["id", "card", "email", "phone", "external_id"],
)
def test_the_member_may_be_named_by_any_identifier(api, org, store, ref):
    anne = make_member(org, first_name="Anne", email="anne.dupont@exemple.fr", phone="0612345678", external_id="CRM-1")
    assert buy(api, anne, store, member=ref(anne))["member_id"] == anne.id


def test_points_follow_the_program_rate_and_rounding(api, org, member):
    assert buy(api, member, total_cents=4299)["points"]["earned"] == 42  # rounded down by default
    program_update(organization=org, actor=STAFF, rounding="nearest", earn_units=3, earn_per_minor=200)
    forget_program(org.id)
    assert buy(api, member, total_cents=4299)["points"]["earned"] == 64  # 64.485 -> 64
    assert buy(api, member, total_cents=4300)["points"]["earned"] == 65  # 64.5 -> 65


def test_a_purchase_too_small_to_earn_writes_no_ledger_entry(api, member):
    before = Transfer.objects.count()
    purchase = buy(api, member, total_cents=99)
    assert purchase["points"] == {"earned": 0, "bonus": 0, "status": "none", "available_at": None}
    assert Transfer.objects.count() == before
    assert api.get(f"{API}/purchases/{purchase['external_id']}").json()["points"]["status"] == "none"


def test_an_online_purchase(api, member):
    purchase = buy(api, member, channel="online")
    assert (purchase["channel"], purchase["store"]) == ("online", None)
    history = api.get(f"{API}/members/{member.id}/history", headers={"Accept-Language": "en"}).json()["items"]
    assert history[0]["reason"] == "Online purchase of €42.50"
    assert history[0]["reason_code"] == "purchase_online"


def test_pending_points_during_the_return_window(api, org, member, store):
    program_update(organization=org, actor=STAFF, pending_days=14)
    forget_program(org.id)
    occurred = dt.datetime.fromisoformat(ago(hours=1))
    purchase = buy(api, member, store, occurred_at=occurred.isoformat())
    assert purchase["points"]["status"] == "pending"
    assert dt.datetime.fromisoformat(purchase["points"]["available_at"]) == occurred + dt.timedelta(days=14)
    assert api.get(f"{API}/purchases/{purchase['external_id']}").json()["points"]["status"] == "pending"
    # A purchase older than the window is available at once.
    old = buy(api, member, store, occurred_at=ago(days=20))
    assert old["points"]["status"] == "available"
    assert (balance(api, member)["pending"], balance(api, member)["available"]) == (42, 42)


# --- refunds -------------------------------------------------------------------------------------


def refund(api, purchase: dict, **body):
    response = api.post(f"{API}/purchases/{purchase['external_id']}/refunds", {"external_id": body.pop("external_id", "R-1"), **body})
    assert response.status_code == 201, response.content
    return response.json()


def test_a_partial_refund_takes_back_its_share_and_the_rest_takes_back_all(api, member, store):
    purchase = buy(api, member, store)
    first = refund(api, purchase, amount_cents=1000, currency="EUR")
    assert first == {
        "id": first["id"], "external_id": "R-1", "purchase_external_id": purchase["external_id"], "amount_cents": 1000,
        "points_reversed": 9, "points_forgiven": 0, "purchase_refunded_cents": 1000, "purchase_points_reversed": 9,
    }
    assert balance(api, member)["available"] == 33
    rest = refund(api, purchase, external_id="R-2")
    assert (rest["amount_cents"], rest["points_reversed"], rest["purchase_refunded_cents"], rest["purchase_points_reversed"]) == (3250, 33, 4250, 42)
    assert balance(api, member)["available"] == 0
    fetched = api.get(f"{API}/purchases/{purchase['external_id']}").json()
    assert (fetched["refunded_cents"], fetched["points_reversed"]) == (4250, 42)


def test_a_refund_by_lines(api, member, store):
    purchase = buy(api, member, store, total_cents=5000, lines=[
        {"sku": "CAFE", "quantity": 2, "unit_price_cents": 1500},
        {"sku": "THE", "quantity": 1, "unit_price_cents": 2000},
    ])
    by_sku = refund(api, purchase, lines=[{"sku": "CAFE", "quantity": 1}])
    assert (by_sku["amount_cents"], by_sku["points_reversed"]) == (1500, 15)
    by_position = refund(api, purchase, external_id="R-2", lines=[{"position": 2, "quantity": 1}])
    assert (by_position["amount_cents"], by_position["points_reversed"]) == (2000, 20)
    assert balance(api, member)["available"] == 15
    assert_problem(
        api.post(f"{API}/purchases/{purchase['external_id']}/refunds", {"external_id": "R-3", "lines": [{"position": 2, "quantity": 1}]}),
        409, "refund_exceeds_purchase",
    )


def test_a_refund_of_spent_points_goes_into_debt_or_stops_at_zero(api, org, member, store):
    purchase = buy(api, member, store)
    api.post(f"{API}/members/{member.id}/adjustments", {"points": -40, "reason": "Cadeau"}, key="spend")
    assert refund(api, purchase)["points_reversed"] == 42
    assert balance(api, member)["available"] == -40

    program_update(organization=org, actor=STAFF, refund_policy="stop_at_zero")
    forget_program(org.id)
    other = make_member(org)
    purchase = buy(api, other, store)
    api.post(f"{API}/members/{other.id}/adjustments", {"points": -40, "reason": "Cadeau"}, key="spend-2")
    result = refund(api, purchase, external_id="R-2")
    assert (result["points_reversed"], result["points_forgiven"]) == (2, 40)
    assert balance(api, other)["available"] == 0


def test_a_refund_of_a_pending_purchase_takes_back_pending_points(api, org, member, store):
    program_update(organization=org, actor=STAFF, pending_days=30)
    forget_program(org.id)
    purchase = buy(api, member, store)
    assert refund(api, purchase, amount_cents=2125)["points_reversed"] == 21
    assert (balance(api, member)["pending"], balance(api, member)["available"]) == (21, 0)
