"""The program's settings and stores, and the API's own documentation."""

import pytest

from fidelo.api.tests.helpers import API, ENDPOINTS
from fidelo.conftest import STAFF
from fidelo.tenancy.services import program_update, store_create

pytestmark = pytest.mark.django_db


def test_the_program_settings(api, org):
    program_update(organization=org, actor=STAFF, pending_days=14, expiry_policy="months", expiry_months=12)
    response = api.get(f"{API}/program")
    assert response.status_code == 200
    assert response.json() == {
        "name": "Cafe Test", "currency_mode": "points", "unit": "PTS", "earn_units": 1, "earn_per_cents": 100, "rounding": "down",
        "expiry_policy": "months", "expiry_months": 12, "pending_days": 14, "refund_policy": "allow_debt",
        "transfers_allowed": False, "transfer_min": 1, "transfer_max_per_day": 10000, "currency": "EUR", "timezone": "Europe/Paris",
        "member_attributes": [],
    }


def test_the_program_stores(api, org, store):
    store_create(organization=org, code="eshop", name="Boutique en ligne", is_online=True)
    assert api.get(f"{API}/program/stores").json() == [
        {"code": "eshop", "name": "Boutique en ligne", "city": "", "is_online": True},
        {"code": "paris-11", "name": "Paris 11e", "city": "Paris", "is_online": False},
    ]


def openapi_operations(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


DOMAIN_OPERATIONS = {
    ("GET", f"{API}/tiers"), ("POST", f"{API}/tiers"), ("GET", f"{API}/tiers/settings"), ("PUT", f"{API}/tiers/settings"),
    ("GET", f"{API}/tiers/{{code}}"), ("PATCH", f"{API}/tiers/{{code}}"), ("GET", f"{API}/tiers/members/{{member_ref}}"),
    ("POST", f"{API}/tiers/members/{{member_ref}}/vip"), ("POST", f"{API}/tiers/members/{{member_ref}}/manual"),
    ("GET", f"{API}/referrals/settings"), ("PUT", f"{API}/referrals/settings"), ("GET", f"{API}/referrals/members/{{member_ref}}"),
    ("POST", f"{API}/referrals/enroll"), ("GET", f"{API}/referrals/stats"),
    ("GET", f"{API}/stamp-cards"), ("POST", f"{API}/stamp-cards"), ("PATCH", f"{API}/stamp-cards/{{code}}"),
    ("GET", f"{API}/stamp-cards/members/{{member_ref}}"),
    ("GET", f"{API}/achievements"), ("POST", f"{API}/achievements"), ("PATCH", f"{API}/achievements/{{code}}"),
    ("GET", f"{API}/achievements/members/{{member_ref}}"),
}


def test_openapi_lists_every_endpoint(client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert openapi_operations(document) == {
        ("POST", f"{API}/purchases"),
        ("GET", f"{API}/purchases/{{external_id}}"),
        ("POST", f"{API}/purchases/{{external_id}}/refunds"),
        ("POST", f"{API}/members"),
        ("GET", f"{API}/members"),
        ("GET", f"{API}/members/lookup"),
        ("GET", f"{API}/members/{{member_id}}"),
        ("GET", f"{API}/members/{{member_id}}/balance"),
        ("GET", f"{API}/members/{{member_id}}/history"),
        ("GET", f"{API}/members/{{member_id}}/card.svg"),
        ("POST", f"{API}/members/{{member_id}}/adjustments"),
        ("POST", f"{API}/transfers"),
        ("POST", f"{API}/visits"),
        ("GET", f"{API}/program"),
        ("GET", f"{API}/program/stores"),
        ("GET", f"{API}/rewards"),
        ("POST", f"{API}/rewards"),
        ("GET", f"{API}/rewards/charity/totals"),
        ("GET", f"{API}/rewards/{{reward_id}}"),
        ("PATCH", f"{API}/rewards/{{reward_id}}"),
        ("POST", f"{API}/rewards/{{reward_id}}/codes"),
        ("GET", f"{API}/rewards/{{reward_id}}/stats"),
        ("POST", f"{API}/rewards/{{reward_id}}/seen"),
        ("POST", f"{API}/members/{{member_id}}/redemptions"),
        ("GET", f"{API}/members/{{member_id}}/vouchers"),
        ("PUT", f"{API}/members/{{member_id}}/auto-redemption"),
        ("GET", f"{API}/members/{{member_id}}/wallet"),
        ("POST", f"{API}/members/{{member_id}}/wallet/spend"),
        ("GET", f"{API}/vouchers/{{code}}"),
        ("GET", f"{API}/vouchers/{{code}}/qr.svg"),
        ("POST", f"{API}/vouchers/{{code}}/validate"),
        ("POST", f"{API}/vouchers/{{code}}/use"),
        ("POST", f"{API}/vouchers/{{code}}/cancel"),
        ("GET", f"{API}/rules"),
        ("POST", f"{API}/rules"),
        ("GET", f"{API}/rules/{{rule_id}}"),
        ("PUT", f"{API}/rules/{{rule_id}}"),
        ("GET", f"{API}/rules/{{rule_id}}/versions"),
        ("POST", f"{API}/rules/{{rule_id}}/activate"),
        ("POST", f"{API}/rules/{{rule_id}}/deactivate"),
        ("POST", f"{API}/rules/simulate"),
        ("POST", f"{API}/events"),
        ("POST", f"{API}/events/{{external_id}}/cancel"),
        ("PATCH", f"{API}/members/{{member_id}}"),
        ("PUT", f"{API}/program/member-attributes"),
        ("GET", f"{API}/campaigns"),
        ("POST", f"{API}/campaigns"),
        ("GET", f"{API}/campaigns/{{code}}"),
        ("PATCH", f"{API}/campaigns/{{code}}"),
        ("PUT", f"{API}/campaigns/{{code}}/offers/{{reward_id}}"),
        ("DELETE", f"{API}/campaigns/{{code}}/offers/{{reward_id}}"),
        ("GET", f"{API}/campaigns/{{code}}/stats"),
        ("POST", f"{API}/campaigns/{{code}}/offers/{{reward_id}}/seen"),
    } | DOMAIN_OPERATIONS
    # The matrix tests walk through every one of the first ones; the tiers, referrals, stamp
    # cards and achievements routers have their own permission tests (test_tiers_api.py…).
    assert len(ENDPOINTS) == 53
    for item in document["paths"].values():
        for operation in item.values():
            assert operation.get("summary"), operation
            assert operation["security"] == [{"ApiKeyAuth": []}]
    assert document["components"]["securitySchemes"] == {"ApiKeyAuth": {"type": "http", "scheme": "bearer"}}


def test_openapi_documents_the_input_limits(client):
    schemas = client.get(f"{API}/openapi.json").json()["components"]["schemas"]
    purchase = schemas["PurchaseIn"]
    assert purchase["additionalProperties"] is False
    assert purchase["properties"]["total_cents"]["maximum"] == 10**11
    assert purchase["properties"]["total_cents"]["minimum"] == 0
    assert set(purchase["required"]) >= {"member", "external_id", "occurred_at", "total_cents", "currency"}


def test_the_docs_page_renders(client):
    response = client.get(f"{API}/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content
