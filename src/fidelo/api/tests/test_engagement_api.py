"""Stamp cards and achievements through the API: define, list, change, a member's progress; bad input; other organizations."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fidelo.api.tests.helpers import (
    API,
    assert_problem,
    client_for,
    nothing_written,
    send,
)
from fidelo.conftest import ApiClient, at, make_member, make_org, program_of
from fidelo.core.models import AuditEntry
from fidelo.engagement.services import achievement_grant, stamps_add
from fidelo.engagement.tests.helpers import (
    badge,
    coffee_card,
    engagement_state,
    free_coffee,
)

pytestmark = pytest.mark.django_db

DAY = at(2025, 3, 3, 8, 30)


@pytest.fixture
def other(db):
    """Another café, with its own card, badge, member and API key."""
    org = make_org("autre-cafe")
    program = program_of(org)
    coffee_card(program, code="cafe-autre")
    badge(program, code="badge-autre")
    return {"org": org, "member": make_member(org), "api": client_for(org)}


@contextmanager
def nothing_changed(*, idempotency_records: int = 0) -> Iterator[None]:
    """No table the API writes changes, engagement included; a refusal by a service stores
    its response under the key (idempotency_records=1), a refusal before it stores nothing."""
    before = engagement_state()
    with nothing_written(idempotency_records=idempotency_records):
        yield
    assert engagement_state() == before


CARD = {"code": "cafe", "name_fr": "Carte café", "name_en": "Coffee card", "stamps_required": 10}
BADGE = {"code": "fidele", "name_fr": "Habitué", "name_en": "Regular", "icon": "☕"}


# --- stamp cards ---------------------------------------------------------------------------------


def test_a_stamp_card_is_defined_listed_changed_and_shown_on_the_member(api, program, member):
    coffee = free_coffee(program)
    response = api.post(f"{API}/stamp-cards", {**CARD, "reward_id": coffee.pk, "description_fr": "Le 11e café offert"}, key="card-1")
    assert response.status_code == 201, response.content
    card = response.json()
    assert card == {
        **CARD, "reward_id": coffee.pk, "description_fr": "Le 11e café offert", "description_en": "", "active": True,
        "created_at": card["created_at"],
    }
    # A retry with the same key replays the first response; the same key with another body is a conflict
    replay = api.post(f"{API}/stamp-cards", {**CARD, "reward_id": coffee.pk, "description_fr": "Le 11e café offert"}, key="card-1")
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (201, card, "true")
    assert_problem(api.post(f"{API}/stamp-cards", {**CARD, "code": "autre"}, key="card-1"), 409, "idempotency_key_reused")
    assert api.get(f"{API}/stamp-cards").json() == {"items": [card]}
    # Changed: fewer stamps, no reward, then retired
    changed = send(api, "PATCH", f"{API}/stamp-cards/cafe", {"stamps_required": 8, "reward_id": None})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["stamps_required"], changed.json()["reward_id"], changed.json()["code"]) == (8, None, "cafe")
    stamps_add(program=program, member=member, card_code="cafe", count=3, occurred_at=DAY, source_type="visit", source_id=1)
    mine = api.get(f"{API}/stamp-cards/members/{member.pk}").json()
    assert mine == {
        "member_id": member.pk,
        "items": [{"code": "cafe", "name_fr": "Carte café", "name_en": "Coffee card", "stamps": 3, "stamps_required": 8, "stamps_left": 5,
                   "completed": 0, "reward_id": None, "active": True}],
    }
    assert send(api, "PATCH", f"{API}/stamp-cards/cafe", {"active": False}).json()["active"] is False
    assert api.get(f"{API}/stamp-cards").json() == {"items": []}
    assert [c["code"] for c in api.get(f"{API}/stamp-cards", all="true").json()["items"]] == ["cafe"]
    actions = list(AuditEntry.objects.filter(target_type="stamp_card").values_list("action", flat=True).order_by("pk"))
    assert actions == ["stamp_card.create", "stamp_card.update", "stamp_card.update"]


def test_a_member_is_named_by_id_card_email_phone_or_external_id(api, program, member):
    coffee_card(program)
    stamps_add(program=program, member=member, card_code="cafe", count=2, occurred_at=DAY, source_type="visit", source_id=1)
    for ref in (str(member.pk), f"card:{member.card_number}", "email:Anne.Dupont@exemple.fr", "phone:06 12 34 56 78"):
        body = api.get(f"{API}/stamp-cards/members/{ref}").json()
        assert (body["member_id"], body["items"][0]["stamps"]) == (member.pk, 2), ref


@pytest.mark.parametrize(
    ("ref", "status", "code"),
    [
        ("999999999", 404, "member_not_found"),
        ("99999999999999999999999", 422, "member_identifier_invalid"),  # beyond any id
        ("abc", 422, "member_identifier_invalid"),
        ("shoe:42", 422, "member_identifier_invalid"),
        ("card:", 422, "member_identifier_invalid"),
        ("email:nobody@exemple.fr", 404, "member_not_found"),
    ],
)
def test_a_bad_or_unknown_member_reference_is_refused(api, ref, status, code):
    assert_problem(api.get(f"{API}/stamp-cards/members/{ref}"), status, code)
    assert_problem(api.get(f"{API}/achievements/members/{ref}"), status, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({k: v for k, v in CARD.items() if k != "name_fr"}, "validation_error"),
        ({**CARD, "stamps_required": 0}, "validation_error"),
        ({**CARD, "stamps_required": 1001}, "validation_error"),
        ({**CARD, "stamps_required": "10"}, "validation_error"),
        ({**CARD, "active": "yes"}, "validation_error"),
        ({**CARD, "colour": "red"}, "validation_error"),
        ({**CARD, "code": "x" * 65}, "validation_error"),
        ({**CARD, "code": "a\x00b"}, "validation_error"),
        ({**CARD, "name_fr": "x" * 201}, "validation_error"),
    ],
)
def test_a_malformed_card_is_refused_before_anything_is_written(api, body, code):
    with nothing_changed():
        assert_problem(api.post(f"{API}/stamp-cards", body, key="bad-card"), 422, code)


def test_cards_the_service_refuses_are_refused_and_nothing_is_written(api, program, other):
    coffee_card(program)
    foreign = free_coffee(program_of(other["org"]))
    cases = [
        ({**CARD, "code": "cafe"}, 409, "stamp_card_exists"),
        ({**CARD, "code": "un code"}, 422, "invalid_stamp_card"),
        ({**CARD, "code": "the", "name_fr": "  "}, 422, "invalid_stamp_card"),
        ({**CARD, "code": "the", "reward_id": foreign.pk}, 404, "reward_not_found"),
        ({**CARD, "code": "the", "reward_id": 2**70}, 404, "reward_not_found"),
    ]
    for n, (body, status, code) in enumerate(cases):
        with nothing_changed(idempotency_records=1):
            assert_problem(api.post(f"{API}/stamp-cards", body, key=f"refused-{n}"), status, code)
    with nothing_changed():
        assert_problem(api.post(f"{API}/stamp-cards", CARD), 422, "idempotency_key_required")
        assert_problem(ApiClient(None).post(f"{API}/stamp-cards", {**CARD, "code": "x"}, key="anon"), 401, "invalid_api_key")
        assert_problem(ApiClient(None).get(f"{API}/stamp-cards"), 401, "invalid_api_key")


def test_bad_changes_and_other_organizations_cards_are_refused(api, program, other):
    coffee_card(program)
    with nothing_changed():
        assert_problem(send(api, "PATCH", f"{API}/stamp-cards/nope", {"active": False}), 404, "stamp_card_not_found")
        assert_problem(send(api, "PATCH", f"{API}/stamp-cards/cafe-autre", {"active": False}), 404, "stamp_card_not_found")
        assert_problem(send(api, "PATCH", f"{API}/stamp-cards/cafe", {"name_fr": None}), 422, "validation_error")
        assert_problem(send(api, "PATCH", f"{API}/stamp-cards/cafe", {"stamps_required": 0}), 422, "validation_error")
        assert_problem(send(api, "PATCH", f"{API}/stamp-cards/cafe", {"code": "autre"}), 422, "validation_error")
        assert_problem(send(api, "PATCH", f"{API}/stamp-cards/cafe", {"reward_id": 123456789}), 404, "reward_not_found")
        assert_problem(send(api, "PATCH", f"{API}/stamp-cards/cafe", raw="{not json"), 400, "malformed_request")
        assert_problem(api.get(f"{API}/stamp-cards/members/{other['member'].pk}"), 404, "member_not_found")
    assert [c["code"] for c in api.get(f"{API}/stamp-cards", all="true").json()["items"]] == ["cafe"]
    assert [c["code"] for c in other["api"].get(f"{API}/stamp-cards").json()["items"]] == ["cafe-autre"]


# --- achievements ----------------------------------------------------------------------------------


def test_a_badge_is_defined_listed_changed_and_shown_on_the_member_who_earned_it(api, program, member):
    response = api.post(f"{API}/achievements", {**BADGE, "description_fr": "5 visites en un mois"}, key="badge-1")
    assert response.status_code == 201, response.content
    made = response.json()
    assert made == {
        **BADGE, "description_fr": "5 visites en un mois", "description_en": "", "image_url": "", "active": True,
        "created_at": made["created_at"],
    }
    assert api.get(f"{API}/achievements").json() == {"items": [made]}
    changed = send(api, "PATCH", f"{API}/achievements/fidele", {"image_url": "https://exemple.fr/fidele.png", "name_en": "Loyal"})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["image_url"], changed.json()["name_en"]) == ("https://exemple.fr/fidele.png", "Loyal")
    assert api.get(f"{API}/achievements/members/{member.pk}").json() == {"member_id": member.pk, "items": []}
    achievement_grant(member=member, badge_code="fidele", occurred_at=DAY, source_type="visit", source_id=5)
    mine = api.get(f"{API}/achievements/members/card:{member.card_number}").json()
    assert mine == {
        "member_id": member.pk,
        "items": [{"code": "fidele", "name_fr": "Habitué", "name_en": "Loyal", "description_fr": "5 visites en un mois", "description_en": "",
                   "icon": "☕", "image_url": "https://exemple.fr/fidele.png", "earned_at": mine["items"][0]["earned_at"],
                   "source_type": "visit", "source_id": 5}],
    }
    assert mine["items"][0]["earned_at"] == "2025-03-03T07:30:00Z"
    assert send(api, "PATCH", f"{API}/achievements/fidele", {"active": False}).json()["active"] is False
    assert api.get(f"{API}/achievements").json() == {"items": []}
    assert len(api.get(f"{API}/achievements", all="true").json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({k: v for k, v in BADGE.items() if k != "code"}, 422, "validation_error"),
        ({**BADGE, "icon": "x" * 17}, 422, "validation_error"),
        ({**BADGE, "points": 5}, 422, "validation_error"),
        ({**BADGE, "active": 1}, 422, "validation_error"),
    ],
)
def test_a_malformed_badge_is_refused_before_anything_is_written(api, body, status, code):
    with nothing_changed():
        assert_problem(api.post(f"{API}/achievements", body, key="bad-badge"), status, code)


def test_badges_the_service_refuses_and_other_organizations_badges_are_refused(api, program, member, other):
    badge(program, code="fidele")
    cases = [
        ({**BADGE}, 409, "badge_exists"),
        ({**BADGE, "code": "un badge"}, 422, "invalid_badge"),
        ({**BADGE, "code": "x", "image_url": "javascript:alert(1)"}, 422, "invalid_badge"),
        ({**BADGE, "code": "x", "name_fr": ""}, 422, "invalid_badge"),
    ]
    for n, (body, status, code) in enumerate(cases):
        with nothing_changed(idempotency_records=1):
            assert_problem(api.post(f"{API}/achievements", body, key=f"refused-{n}"), status, code)
    with nothing_changed():
        assert_problem(send(api, "PATCH", f"{API}/achievements/badge-autre", {"active": False}), 404, "badge_not_found")
        assert_problem(send(api, "PATCH", f"{API}/achievements/fidele", {"active": None}), 422, "validation_error")
        assert_problem(send(api, "PATCH", f"{API}/achievements/fidele", {"code": "y"}), 422, "validation_error")
        assert_problem(api.get(f"{API}/achievements/members/{other['member'].pk}"), 404, "member_not_found")
        assert_problem(ApiClient(None).get(f"{API}/achievements"), 401, "invalid_api_key")
    assert [b["code"] for b in other["api"].get(f"{API}/achievements").json()["items"]] == ["badge-autre"]
