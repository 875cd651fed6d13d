"""Who may call what: the permission matrix of every endpoint.

At this stage the API knows only API keys (per organization or per store). So: no key, a
wrong or revoked key, a member's card number or a staff session instead of a key -> 401;
a key of another organization sees nothing of this one (404) and cannot write to it; a
store's key cannot act for another store (403). After every denial nothing has changed.
"""

import pytest

from fidelo.api.tests.helpers import (
    API,
    ENDPOINTS,
    ENDPOINTS_BY_NAME,
    assert_problem,
    client_for,
    nothing_written,
    purchase_payload,
    unique,
)
from fidelo.conftest import STAFF, ApiClient, make_member, make_org
from fidelo.tenancy.services import (
    api_key_create,
    api_key_revoke,
    staff_add,
    store_create,
)

pytestmark = pytest.mark.django_db


def _denied_401(response) -> None:
    assert_problem(response, 401, "invalid_api_key")
    assert response["WWW-Authenticate"] == "Bearer"


def _staff_session(world) -> ApiClient:
    owner = staff_add(organization=world.org, email="gerante@exemple.fr", password="correct horse battery")
    client = ApiClient(None)
    client.client.force_login(owner.user)
    return client


def _revoked_key(world) -> ApiClient:
    issued = api_key_create(organization=world.org, name="till", actor=STAFF)
    client = ApiClient(issued.token)
    assert client.get(f"{API}/program").status_code == 200  # now cached in this process
    api_key_revoke(api_key=issued.api_key, actor=STAFF)
    return client


# Callers without a valid key: anonymous, a made-up key, a revoked key, a member who shows
# their card number, a staff member logged in to the back office (a session is not a key).
NOT_KEYS = {
    "anonymous": lambda w: ApiClient(None),
    "unknown key": lambda w: ApiClient("fid_not-a-real-key"),
    "revoked key": _revoked_key,
    "member card number": lambda w: ApiClient(w.member.card_number),
    "staff session": _staff_session,
}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_callers_without_a_valid_key_are_refused_everywhere(world, endpoint, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
    clients = {name: make(world) for name, make in NOT_KEYS.items()}
    with nothing_written():
        for name, client in clients.items():
            response = endpoint.call(client, world)
            assert response.status_code == 401, (name, response.content)
            _denied_401(response)


def test_the_key_may_come_in_x_api_key(world):
    response = world.api.client.get(f"{API}/members/{world.member.id}", HTTP_X_API_KEY=world.api.token)
    assert response.status_code == 200
    assert response.json()["id"] == world.member.id


# --- another organization ---------------------------------------------------------------------

# What the key of another organization gets when it names this organization's member or
# purchase, and how many refusals it stores under its own idempotency keys.
OTHER_ORG_DENIALS = {
    "purchase.create": (404, "member_not_found", 1),
    "purchase.get": (404, "purchase_not_found", 0),
    "refund.create": (404, "purchase_not_found", 1),
    "member.lookup": (404, "member_not_found", 0),
    "member.get": (404, "member_not_found", 0),
    "member.balance": (404, "member_not_found", 0),
    "member.history": (404, "member_not_found", 0),
    "member.card": (404, "member_not_found", 0),
    "member.adjust": (404, "member_not_found", 1),
    "transfer.create": (404, "member_not_found", 1),
    "visit.create": (404, "member_not_found", 1),
    "rule.get": (404, "rule_not_found", 0),
    "rule.change": (404, "rule_not_found", 0),
    "rule.versions": (404, "rule_not_found", 0),
    "rule.activate": (404, "rule_not_found", 0),
    "rule.deactivate": (404, "rule_not_found", 0),
    "rule.simulate": (404, "member_not_found", 0),
    "event.create": (404, "member_not_found", 1),
    "member.update": (404, "member_not_found", 0),
}


@pytest.mark.parametrize("name", sorted(OTHER_ORG_DENIALS))
def test_a_key_of_another_organization_sees_and_changes_nothing_here(world, name):
    status, code, stored = OTHER_ORG_DENIALS[name]
    other = client_for(make_org("salle-de-sport"))
    with nothing_written(idempotency_records=stored):
        assert_problem(ENDPOINTS_BY_NAME[name].call(other, world), status, code)


def test_another_organization_lists_only_its_own_members_stores_and_program(world):
    other_org = make_org("salle-de-sport", earn_units=2)
    store_create(organization=other_org, code="gym-1", name="Gym 1")
    make_member(other_org, first_name="Carla", last_name="Dupont")
    other = client_for(other_org)
    listed = other.get(f"{API}/members", q="Dupont").json()["items"]
    assert [m["first_name"] for m in listed] == ["Carla"]
    assert other.get(f"{API}/members").json()["items"][0]["first_name"] == "Carla"
    assert len(other.get(f"{API}/members").json()["items"]) == 1
    assert [s["code"] for s in other.get(f"{API}/program/stores").json()] == ["gym-1"]
    assert other.get(f"{API}/program").json()["earn_units"] == 2
    assert world.api.get(f"{API}/program").json()["earn_units"] == 1


def test_another_organization_enrolls_into_its_own_program(world):
    other_org = make_org("salle-de-sport")
    other = client_for(other_org)
    # The same person may join both programs: the email is unique per organization only.
    response = other.post(f"{API}/members", {"email": world.member.email, "first_name": "Anne"}, key="same-key")
    assert response.status_code == 201, response.content
    assert world.org.members.count() == 2
    assert other_org.members.get().email == world.member.email
    # Idempotency keys are per organization too.
    response = world.api.post(f"{API}/members", {"email": "nouvelle@exemple.fr"}, key="same-key")
    assert response.status_code == 201, response.content


def test_a_key_of_another_organization_cannot_use_this_organizations_store(world):
    other_org = make_org("salle-de-sport")
    other = client_for(other_org)
    their_member = make_member(other_org)
    with nothing_written(idempotency_records=1):
        assert_problem(other.post(f"{API}/purchases", purchase_payload(their_member, world.store)), 404, "store_not_found")
    with nothing_written(idempotency_records=1):
        response = other.post(f"{API}/members", {"first_name": "Zoé", "store": world.store.code}, key=unique("k"))
        assert_problem(response, 404, "store_not_found")


def test_a_transfer_between_organizations_is_refused(world):
    other_org = make_org("salle-de-sport")
    stranger = make_member(other_org)
    body = {"sender": {"id": world.member.id}, "recipient": {"card": stranger.card_number}, "points": 5}
    with nothing_written(idempotency_records=1):
        assert_problem(world.api.post(f"{API}/transfers", body, key="t1"), 404, "member_not_found")


# --- store keys -------------------------------------------------------------------------------


@pytest.fixture
def lyon(world):
    return store_create(organization=world.org, code="lyon-2", name="Lyon 2e", city="Lyon")


@pytest.mark.parametrize(
    "name, body",
    [
        ("purchase.create", lambda w: purchase_payload(w.member, w.store)),
        ("visit.create", lambda w: {"member": {"id": w.member.id}, "store": w.store.code, "external_id": "V-1", "occurred_at": "2026-01-01T10:00:00+01:00"}),
        ("member.enroll", lambda w: {"first_name": "Zoé", "store": w.store.code}),
    ],
)
def test_a_store_key_cannot_act_for_another_store(world, lyon, name, body):
    till = client_for(world.org, store=lyon)
    endpoint = ENDPOINTS_BY_NAME[name]
    with nothing_written(idempotency_records=1):
        response = till.post(endpoint.path(world), body(world), key=unique("k"))
        assert_problem(response, 403, "store_not_allowed")


def test_a_store_key_records_for_its_own_store_by_default(world, lyon):
    till = client_for(world.org, store=lyon)
    body = purchase_payload(world.member)
    response = till.post(f"{API}/purchases", body)
    assert response.status_code == 201, response.content
    assert response.json()["store"] == "lyon-2"
    response = till.post(f"{API}/purchases", purchase_payload(world.member, lyon))
    assert response.json()["store"] == "lyon-2"
    assert till.post(f"{API}/purchases", {**purchase_payload(world.member), "store": ""}).json()["store"] == "lyon-2"
    visit = {"member": {"id": world.member.id}, "external_id": "V-9", "occurred_at": "2026-01-01T10:00:00+01:00"}
    assert till.post(f"{API}/visits", visit).json()["store"] == "lyon-2"
    enrolled = till.post(f"{API}/members", {"first_name": "Zoé", "consents": {"sms": True}}, key="e1").json()
    assert enrolled["enrolled_store"] == "lyon-2"
    assert enrolled["consents"]["sms"]["source"] == "api:lyon-2"


def test_an_organization_key_may_name_any_of_its_stores(world, lyon):
    response = world.api.post(f"{API}/purchases", purchase_payload(world.member, lyon))
    assert response.status_code == 201
    assert response.json()["store"] == "lyon-2"
    for no_store in ({}, {"store": ""}):
        response = world.api.post(f"{API}/purchases", {**purchase_payload(world.member), **no_store})
        assert response.json()["store"] is None
