"""Referrals through the API: settings, a member's code and link, enrolling with a code, statistics."""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fidelo.api.tests.helpers import API, assert_problem, client_for, send, state
from fidelo.conftest import STAFF, ApiClient, make_member, make_org
from fidelo.core.clock import now
from fidelo.core.models import AuditEntry, IdempotencyRecord
from fidelo.ledger.tests.helpers import buy
from fidelo.referrals.models import Referral, ReferralCode, ReferralStatus
from fidelo.referrals.selectors import clear_caches
from fidelo.referrals.services import (
    referral_code_for,
    referral_progress,
    referral_settings_update,
)
from fidelo.referrals.tests.helpers import snapshot
from fidelo.tenancy.selectors import program_for

pytestmark = pytest.mark.django_db

SETTINGS = f"{API}/referrals/settings"
ENROLL = f"{API}/referrals/enroll"


@pytest.fixture(autouse=True)
def _clear_referral_settings_cache() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def on(org):
    return referral_settings_update(
        organization=org, actor=STAFF, enabled=True, referrer_points=100, referee_points=50, min_purchase_minor=2000
    )


@pytest.fixture
def anne(org):
    return make_member(org, first_name="Anne", last_name="Dupont", email="anne.dupont@exemple.fr", phone="06 12 34 56 78")


@contextmanager
def unchanged(*, idempotency_records: int = 0) -> Iterator[None]:
    before = (state(), snapshot())
    yield
    after = (state(), snapshot())
    before[0]["idempotency"] += idempotency_records
    assert after == before


# --- settings ---------------------------------------------------------------------------------------


def test_settings_are_off_until_the_merchant_turns_them_on(api):
    response = api.get(SETTINGS)
    assert response.status_code == 200
    assert response.json() == {
        "enabled": False, "unit": "PTS", "referrer_points": 0, "referee_points": 0, "min_purchase_cents": 0, "completion_days": 0,
        "max_per_referrer_per_year": 0, "link_base_url": "",
    }


def test_settings_are_replaced_and_read_back_and_the_change_is_audited(api, org):
    body = {
        "enabled": True, "referrer_points": 200, "referee_points": 100, "min_purchase_cents": 3000, "completion_days": 60,
        "max_per_referrer_per_year": 10, "link_base_url": "https://cafe.example/inscription",
    }
    response = send(api, "PUT", SETTINGS, body)
    assert response.status_code == 200, response.content
    assert response.json() == {**body, "unit": "PTS"}
    assert api.get(SETTINGS).json() == {**body, "unit": "PTS"}
    entry = AuditEntry.objects.get(action="referrals.settings")
    assert entry.organization_id == org.id and entry.actor.startswith("api_key:")
    # A PUT replaces: the optional fields left out go back to their defaults
    response = send(api, "PUT", SETTINGS, {"enabled": False, "referrer_points": 0, "referee_points": 0})
    assert response.json()["link_base_url"] == "" and response.json()["completion_days"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"referrer_points": 10, "referee_points": 5},  # enabled missing
        {"enabled": True, "referrer_points": -1, "referee_points": 5},
        {"enabled": True, "referrer_points": "10", "referee_points": 5},
        {"enabled": True, "referrer_points": 10.5, "referee_points": 5},
        {"enabled": "yes", "referrer_points": 10, "referee_points": 5},
        {"enabled": True, "referrer_points": 10**10, "referee_points": 5},
        {"enabled": True, "referrer_points": 10, "referee_points": 5, "completion_days": 4000},
        {"enabled": True, "referrer_points": 10, "referee_points": 5, "colour": "blue"},
    ],
    ids=str,
)
def test_bad_settings_are_refused_by_the_schema_and_nothing_changes(api, body):
    with unchanged():
        assert_problem(send(api, "PUT", SETTINGS, body), 422, "validation_error")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://cafe.example/a b", "ftp://cafe.example"])
def test_a_bad_link_address_is_refused_by_the_service_and_nothing_changes(api, url):
    with unchanged():
        assert_problem(send(api, "PUT", SETTINGS, {"enabled": True, "referrer_points": 1, "referee_points": 1, "link_base_url": url}),
                       422, "invalid_referral_settings")


def test_a_malformed_body_is_refused(api):
    with unchanged():
        assert_problem(send(api, "PUT", SETTINGS, raw="{not json"), 400, "malformed_request")


def test_each_organization_sees_and_changes_only_its_own_settings(api, org, on):
    other = make_org("boulangerie")
    other_api = client_for(other)
    assert other_api.get(SETTINGS).json()["enabled"] is False
    send(other_api, "PUT", SETTINGS, {"enabled": True, "referrer_points": 7, "referee_points": 3})
    assert api.get(SETTINGS).json()["referrer_points"] == 100


# --- a member's code, link and referrals ------------------------------------------------------------------


def test_a_member_gets_a_code_and_a_link_on_the_portal(api, org, anne, on):
    response = api.get(f"{API}/referrals/members/{anne.id}")
    assert response.status_code == 200, response.content
    body = response.json()
    code = ReferralCode.objects.get(member=anne).code
    assert body == {
        "member_id": anne.id, "code": code, "link": f"http://testserver/portal/{org.slug}/join?ref={code}", "referred_by": None,
        "referrals": [],
    }
    assert api.get(f"{API}/referrals/members/{anne.id}").json()["code"] == code  # the same code every time


def test_the_public_address_and_the_merchant_sign_up_page_shape_the_link(api, org, anne, on, settings):
    settings.PUBLIC_URL = "https://fidelite.example/"
    code = referral_code_for(member=anne)
    assert api.get(f"{API}/referrals/members/{anne.id}").json()["link"] == f"https://fidelite.example/portal/{org.slug}/join?ref={code}"
    send(api, "PUT", SETTINGS, {"enabled": True, "referrer_points": 1, "referee_points": 1, "link_base_url": "https://cafe.example/join"})
    assert api.get(f"{API}/referrals/members/{anne.id}").json()["link"] == f"https://cafe.example/join?ref={code}"


def test_the_referrals_a_member_made_are_listed_with_their_status(api, org, anne, on):
    code = referral_code_for(member=anne)
    zoe = make_member(org, first_name="Zoé")
    assert api.post(ENROLL, {"member": {"id": zoe.id}, "code": code}, key="e-1").status_code == 201
    program = program_for(org.id)
    purchase = buy(program, zoe, 3000, occurred_at=now()).purchase
    referral_progress(program=program, member=zoe, amount_minor=3000, occurred_at=purchase.occurred_at, source_type="purchase",
                      source_id=purchase.id)
    body = api.get(f"{API}/referrals/members/{anne.id}").json()
    [made] = body["referrals"]
    assert (made["referee_id"], made["status"], made["referrer_points"], made["referee_points"]) == (zoe.id, "completed", 100, 50)
    assert (made["source_type"], made["source_id"]) == ("purchase", purchase.id)
    mine = api.get(f"{API}/referrals/members/{zoe.id}").json()
    assert mine["referred_by"]["referrer_id"] == anne.id and mine["referrals"] == []


def test_a_member_is_named_by_id_or_by_identifier(api, org, anne, on):
    code = referral_code_for(member=anne)
    for ref in (str(anne.id), f"card:{anne.card_number}", "email:Anne.Dupont@exemple.fr", "phone:06 12 34 56 78"):
        response = api.get(f"{API}/referrals/members/{ref}")
        assert response.status_code == 200, (ref, response.content)
        assert response.json()["member_id"] == anne.id and response.json()["code"] == code


@pytest.mark.parametrize("ref", ["999999999", "card:000000000000", "email:nobody@exemple.fr"])
def test_an_unknown_member_is_404_and_nothing_is_written(api, ref):
    with unchanged():
        assert_problem(api.get(f"{API}/referrals/members/{ref}"), 404, "member_not_found")


def test_a_member_of_another_organization_is_not_found(api, org, on):
    other = make_org("boulangerie")
    stranger = make_member(other, email="zoe@boulangerie.fr")
    for ref in (str(stranger.id), f"card:{stranger.card_number}", "email:zoe@boulangerie.fr"):
        with unchanged():
            assert_problem(api.get(f"{API}/referrals/members/{ref}"), 404, "member_not_found")


@pytest.mark.parametrize("ref", ["anne", "0", "-3", str(2**70), "colour:blue", "card:", "email:" + "x" * 300])
def test_a_member_reference_that_means_nothing_is_refused(api, ref):
    with unchanged():
        assert_problem(api.get(f"{API}/referrals/members/{ref}"), 422, "member_identifier_invalid")


# --- enrolling with a code ----------------------------------------------------------------------------------


def test_a_new_member_is_enrolled_with_a_code_once_and_a_retry_replays(api, org, anne, on):
    code = referral_code_for(member=anne)
    zoe = make_member(org, email="zoe@exemple.fr")
    body = {"member": {"email": "ZOE@exemple.fr"}, "code": code.lower()}
    response = api.post(ENROLL, body, key="enroll-zoe")
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["referrer_id"], created["referee_id"], created["status"], created["code"]) == (anne.id, zoe.id, "pending", code)
    assert created["enrolled_at"] and created["completed_at"] is None
    # The same request again: the first response, replayed
    again = api.post(ENROLL, body, key="enroll-zoe")
    assert again.status_code == 201 and again.json() == created and again["Idempotent-Replayed"] == "true"
    # Another key, the same code: the existing referral (200), nothing new
    third = api.post(ENROLL, body, key="enroll-zoe-2")
    assert third.status_code == 200 and third.json() == created
    assert Referral.objects.count() == 1


def test_enrolling_needs_an_idempotency_key(api, org, anne, on):
    code = referral_code_for(member=anne)
    zoe = make_member(org)
    with unchanged():
        assert_problem(api.post(ENROLL, {"member": {"id": zoe.id}, "code": code}), 422, "idempotency_key_required")


def test_enrolling_refusals_have_their_codes_and_write_nothing_but_the_stored_refusal(api, org, anne, on):
    code = referral_code_for(member=anne)
    alias = make_member(org, email="anne.dupont+promo@exemple.fr")
    zoe = make_member(org)
    other = make_org("boulangerie")
    stranger = make_member(other)
    stranger_code = referral_code_for(member=stranger)
    cases = [
        ({"member": {"id": zoe.id}, "code": "ZZZZZZZZ"}, 404, "referral_code_unknown"),
        ({"member": {"id": zoe.id}, "code": stranger_code}, 404, "referral_code_unknown"),  # another organization's code
        ({"member": {"id": anne.id}, "code": code}, 422, "referral_self"),
        ({"member": {"id": alias.id}, "code": code}, 422, "referral_self"),
        ({"member": {"id": stranger.id}, "code": code}, 404, "member_not_found"),  # another organization's member
        ({"member": {"card": "000000000000"}, "code": code}, 404, "member_not_found"),
    ]
    for index, (body, status, problem) in enumerate(cases):
        with unchanged(idempotency_records=1):
            response = api.post(ENROLL, body, key=f"refused-{index}")
            assert_problem(response, status, problem)
        # A retry is refused the same way
        assert_problem(api.post(ENROLL, body, key=f"refused-{index}"), status, problem)
    assert not Referral.objects.exists()


def test_enrolling_when_referrals_are_off_is_refused(api, org, anne):
    code = referral_code_for(member=anne)
    zoe = make_member(org)
    with unchanged(idempotency_records=1):
        assert_problem(api.post(ENROLL, {"member": {"id": zoe.id}, "code": code}, key="off"), 409, "referrals_disabled")


def test_a_member_referred_by_someone_else_is_refused(api, org, anne, on):
    zoe = make_member(org)
    assert api.post(ENROLL, {"member": {"id": zoe.id}, "code": referral_code_for(member=anne)}, key="first").status_code == 201
    bruno_code = referral_code_for(member=make_member(org, first_name="Bruno"))
    with unchanged(idempotency_records=1):
        body = assert_problem(api.post(ENROLL, {"member": {"id": zoe.id}, "code": bruno_code}, key="second"), 409, "referral_already_referred")
    assert body["referral_id"] == Referral.objects.get().id


@pytest.mark.parametrize(
    "body",
    [
        {"member": {"id": 1}},
        {"code": "ABCDEFGH"},
        {"member": {"id": 1}, "code": ""},
        {"member": {"id": 1}, "code": "A" * 33},
        {"member": {"id": 1}, "code": 12345678},
        {"member": {"id": 1}, "code": "ABCDEFGH", "referrer": 2},
        {"member": {"id": 1, "colour": "blue"}, "code": "ABCDEFGH"},
        {"member": "1", "code": "ABCDEFGH"},
        {"member": {"id": 1}, "code": "ABC\u0000DEF"},
    ],
    ids=str,
)
def test_bad_enroll_bodies_are_refused_and_nothing_is_written(api, on, body):
    with unchanged():
        assert_problem(api.post(ENROLL, body, key="bad"), 422, "validation_error")


def test_a_member_named_by_two_identifiers_is_refused(api, org, anne, on):
    zoe = make_member(org, email="zoe@exemple.fr")
    code = referral_code_for(member=anne)
    with unchanged(idempotency_records=1):
        response = api.post(ENROLL, {"member": {"id": zoe.id, "email": "zoe@exemple.fr"}, "code": code}, key="two")
        assert_problem(response, 422, "member_identifier_invalid")


# --- statistics ---------------------------------------------------------------------------------------------


def test_statistics_for_a_period(api, org, anne, on):
    code = referral_code_for(member=anne)
    for name in ("Zoé", "Léa"):
        member = make_member(org, first_name=name)
        api.post(ENROLL, {"member": {"id": member.id}, "code": code}, key=f"stats-{name}")
    referral = Referral.objects.order_by("pk").first()
    Referral.objects.filter(pk=referral.pk).update(status=ReferralStatus.COMPLETED, completed_at=referral.enrolled_at,
                                                   referrer_points=100, referee_points=50)
    start = (referral.enrolled_at - dt.timedelta(hours=1)).isoformat()
    end = (referral.enrolled_at + dt.timedelta(hours=1)).isoformat()
    body = api.get(f"{API}/referrals/stats", start=start, end=end).json()
    assert {k: body[k] for k in ("made", "completed", "refused", "expired", "referrer_points", "referee_points", "points_given")} == {
        "made": 2, "completed": 1, "refused": 0, "expired": 0, "referrer_points": 100, "referee_points": 50, "points_given": 150,
    }
    assert body["unit"] == "PTS"
    # Another organization sees none of it
    assert client_for(make_org("ailleurs")).get(f"{API}/referrals/stats", start=start, end=end).json()["made"] == 0


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"start": "2025-03-02T00:00:00+01:00", "end": "2025-03-01T00:00:00+01:00"}, "invalid_period"),
        ({"start": "2025-03-01T00:00:00", "end": "2025-03-02T00:00:00+01:00"}, "naive_datetime"),
        ({"start": "yesterday"}, "validation_error"),
        ({"start": "0001-01-01T00:00:00+00:00"}, "validation_error"),
    ],
    ids=str,
)
def test_a_bad_period_is_refused(api, params, code):
    assert_problem(api.get(f"{API}/referrals/stats", **params), 422, code)


# --- keys -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", SETTINGS), ("PUT", SETTINGS), ("GET", f"{API}/referrals/members/1"), ("POST", ENROLL), ("GET", f"{API}/referrals/stats")],
)
def test_without_a_valid_key_everything_is_refused(db, method, path):
    for caller in (ApiClient(None), ApiClient("fid_not-a-real-key")):
        with unchanged():
            if method == "GET":
                response = caller.get(path)
            elif method == "POST":
                response = caller.post(path, {"member": {"id": 1}, "code": "ABCDEFGH"}, key="k")
            else:
                response = send(caller, method, path, {"enabled": True, "referrer_points": 1, "referee_points": 1})
            assert_problem(response, 401, "invalid_api_key")
    assert not IdempotencyRecord.objects.exists()
