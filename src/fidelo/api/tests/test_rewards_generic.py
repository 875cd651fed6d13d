"""The rewards endpoints against the generic checks: permissions (other organization, store keys),
malformed input and idempotent replays. (Callers without a key: test_permissions.py walks every
endpoint, these included.)"""

import pytest
from django.conf import settings

from fidelo.api.tests.helpers import (
    API,
    ENDPOINTS_BY_NAME,
    REWARD_ENDPOINTS,
    assert_problem,
    client_for,
    nothing_written,
    send,
    with_rewards,
)
from fidelo.conftest import make_member, make_org, program_of
from fidelo.rewards.services import reward_redeem
from fidelo.tenancy.services import store_create

pytestmark = pytest.mark.django_db

# The POSTs that change state, hence take an Idempotency-Key (validate changes nothing).
KEYED = [e for e in REWARD_ENDPOINTS if e.method == "POST" and e.name != "voucher.validate"]
WITH_BODY = [e for e in REWARD_ENDPOINTS if e.method != "GET" and e.name != "voucher.cancel"]  # cancel takes no body


@pytest.fixture
def rw(world):
    return with_rewards(world)


def call(endpoint, client, world, body=None, key: str = "k1", raw: str | None = None):
    path = endpoint.path(world)
    if endpoint.method == "POST":
        return client.post(path, body, key=key, raw=raw)
    return send(client, endpoint.method, path, body, raw=raw)


# --- another organization -----------------------------------------------------------------------

# What the key of another organization gets when it names this organization's reward, member
# or voucher, and how many refusals it stores under its own idempotency keys.
OTHER_ORG_DENIALS = {
    "reward.create": (404, "store_not_found", 1),
    "reward.get": (404, "reward_not_found", 0),
    "reward.update": (404, "reward_not_found", 0),
    "reward.codes": (404, "reward_not_found", 1),
    "reward.stats": (404, "reward_not_found", 0),
    "reward.seen": (404, "reward_not_found", 1),
    "member.redeem": (404, "member_not_found", 1),
    "member.vouchers": (404, "member_not_found", 0),
    "member.auto_redemption": (404, "member_not_found", 0),
    "member.wallet": (404, "member_not_found", 0),
    "member.wallet_spend": (404, "member_not_found", 1),
    "voucher.get": (404, "voucher_not_found", 0),
    "voucher.qr": (404, "voucher_not_found", 0),
    "voucher.validate": (404, "voucher_not_found", 0),
    "voucher.use": (404, "voucher_not_found", 1),
    "voucher.cancel": (404, "voucher_not_found", 1),
}


def test_every_rewards_endpoint_is_in_the_matrix():
    assert set(OTHER_ORG_DENIALS) | {"reward.list", "reward.charity"} == {e.name for e in REWARD_ENDPOINTS}


@pytest.mark.parametrize("name", sorted(OTHER_ORG_DENIALS))
def test_a_key_of_another_organization_sees_and_changes_nothing_here(rw, name):
    status, code, stored = OTHER_ORG_DENIALS[name]
    other = client_for(make_org("salle-de-sport"))
    with nothing_written(idempotency_records=stored):
        assert_problem(ENDPOINTS_BY_NAME[name].call(other, rw), status, code)


def test_another_organization_sees_only_its_own_catalog_and_donations(rw):
    other = client_for(make_org("salle-de-sport"))
    assert other.get(f"{API}/rewards", all="true").json() == {"items": [], "next_cursor": None}
    assert other.get(f"{API}/rewards/charity/totals").json() == {"currency": "EUR", "items": []}
    assert len(rw.api.get(f"{API}/rewards").json()["items"]) == 3


def test_a_member_of_another_organization_cannot_be_named(rw):
    stranger = make_member(make_org("salle-de-sport"))
    with nothing_written(idempotency_records=1):
        response = rw.api.post(f"{API}/rewards/{rw.reward.id}/seen", {"member": {"card": stranger.card_number}}, key="s")
        assert_problem(response, 404, "member_not_found")


# --- store keys ---------------------------------------------------------------------------------

# Endpoints that name a store, and how many refusals they store.
STORE_NAMED = {"reward.create": 1, "member.wallet_spend": 1, "voucher.validate": 0, "voucher.use": 1}


@pytest.mark.parametrize("name", sorted(STORE_NAMED))
def test_a_store_key_cannot_act_for_another_store(rw, name):
    till = client_for(rw.org, store=store_create(organization=rw.org, code="lyon-2", name="Lyon 2e"))
    with nothing_written(idempotency_records=STORE_NAMED[name]):
        assert_problem(ENDPOINTS_BY_NAME[name].call(till, rw), 403, "store_not_allowed")


def test_a_store_key_cannot_restrict_a_reward_to_another_store(rw):
    till = client_for(rw.org, store=store_create(organization=rw.org, code="lyon-2", name="Lyon 2e"))
    with nothing_written():
        assert_problem(send(till, "PATCH", f"{API}/rewards/{rw.reward.id}", {"stores": ["paris-11"]}), 403, "store_not_allowed")


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=str)
def test_malformed_json_is_400(rw, endpoint):
    with nothing_written():
        for raw in ["{not json", '{"a": 1', "nul\x00", "\xff\xfe"]:
            assert_problem(call(endpoint, rw.api, rw, raw=raw), 400, "malformed_request")


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=str)
def test_a_body_that_is_not_an_object_is_422(rw, endpoint):
    with nothing_written():
        for raw in ["", "[]", "42", '"text"', "null"]:
            assert_problem(call(endpoint, rw.api, rw, raw=raw), 422, "validation_error")


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=str)
def test_unknown_fields_are_refused(rw, endpoint):
    body = {**endpoint.body(rw), "bonus_points": 1000}
    with nothing_written():
        problem = assert_problem(call(endpoint, rw.api, rw, body), 422, "validation_error")
    assert problem["errors"][0]["field"] == "body.bonus_points"


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=str)
def test_a_huge_payload_is_413(rw, endpoint):
    body = {**endpoint.body(rw), "padding": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}
    with nothing_written():
        assert_problem(call(endpoint, rw.api, rw, body), 413, "payload_too_large")


NUL_FIELDS = {
    "reward.create": ("title_fr",),
    "reward.update": ("title_en",),
    "reward.codes": ("codes", 0),
    "reward.create:stores": ("stores", 0),
    "reward.seen": ("member", "card"),
    "member.wallet_spend": ("store",),
    "voucher.validate": ("store",),
    "voucher.use": ("purchase_external_id",),
}


@pytest.mark.parametrize("name", sorted(NUL_FIELDS))
def test_nul_characters_are_refused_not_a_500(rw, name):
    endpoint = ENDPOINTS_BY_NAME[name.split(":")[0]]
    body = endpoint.body(rw)
    *parents, field = NUL_FIELDS[name]
    target = body
    for parent in parents:
        target = target[parent]
    target[field] = target[field] + "\x00"
    with nothing_written():
        assert_problem(call(endpoint, rw.api, rw, body), 422, "validation_error")


@pytest.mark.parametrize("endpoint", KEYED, ids=str)
def test_the_idempotency_key_is_required_and_bounded(rw, endpoint):
    with nothing_written():
        response = rw.api.client.post(endpoint.path(rw), data=endpoint.body(rw) if endpoint.body else {}, content_type="application/json",
                                      HTTP_AUTHORIZATION=f"Bearer {rw.api.token}")
        assert_problem(response, 422, "idempotency_key_required")
        for key in ("   ", "k" * 256, "order\x001", "order\t1"):
            response = rw.api.post(endpoint.path(rw), endpoint.body(rw) if endpoint.body else {}, key=key)
            assert response.status_code == 422 and response.json()["code"] in {"idempotency_key_required", "idempotency_key_invalid"}


# --- idempotent replays -------------------------------------------------------------------------

OTHER_PAYLOAD = {
    "reward.create": {"cost_points": 21},
    "reward.codes": {"codes": ["OTHER"]},
    "reward.seen": {"member": {"id": 1}},
    "member.redeem": {"channel": "portal"},
    "member.wallet_spend": {"basket_cents": 301},
    "voucher.use": {"basket_cents": 2001},
}


@pytest.mark.parametrize("endpoint", KEYED, ids=str)
def test_a_retry_returns_the_first_response_byte_for_byte(rw, endpoint):
    body = endpoint.body(rw) if endpoint.body else {}
    first = rw.api.post(endpoint.path(rw), body, key="order-1")
    assert 200 <= first.status_code < 300, first.content
    with nothing_written():
        again = rw.api.post(endpoint.path(rw), body, key="order-1")
    assert (again.status_code, again.content, again["Idempotent-Replayed"]) == (first.status_code, first.content, "true")
    path = endpoint.path(rw)
    if endpoint.name == "voucher.cancel":  # no body: another voucher is another payload
        other = reward_redeem(program=program_of(rw.org), member=rw.member, reward=rw.reward).voucher
        path = f"{API}/vouchers/{other.code}/cancel"
    with nothing_written():
        assert_problem(rw.api.post(path, {**body, **OTHER_PAYLOAD.get(endpoint.name, {})}, key="order-1"), 409, "idempotency_key_reused")


@pytest.mark.parametrize("endpoint", KEYED, ids=str)
def test_a_refused_request_is_replayed_as_refused(rw, endpoint):
    path = endpoint.path(rw).replace(f"/members/{rw.member.id}/", "/members/999999999/")
    path = path.replace(rw.voucher.code, "0000000000000000").replace(f"/rewards/{rw.reward.id}/", "/rewards/999999999/")
    path = path.replace(f"/rewards/{rw.partner.id}/", "/rewards/999999999/")
    body = endpoint.body(rw) if endpoint.body else {}
    if endpoint.name == "reward.create":
        body["stores"] = ["marseille-1"]
    first = rw.api.post(path, body, key="order-1")
    assert 400 <= first.status_code < 500, first.content
    with nothing_written():
        again = rw.api.post(path, body, key="order-1")
    assert (again.content, again["Idempotent-Replayed"]) == (first.content, "true")
