"""Members through the API: enrollment, card and QR code, look-up at the till, search."""

import datetime as dt

import pytest
import segno

from fidelo.api.tests.helpers import API, assert_problem, nothing_written, state
from fidelo.conftest import make_member
from fidelo.members.identifiers import is_valid_card_number
from fidelo.members.models import Consent, Member

pytestmark = pytest.mark.django_db

LEA = {
    "first_name": "Léa",
    "last_name": "Martin",
    "email": "  Lea.Martin@Exemple.FR ",
    "phone": "06 98 76 54 32",
    "birthday": "1990-05-17",
    "locale": "en",
    "store": "paris-11",
    "external_id": "CRM-42",
    "consents": {"email": True, "sms": False},
}


def test_enrollment_returns_the_member_with_a_card_number(api, store):
    before = state()
    response = api.post(f"{API}/members", LEA, key="enroll-lea")
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/json"
    member = response.json()
    assert len(member["card_number"]) == 12 and member["card_number"].isdigit()
    assert is_valid_card_number(member["card_number"])
    assert member["email"] == "lea.martin@exemple.fr"
    assert member["phone"] == "+33698765432"
    assert (member["first_name"], member["last_name"], member["birthday"]) == ("Léa", "Martin", "1990-05-17")
    assert (member["locale"], member["status"], member["external_id"]) == ("en", "active", "CRM-42")
    assert member["enrolled_store"] == "paris-11"
    assert dt.datetime.fromisoformat(member["enrolled_at"]).tzinfo is not None
    assert member["card_qr_url"] == f"{API}/members/{member['id']}/card.svg"
    after = state()
    assert (after["member"] - before["member"], after["consent"] - before["consent"], after["idempotency"] - before["idempotency"]) == (1, 2, 1)
    assert after["transfer"] == before["transfer"]  # enrolling earns nothing at the base rate


def test_consents_are_stored_with_time_and_source(api, store):
    member = api.post(f"{API}/members", LEA, key="enroll-lea").json()
    consents = member["consents"]
    assert set(consents) == {"email", "sms"}
    assert consents["email"]["granted"] is True and consents["sms"]["granted"] is False
    for consent in consents.values():
        assert consent["source"] == "api:paris-11"
        assert dt.datetime.fromisoformat(consent["at"]) == dt.datetime.fromisoformat(member["enrolled_at"])
    rows = Consent.objects.filter(member_id=member["id"]).order_by("channel")
    assert [(c.channel, c.granted, c.source) for c in rows] == [("email", True, "api:paris-11"), ("sms", False, "api:paris-11")]
    assert all(c.at is not None for c in rows)


def test_enrollment_without_store_records_the_api_as_source(api):
    member = api.post(f"{API}/members", {"email": "zoe@exemple.fr", "consents": {"voice": True}}, key="z").json()
    assert member["enrolled_store"] is None
    assert member["locale"] == "fr"  # the organization's
    assert member["consents"]["voice"]["source"] == "api"


def test_a_member_reads_back_as_enrolled(api, store):
    enrolled = api.post(f"{API}/members", LEA, key="enroll-lea").json()
    response = api.get(f"{API}/members/{enrolled['id']}")
    assert response.status_code == 200
    assert response.json() == enrolled


def test_the_card_qr_code_is_an_svg_of_the_card_number(api, member):
    response = api.get(f"{API}/members/{member.id}/card.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg == segno.make(member.card_number, error="m").svg_inline(scale=6)


# --- look-up at the till ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"card": "CARD"},
        {"card": "SPACED"},
        {"email": "anne.dupont@exemple.fr"},
        {"email": "ANNE.Dupont@Exemple.FR"},
        {"email": " anne.dupont@exemple.fr "},
        {"phone": "06 12 34 56 78"},
        {"phone": "0612345678"},
        {"phone": "+33612345678"},
        {"phone": "+33 6 12 34 56 78"},
        {"phone": "06.12.34.56.78"},
        {"external_id": "CRM-7"},
    ],
    ids=lambda p: f"{next(iter(p))}={next(iter(p.values()))}",
)
def test_lookup_finds_the_member_by_any_identifier(api, org, params):
    anne = make_member(org, first_name="Anne", last_name="Dupont", email="anne.dupont@exemple.fr", phone="06 12 34 56 78", external_id="CRM-7")
    make_member(org, first_name="Bruno", phone="07 12 34 56 78")
    card = anne.card_number
    params = {k: {"CARD": card, "SPACED": f"{card[:4]} {card[4:8]} {card[8:]}"}.get(v, v) for k, v in params.items()}
    response = api.get(f"{API}/members/lookup", **params)
    assert response.status_code == 200, response.content
    assert response.json()["id"] == anne.id


def test_the_two_french_phone_formats_find_the_same_member(api, member):
    national = api.get(f"{API}/members/lookup", phone="06 12 34 56 78").json()
    international = api.get(f"{API}/members/lookup", phone="+33612345678").json()
    assert national == international
    assert national["id"] == member.id and national["phone"] == "+33612345678"


def test_a_member_enrolled_with_an_international_phone_is_found_by_the_national_one(api):
    api.post(f"{API}/members", {"first_name": "Zoé", "phone": "+33 7 11 22 33 44"}, key="z")
    assert api.get(f"{API}/members/lookup", phone="07 11 22 33 44").json()["first_name"] == "Zoé"


# --- search -------------------------------------------------------------------------------------


@pytest.fixture
def people(org):
    return {
        "anne": make_member(org, first_name="Anne", last_name="Dupont", email="anne.dupont@exemple.fr", phone="06 12 34 56 78"),
        "paul": make_member(org, first_name="Paul", last_name="Dupont", email="paul@exemple.fr"),
        "chloe": make_member(org, first_name="Chloé", last_name="Bernard", email="chloe.b@exemple.fr"),
    }


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [m["first_name"] for m in response.json()["items"]]


@pytest.mark.parametrize(
    "q, expected",
    [
        ("Dupont", ["Paul", "Anne"]),
        ("dupont", ["Paul", "Anne"]),
        ("  Dupont ", ["Paul", "Anne"]),
        ("Anne", ["Anne"]),
        ("Anne Dupont", ["Anne"]),
        ("Dupont Anne", ["Anne"]),
        ("Chloé", ["Chloé"]),
        ("chloe.b@", ["Chloé"]),
        ("EXEMPLE.FR", ["Chloé", "Paul", "Anne"]),
        ("06 12 34", ["Anne"]),
        ("Zorro", []),
        ("", ["Chloé", "Paul", "Anne"]),
    ],
)
def test_search_by_name_email_or_phone(api, people, q, expected):
    assert names(api.get(f"{API}/members", q=q)) == expected


def test_search_by_card_prefix(api, people):
    card = people["chloe"].card_number
    assert "Chloé" in names(api.get(f"{API}/members", q=card[:8]))
    assert names(api.get(f"{API}/members", q=card)) == ["Chloé"]


def test_search_pages_with_a_cursor(api, org):
    for n in range(5):
        make_member(org, first_name=f"Membre{n}", last_name="Durand")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"q": "Durand", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"{API}/members", **params).json()
        seen += [m["first_name"] for m in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"Membre{n}" for n in reversed(range(5))]


def test_search_with_exactly_a_page_has_no_next_cursor(api, people):
    page = api.get(f"{API}/members", limit=3).json()
    assert len(page["items"]) == 3 and page["next_cursor"] is None


def test_reads_write_nothing(api, people):
    anne = people["anne"]
    with nothing_written():
        for path, params in [
            ("/members", {"q": "Dupont"}), ("/members/lookup", {"card": anne.card_number}), (f"/members/{anne.id}", {}),
            (f"/members/{anne.id}/balance", {}), (f"/members/{anne.id}/history", {}), (f"/members/{anne.id}/card.svg", {}),
            ("/program", {}), ("/program/stores", {}),
        ]:
            assert api.get(API + path, **params).status_code == 200


def test_enrollment_is_refused_when_the_external_id_is_taken(api, org):
    make_member(org, first_name="Anne", external_id="CRM-7")
    with nothing_written(idempotency_records=1):
        problem = assert_problem(api.post(f"{API}/members", {"first_name": "Autre", "external_id": "CRM-7"}, key="k"), 409, "member_exists")
    assert problem["fields"] == ["external_id"]
    assert Member.objects.filter(external_id="CRM-7").count() == 1
