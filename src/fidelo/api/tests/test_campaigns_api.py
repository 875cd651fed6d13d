"""The campaign offers API: CRUD, offers, redemption through an offer, offer tracking and stats;
the permission matrix (another organization), malformed input and idempotent replays.
(Callers without a key: test_permissions.py walks every endpoint, these included.)"""

import datetime as dt

import pytest

from fidelo.api.tests.helpers import (
    API,
    CAMPAIGN_ENDPOINTS,
    ENDPOINTS_BY_NAME,
    assert_problem,
    client_for,
    nothing_written,
    send,
    with_campaign,
)
from fidelo.conftest import make_member, make_org
from fidelo.core.clock import now
from fidelo.core.models import AuditEntry
from fidelo.ledger.selectors import member_balance
from fidelo.rewards.models import Campaign, OfferEvent, Voucher

pytestmark = pytest.mark.django_db


@pytest.fixture
def cw(world):
    return with_campaign(world)


def points(member) -> int:
    return member_balance(member, "PTS").available


# --- CRUD -----------------------------------------------------------------------------------------


def test_create_read_change_and_list_campaigns(world):
    with_campaign(world)
    body = {
        "code": "noel", "name_fr": "Offres de Noël", "name_en": "Christmas offers", "description_fr": "Jusqu'au 24",
        "starts_at": "2036-12-01T00:00:00+01:00", "ends_at": "2036-12-25T00:00:00+01:00",  # never current when the suite runs
    }
    created = world.api.post(f"{API}/campaigns", body, key="c-1")
    assert created.status_code == 201, created.content
    assert created.json() == {
        "code": "noel", "name_fr": "Offres de Noël", "name_en": "Christmas offers", "description_fr": "Jusqu'au 24", "description_en": "",
        "starts_at": "2036-11-30T23:00:00Z", "ends_at": "2036-12-24T23:00:00Z", "active": True, "current": False, "offers": [],
        "budget": None, "budget_spent": 0, "created_at": created.json()["created_at"],
    }
    assert world.api.get(f"{API}/campaigns/noel").json() == created.json()
    # Offer the 5 € voucher at 6 points, then at its own cost
    offer = send(world.api, "PUT", f"{API}/campaigns/noel/offers/{world.reward.id}", {"cost_points": 6, "position": 2})
    assert offer.status_code == 200, offer.content
    assert offer.json() == {
        "reward_id": world.reward.id, "title_fr": "Bon de 5 €", "title_en": "", "reward_cost_points": 10, "cost_points": 6, "special_cost": True,
        "position": 2,
    }
    again = send(world.api, "PUT", f"{API}/campaigns/noel/offers/{world.reward.id}", {})
    assert (again.json()["cost_points"], again.json()["special_cost"], again.json()["position"]) == (10, False, 0)
    changed = send(world.api, "PATCH", f"{API}/campaigns/noel", {"name_en": "Xmas", "ends_at": None, "active": False, "budget": 5000})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["name_en"], changed.json()["ends_at"], changed.json()["active"]) == ("Xmas", None, False)
    assert (changed.json()["budget"], changed.json()["budget_spent"]) == (5000, 0)
    refused = send(world.api, "PATCH", f"{API}/campaigns/noel", {"budget": 0})
    assert refused.status_code == 422 and world.api.get(f"{API}/campaigns/noel").json()["budget"] == 5000
    assert [o["cost_points"] for o in changed.json()["offers"]] == [10]
    # The list: the latest start first, with a cursor
    listed = world.api.get(f"{API}/campaigns", limit=1).json()
    assert [c["code"] for c in listed["items"]] == ["noel"]
    rest = world.api.get(f"{API}/campaigns", limit=1, cursor=listed["next_cursor"]).json()
    assert ([c["code"] for c in rest["items"]], rest["next_cursor"]) == (["ete"], None)
    assert rest["items"][0]["current"] is True and rest["items"][0]["offers"][0]["cost_points"] == 8
    # Removing the offer
    removed = send(world.api, "DELETE", f"{API}/campaigns/noel/offers/{world.reward.id}")
    assert removed.status_code == 204
    assert world.api.get(f"{API}/campaigns/noel").json()["offers"] == []
    actions = list(AuditEntry.objects.filter(target_type="campaign").values_list("action", flat=True))
    assert actions.count("campaign.offer_set") == 3 and "campaign.offer_remove" in actions and "campaign.update" in actions


@pytest.mark.parametrize(
    "body, code",
    [
        ({"code": "ete"}, "campaign_code_taken"),
        ({"ends_at": "2026-11-30T00:00:00+01:00"}, "campaign_dates_invalid"),
        ({"ends_at": "2026-12-01T00:00:00+01:00"}, "campaign_dates_invalid"),
        ({"name_fr": "   "}, "invalid_campaign"),
        ({"code": "Noël"}, "validation_error"),
        ({"code": ""}, "validation_error"),
        ({"starts_at": "2026-12-01T00:00:00"}, "naive_datetime"),
        ({"starts_at": None}, "validation_error"),
        ({"active": "yes"}, "validation_error"),
    ],
    ids=["code_taken", "ends_before_start", "ends_at_start", "blank_name", "code_not_slug", "code_empty", "naive_start", "no_start", "active_text"],
)
def test_bad_campaigns_are_refused_and_nothing_is_written(cw, body, code):
    payload = {"code": "noel", "name_fr": "Noël", "starts_at": "2026-12-01T00:00:00+01:00", **body}
    stored = 0 if code == "validation_error" else 1  # a service's refusal is stored as the key's response
    with nothing_written(idempotency_records=stored):
        assert_problem(cw.api.post(f"{API}/campaigns", payload, key="c-bad"), 409 if code == "campaign_code_taken" else 422, code)


@pytest.mark.parametrize(
    "body, code",
    [
        ({"ends_at": "2000-01-02T00:00:00+01:00"}, "campaign_dates_invalid"),
        ({"name_fr": None}, "validation_error"),
        ({"starts_at": None}, "validation_error"),
        ({"active": None}, "validation_error"),
        ({"code": "autre"}, "validation_error"),
    ],
    ids=["ends_before_start", "null_name", "null_start", "null_active", "code_read_only"],
)
def test_bad_campaign_changes_are_refused(cw, body, code):
    with nothing_written():
        assert_problem(send(cw.api, "PATCH", f"{API}/campaigns/ete", body), 422, code)


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"cost_points": 0}, 422, "validation_error"),
        ({"cost_points": "8"}, 422, "validation_error"),
        ({"position": -1}, 422, "validation_error"),
    ],
)
def test_bad_offers_are_refused(cw, body, status, code):
    with nothing_written():
        assert_problem(send(cw.api, "PUT", f"{API}/campaigns/ete/offers/{cw.reward.id}", body), status, code)


def test_unknown_campaign_reward_or_offer(cw):
    with nothing_written():
        assert_problem(cw.api.get(f"{API}/campaigns/nulle"), 404, "campaign_not_found")
        assert_problem(send(cw.api, "PUT", f"{API}/campaigns/ete/offers/999999999", {}), 404, "reward_not_found")
        assert_problem(send(cw.api, "DELETE", f"{API}/campaigns/ete/offers/{cw.partner.id}"), 404, "offer_not_in_campaign")
    with nothing_written(idempotency_records=1):
        response = cw.api.post(f"{API}/campaigns/ete/offers/{cw.partner.id}/seen", {"member": {"id": cw.member.id}}, key="s-1")
        assert_problem(response, 404, "offer_not_in_campaign")


# --- redemption through an offer, and the statistics -------------------------------------------------


def test_redeeming_through_the_offer_then_the_stats(cw, store):
    # The member (22 points) sees the offer, redeems through it at 8 points and uses the voucher
    seen = cw.api.post(f"{API}/campaigns/ete/offers/{cw.reward.id}/seen", {"member": {"card": cw.member.card_number}}, key="s-1")
    assert seen.status_code == 201, seen.content
    assert (seen.json()["campaign"], seen.json()["kind"], seen.json()["member_id"]) == ("ete", "seen", cw.member.id)
    redeemed = cw.api.post(f"{API}/members/{cw.member.id}/redemptions", {"reward_id": cw.reward.id, "campaign": "ete"}, key="r-1")
    assert redeemed.status_code == 201, redeemed.content
    voucher = Voucher.objects.get(code=redeemed.json()["code"])
    assert (voucher.points, voucher.campaign_id) == (8, cw.campaign.pk)
    assert redeemed.json()["campaign"] == "ete"
    assert points(cw.member) == 14
    used = cw.api.post(f"{API}/vouchers/{voucher.code}/use", {"store": store.code, "basket_cents": 2000}, key="u-1")
    assert used.status_code == 200, used.content
    # The friend sees it too but redeems the same reward from the catalog (10 points): not the campaign's
    friend = cw.friend
    cw.api.post(f"{API}/campaigns/ete/offers/{cw.reward.id}/seen", {"member": {"id": friend.id}}, key="s-2")
    cw.api.post(f"{API}/members/{friend.id}/adjustments", {"points": 10, "reason": "Geste"}, key="a-1")
    outside = cw.api.post(f"{API}/members/{friend.id}/redemptions", {"reward_id": cw.reward.id}, key="r-2")
    assert outside.status_code == 201 and Voucher.objects.get(code=outside.json()["code"]).campaign_id is None
    assert outside.json()["campaign"] is None
    stats = cw.api.get(f"{API}/campaigns/ete/stats")
    assert stats.status_code == 200
    assert stats.json() == {
        "campaign": "ete",
        "offers": [{
            "reward_id": cw.reward.id, "title_fr": "Bon de 5 €", "offered": True, "cost_points": 8, "seen": 2, "requested": 1, "used": 1,
            "penetration_per_mille": 500, "usage_per_mille": 1000,
        }],
    }
    # The reward's own totals count every event (with_rewards redeemed it once already, outside any campaign)
    reward_stats = cw.api.get(f"{API}/rewards/{cw.reward.id}/stats").json()
    assert (reward_stats["seen"], reward_stats["requested"], reward_stats["used"]) == (2, 2, 1)
    # A retry replays the redemption; the same key without the campaign is another payload
    assert cw.api.post(f"{API}/members/{cw.member.id}/redemptions", {"reward_id": cw.reward.id, "campaign": "ete"}, key="r-1").content == redeemed.content
    with nothing_written():
        assert_problem(cw.api.post(f"{API}/members/{cw.member.id}/redemptions", {"reward_id": cw.reward.id}, key="r-1"), 409, "idempotency_key_reused")


@pytest.mark.parametrize(
    "change, body, status, code",
    [
        ({"active": False}, {}, 409, "campaign_not_active"),
        ({"starts_at": "2999-01-01T00:00:00+01:00"}, {}, 409, "campaign_not_started"),
        ({"ends_at": "2001-01-01T00:00:00+01:00", "starts_at": "2000-06-01T00:00:00+01:00"}, {}, 409, "campaign_ended"),
        ({}, {"campaign": "nulle"}, 404, "campaign_not_found"),
        ({}, {"reward_id": "partner"}, 404, "offer_not_in_campaign"),
        ({}, {"campaign": ""}, 422, "validation_error"),
    ],
    ids=["not_active", "not_started", "ended", "unknown_campaign", "not_offered", "empty_code"],
)
def test_redemption_refusals_through_a_campaign(cw, change, body, status, code):
    if change:
        assert send(cw.api, "PATCH", f"{API}/campaigns/ete", change).status_code == 200
    payload = {"reward_id": cw.reward.id, "campaign": "ete", **body}
    if payload["reward_id"] == "partner":
        payload["reward_id"] = cw.partner.id
    with nothing_written(idempotency_records=0 if status == 422 else 1):
        assert_problem(cw.api.post(f"{API}/members/{cw.member.id}/redemptions", payload, key="r-bad"), status, code)


def test_a_campaign_of_another_organization_cannot_be_used_here(cw):
    other_org = make_org("salle-de-sport")
    from fidelo.conftest import STAFF
    from fidelo.rewards.campaigns import campaign_create

    campaign_create(organization=other_org, actor=STAFF, code="gym", name_fr="Gym", starts_at=now() - dt.timedelta(days=1))
    with nothing_written(idempotency_records=1):
        response = cw.api.post(f"{API}/members/{cw.member.id}/redemptions", {"reward_id": cw.reward.id, "campaign": "gym"}, key="r-x")
        assert_problem(response, 404, "campaign_not_found")


# --- the permission matrix: another organization -----------------------------------------------------

# What the key of another organization gets when it names this organization's campaign, and
# how many refusals it stores under its own idempotency keys.
OTHER_ORG_DENIALS = {
    "campaign.get": (404, "campaign_not_found", 0),
    "campaign.update": (404, "campaign_not_found", 0),
    "campaign.offer_set": (404, "campaign_not_found", 0),
    "campaign.offer_remove": (404, "campaign_not_found", 0),
    "campaign.stats": (404, "campaign_not_found", 0),
    "campaign.seen": (404, "campaign_not_found", 1),
}


def test_every_campaign_endpoint_is_in_the_matrix():
    assert set(OTHER_ORG_DENIALS) | {"campaign.list", "campaign.create"} == {e.name for e in CAMPAIGN_ENDPOINTS}


@pytest.mark.parametrize("name", sorted(OTHER_ORG_DENIALS))
def test_a_key_of_another_organization_sees_and_changes_nothing_here(cw, name):
    status, code, stored = OTHER_ORG_DENIALS[name]
    other = client_for(make_org("salle-de-sport"))
    with nothing_written(idempotency_records=stored):
        assert_problem(ENDPOINTS_BY_NAME[name].call(other, cw), status, code)


def test_another_organization_lists_and_creates_only_its_own(cw):
    other = client_for(make_org("salle-de-sport"))
    assert other.get(f"{API}/campaigns").json() == {"items": [], "next_cursor": None}
    response = other.post(f"{API}/campaigns", {"code": "ete", "name_fr": "Été", "starts_at": "2026-06-01T00:00:00+02:00"}, key="c-1")
    assert response.status_code == 201, response.content  # the same code in another organization
    assert Campaign.objects.filter(code="ete").count() == 2
    assert [c["name_fr"] for c in cw.api.get(f"{API}/campaigns").json()["items"]] == ["Offres d'été"]


def test_another_organizations_reward_cannot_be_offered(cw):
    foreign = make_member(make_org("salle-de-sport"))
    from fidelo.rewards.tests.helpers import make_reward
    from fidelo.tenancy.selectors import program_for

    theirs = make_reward(program_for(foreign.organization_id), cost=5)
    with nothing_written():
        assert_problem(send(cw.api, "PUT", f"{API}/campaigns/ete/offers/{theirs.id}", {}), 404, "reward_not_found")
    with nothing_written(idempotency_records=1):
        response = cw.api.post(f"{API}/campaigns/ete/offers/{cw.reward.id}/seen", {"member": {"card": foreign.card_number}}, key="s-x")
        assert_problem(response, 404, "member_not_found")


# --- malformed input and idempotency ------------------------------------------------------------------

WITH_BODY = [e for e in CAMPAIGN_ENDPOINTS if e.body is not None]
KEYED = [e for e in CAMPAIGN_ENDPOINTS if e.method == "POST"]


def call(endpoint, client, world, body=None, key: str = "k1", raw: str | None = None):
    path = endpoint.path(world)
    if endpoint.method == "POST":
        return client.post(path, body, key=key, raw=raw)
    return send(client, endpoint.method, path, body, raw=raw)


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=str)
def test_malformed_bodies_and_unknown_fields_are_refused(cw, endpoint):
    with nothing_written():
        for raw in ["{not json", "nul\x00"]:
            assert_problem(call(endpoint, cw.api, cw, raw=raw), 400, "malformed_request")
        for raw in ["[]", "42"]:
            assert_problem(call(endpoint, cw.api, cw, raw=raw), 422, "validation_error")
        problem = assert_problem(call(endpoint, cw.api, cw, {**endpoint.body(cw), "bonus_points": 1000}), 422, "validation_error")
        assert problem["errors"][0]["field"] == "body.bonus_points"


@pytest.mark.parametrize("endpoint", KEYED, ids=str)
def test_a_retry_returns_the_first_response_and_another_payload_is_refused(cw, endpoint):
    body = endpoint.body(cw)
    first = cw.api.post(endpoint.path(cw), body, key="order-1")
    assert first.status_code == 201, first.content
    with nothing_written():
        again = cw.api.post(endpoint.path(cw), body, key="order-1")
    assert (again.content, again["Idempotent-Replayed"]) == (first.content, "true")
    other = {"campaign.create": {"name_fr": "Autre"}, "campaign.seen": {"member": {"id": cw.friend.id}}}[endpoint.name]
    with nothing_written():
        assert_problem(cw.api.post(endpoint.path(cw), {**body, **other}, key="order-1"), 409, "idempotency_key_reused")


@pytest.mark.parametrize("endpoint", KEYED, ids=str)
def test_the_idempotency_key_is_required(cw, endpoint):
    with nothing_written():
        response = cw.api.client.post(endpoint.path(cw), data=endpoint.body(cw), content_type="application/json",
                                      HTTP_AUTHORIZATION=f"Bearer {cw.api.token}")
        assert_problem(response, 422, "idempotency_key_required")


def test_seen_events_name_the_campaign(cw):
    cw.api.post(f"{API}/campaigns/ete/offers/{cw.reward.id}/seen", {"member": {"id": cw.member.id}}, key="s-1")
    event = OfferEvent.objects.get(kind="seen")
    assert (event.campaign_id, event.reward_id, event.member_id) == (cw.campaign.pk, cw.reward.id, cw.member.id)
