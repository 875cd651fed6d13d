"""/api/v1/tiers: levels, settings, a member's tier and progress, VIP purchases, staff overrides;
bad input, idempotency, and who may call what (no key, a store's key, another organization)."""

import pytest

from fidelo.api.tests.helpers import API, assert_problem, client_for, send, unique
from fidelo.conftest import STAFF, ApiClient, make_member, make_org
from fidelo.core.clock import travel_to
from fidelo.core.models import AuditEntry, IdempotencyRecord
from fidelo.tenancy.services import api_key_create, store_create
from fidelo.tiers.models import (
    TierHistory,
    TierLevel,
    TierSettings,
    TierStatus,
    TierVipPurchase,
)
from fidelo.tiers.tests.helpers import earn, ladder, paris

pytestmark = pytest.mark.django_db

TIERS = f"{API}/tiers"


def tier_state() -> tuple:
    return (
        list(TierLevel.objects.order_by("pk").values_list("organization_id", "code", "rank", "threshold", "multiplier_percent", "name_fr")),
        list(TierSettings.objects.values_list("organization_id", "metric", "window", "window_months", "grace_days")),
        list(TierStatus.objects.order_by("pk").values_list("member_id", "tier_code", "vip_code", "vip_until")),
        TierHistory.objects.count(), TierVipPurchase.objects.count(), AuditEntry.objects.count(),
    )


def test_levels_are_created_listed_read_and_changed(api, org, program):
    body = {"code": "silver", "name_fr": "Argent", "name_en": "Silver", "rank": 1, "threshold": 500}
    response = api.post(TIERS, body, key="t-1")
    assert response.status_code == 201, response.content
    assert response.json() == {**body, "multiplier_percent": 100, "perks_fr": "", "perks_en": "", "vip_price_cents": None, "vip_months": None,
                               "members": 0}
    replay = api.post(TIERS, body, key="t-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    gold = {"code": "gold", "name_fr": "Or", "rank": 2, "threshold": 1000, "multiplier_percent": 150, "vip_price_cents": 4900, "vip_months": 6}
    assert api.post(TIERS, gold, key="t-2").status_code == 201
    assert TierLevel.objects.count() == 2

    member = make_member(org)
    earn(program, member, paris(2025, 3, 1), points=600)
    listed = api.get(TIERS).json()["items"]
    assert [(lv["code"], lv["members"]) for lv in listed] == [("silver", 1), ("gold", 0)]
    assert api.get(f"{TIERS}/gold").json()["vip_price_cents"] == 4900

    response = send(api, "PATCH", f"{TIERS}/gold", {"multiplier_percent": 175, "perks_fr": "Café offert"})
    assert response.status_code == 200, response.content
    assert (response.json()["multiplier_percent"], response.json()["perks_fr"], response.json()["threshold"]) == (175, "Café offert", 1000)


def test_settings_are_read_and_replaced(api, org):
    assert api.get(f"{TIERS}/settings").json() == {"metric": "points", "window": "calendar_year", "window_months": 12, "grace_days": 0}
    new = {"metric": "spend", "window": "rolling", "window_months": 6, "grace_days": 30}
    response = send(api, "PUT", f"{TIERS}/settings", new)
    assert response.status_code == 200 and response.json() == new
    assert api.get(f"{TIERS}/settings").json() == new


def test_a_member_tier_shows_progress_and_history(api, org, program, member):
    ladder(org)
    earn(program, member, paris(2025, 3, 1), points=700)
    with travel_to(paris(2025, 3, 2)):
        by_id = api.get(f"{TIERS}/members/{member.id}")
        by_card = api.get(f"{TIERS}/members/card:{member.card_number}")
        by_email = api.get(f"{TIERS}/members/email:{member.email}")
    assert by_id.status_code == 200, by_id.content
    body = by_id.json()
    assert by_card.json() == by_email.json() == body
    assert body["tier"]["code"] == "silver" and body["via"] == "threshold"
    assert body["progress"]["value"] == 700
    assert (body["progress"]["next_level"]["code"], body["progress"]["missing"]) == ("gold", 300)
    assert body["progress"]["window_end"] == "2025-12-31T23:00:00Z"
    assert body["downgrade_at"] is None
    assert [(h["from_tier"], h["to_tier"], h["reason"]) for h in body["history"]] == [(None, "silver", "upgrade")]


def test_a_vip_purchase_is_idempotent_and_refused_cleanly(api, org, program, member):
    ladder(org)
    body = {"tier": "platinum", "external_id": "STRIPE-1"}
    response = api.post(f"{TIERS}/members/{member.id}/vip", body)  # the external id is the idempotency key
    assert response.status_code == 201, response.content
    assert (response.json()["tier"]["code"], response.json()["via"]) == ("platinum", "vip")
    again = api.post(f"{TIERS}/members/{member.id}/vip", body)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert TierVipPurchase.objects.count() == 1
    member.refresh_from_db()
    assert member.tier == "platinum"

    other = make_member(org)
    before = tier_state()
    assert_problem(api.post(f"{TIERS}/members/{other.id}/vip", {"tier": "gold", "external_id": "STRIPE-2"}), 409, "tier_not_for_sale")
    assert_problem(api.post(f"{TIERS}/members/{other.id}/vip", {"tier": "diamond", "external_id": "STRIPE-3"}), 404, "tier_not_found")
    assert_problem(api.post(f"{TIERS}/members/{other.id}/vip", body), 409, "idempotency_key_reused")
    assert_problem(api.post(f"{TIERS}/members/{other.id}/vip", body, key="another-key"), 409, "vip_external_id_reused")
    assert_problem(api.post(f"{TIERS}/members/{other.id}/vip", {"tier": "platinum", "external_id": "S-4", "occurred_at": "2099-01-01T00:00:00+00:00"}),
                   422, "occurred_in_future")
    assert_problem(api.post(f"{TIERS}/members/999999/vip", {"tier": "platinum", "external_id": "S-5"}), 404, "member_not_found")
    assert tier_state() == before


def test_staff_sets_a_tier_by_hand(api, org, member):
    ladder(org)
    response = api.post(f"{TIERS}/members/{member.id}/manual", {"tier": "gold", "reason": "Client historique"}, key="m-1")
    assert response.status_code == 200, response.content
    assert (response.json()["tier"]["code"], response.json()["via"]) == ("gold", "manual")
    response = api.post(f"{TIERS}/members/{member.id}/manual", {"tier": None, "reason": "Erreur"}, key="m-2")
    assert response.json()["tier"] is None
    before = tier_state()
    assert_problem(api.post(f"{TIERS}/members/{member.id}/manual", {"tier": "diamond", "reason": "x"}, key="m-3"), 404, "tier_not_found")
    assert_problem(api.post(f"{TIERS}/members/{member.id}/manual", {"tier": "gold"}, key="m-4"), 422, "validation_error")
    assert tier_state() == before


BAD_LEVELS = [
    ({"code": "gold", "name_fr": "Or", "rank": 4, "threshold": 9000}, 409, "tier_code_taken"),
    ({"code": "x", "name_fr": "X", "rank": 2, "threshold": 9000}, 409, "tier_rank_taken"),
    ({"code": "x", "name_fr": "X", "rank": 4, "threshold": 1500}, 422, "tier_thresholds_not_increasing"),
    ({"code": "x", "name_fr": "X", "rank": 4, "threshold": 9000, "multiplier_percent": 50}, 422, "invalid_multiplier"),
    ({"code": "X Y", "name_fr": "X", "rank": 4, "threshold": 9000}, 422, "invalid_tier"),
    ({"code": "x", "name_fr": "X", "rank": 4}, 422, "threshold_required"),
    ({"code": "x", "name_fr": "X", "rank": 4, "threshold": 9000, "vip_price_cents": 900}, 422, "invalid_vip"),
    ({"code": "x", "name_fr": "X", "rank": "4", "threshold": 9000}, 422, "validation_error"),
    ({"code": "x", "name_fr": "X", "rank": 4, "threshold": -1}, 422, "validation_error"),
    ({"code": "x", "name_fr": "X", "rank": 4, "threshold": 9000, "colour": "blue"}, 422, "validation_error"),
    ({"code": "x\x00", "name_fr": "X", "rank": 4, "threshold": 9000}, 422, "validation_error"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_LEVELS, ids=[c for _, _, c in BAD_LEVELS])
def test_bad_levels_are_refused_with_their_code(api, org, body, status, code):
    ladder(org)
    before = tier_state()
    assert_problem(api.post(TIERS, body, key=unique("bad")), status, code)
    assert tier_state() == before


def test_bad_changes_and_settings_are_refused(api, org, member):
    ladder(org)
    before = tier_state()
    assert_problem(send(api, "PATCH", f"{TIERS}/gold", {"threshold": 100}), 422, "tier_thresholds_not_increasing")
    assert_problem(send(api, "PATCH", f"{TIERS}/gold", {"code": "or"}), 422, "validation_error")
    assert_problem(send(api, "PATCH", f"{TIERS}/gold", {"name_fr": None}), 422, "invalid_tier")
    assert_problem(send(api, "PATCH", f"{TIERS}/diamond", {"rank": 9}), 404, "tier_not_found")
    assert_problem(send(api, "PATCH", f"{TIERS}/gold", raw="{not json"), 400, "malformed_request")
    assert_problem(api.get(f"{TIERS}/diamond"), 404, "tier_not_found")
    assert_problem(send(api, "PUT", f"{TIERS}/settings", {"metric": "euros", "window": "rolling"}), 422, "validation_error")
    assert_problem(send(api, "PUT", f"{TIERS}/settings", {"metric": "points", "window": "rolling", "window_months": 0}), 422, "validation_error")
    assert_problem(send(api, "PUT", f"{TIERS}/settings", {"metric": "points"}), 422, "validation_error")
    for ref in ("card:", "nickname:anne", "123456789012345678901234", "email:nobody@exemple.fr", "0"):
        response = api.get(f"{TIERS}/members/{ref}")
        assert response.status_code in (404, 422), (ref, response.content)
        assert response.json()["code"] in ("member_identifier_invalid", "member_not_found")
    assert tier_state() == before


def test_a_member_tier_needs_tier_levels(api, member):
    assert_problem(api.get(f"{TIERS}/members/{member.id}"), 404, "tiers_not_configured")


# --- who may call what --------------------------------------------------------------------------------------


def _calls(member_id: int) -> list:
    return [
        ("GET", TIERS, None), ("POST", TIERS, {"code": "bronze-x", "name_fr": "B", "rank": 9, "threshold": 90000}),
        ("GET", f"{TIERS}/gold", None), ("PATCH", f"{TIERS}/gold", {"name_en": "Golden"}),
        ("GET", f"{TIERS}/settings", None), ("PUT", f"{TIERS}/settings", {"metric": "visits", "window": "calendar_year"}),
        ("GET", f"{TIERS}/members/{member_id}", None),
        ("POST", f"{TIERS}/members/{member_id}/vip", {"tier": "platinum", "external_id": unique("V")}),
        ("POST", f"{TIERS}/members/{member_id}/manual", {"tier": "gold", "reason": "Geste"}),
    ]


def _call(client: ApiClient, method: str, path: str, body):
    if method == "GET":
        return client.get(path)
    if method == "POST":
        return client.post(path, body, key=unique("k"))
    return send(client, method, path, body)


def test_without_a_valid_key_nothing_is_seen_or_changed(org, member, api):
    ladder(org)
    before = tier_state()
    for client in (ApiClient(None), ApiClient("fid_not-a-real-key"), ApiClient(member.card_number)):
        for method, path, body in _calls(member.id):
            assert_problem(_call(client, method, path, body), 401, "invalid_api_key")
    assert tier_state() == before


def test_another_organization_sees_and_changes_nothing_here(org, member):
    ladder(org)
    other = client_for(make_org("salle-de-sport"))
    before = tier_state()
    assert other.get(TIERS).json()["items"] == []
    assert_problem(other.get(f"{TIERS}/gold"), 404, "tier_not_found")
    assert_problem(send(other, "PATCH", f"{TIERS}/gold", {"name_en": "Golden"}), 404, "tier_not_found")
    assert_problem(other.get(f"{TIERS}/members/{member.id}"), 404, "member_not_found")
    assert_problem(other.get(f"{TIERS}/members/card:{member.card_number}"), 404, "member_not_found")
    assert_problem(other.post(f"{TIERS}/members/{member.id}/vip", {"tier": "platinum", "external_id": "V-1"}), 404, "member_not_found")
    assert_problem(other.post(f"{TIERS}/members/{member.id}/manual", {"tier": "gold", "reason": "x"}, key="m"), 404, "member_not_found")
    after = tier_state()
    assert after[:5] == before[:5]  # only its refusals are stored, under its own keys
    assert IdempotencyRecord.objects.exclude(organization_id=org.id).count() == 2


def test_a_store_key_sells_vip_but_does_not_change_the_levels(org, member):
    ladder(org)
    till = ApiClient(api_key_create(organization=org, name="till", actor=STAFF, store=store_create(organization=org, code="p11", name="Paris 11")).token)
    before = tier_state()
    assert_problem(till.post(TIERS, {"code": "x", "name_fr": "X", "rank": 9, "threshold": 90000}, key="s-1"), 403, "organization_key_required")
    assert_problem(send(till, "PATCH", f"{TIERS}/gold", {"name_en": "Golden"}), 403, "organization_key_required")
    assert_problem(send(till, "PUT", f"{TIERS}/settings", {"metric": "visits", "window": "calendar_year"}), 403, "organization_key_required")
    assert_problem(till.post(f"{TIERS}/members/{member.id}/manual", {"tier": "gold", "reason": "x"}, key="s-2"), 403, "organization_key_required")
    assert tier_state() == before
    assert till.get(f"{TIERS}/members/{member.id}").status_code == 200
    assert till.post(f"{TIERS}/members/{member.id}/vip", {"tier": "platinum", "external_id": "V-1"}).status_code == 201
