"""Enrollment, identifiers (card, email, phone), duplicates, lookup and consent."""

import datetime as dt

import pytest

from fidelo.conftest import STAFF, make_member, make_org
from fidelo.core.models import AuditEntry
from fidelo.members.errors import DuplicateMember, InvalidMemberData, MemberNotFound
from fidelo.members.identifiers import is_valid_card_number, luhn_check_digit, new_card_number, normalize_phone
from fidelo.members.models import Consent, Member
from fidelo.members.selectors import access_member, current_consents, member_lookup, member_search
from fidelo.members.services import member_consent_set, member_enroll, member_update
from fidelo.tenancy.services import store_create

pytestmark = pytest.mark.django_db


def test_enrollment_normalizes_identifiers_and_records_consent(org, store):
    member = member_enroll(
        organization=org, actor=STAFF, first_name=" Léa ", last_name="Moreau", email="Lea.Moreau@Exemple.FR", phone="06 12 34 56 78",
        birthday=dt.date(1990, 5, 17), store=store, consents={"email": True, "sms": False},
    )
    assert (member.first_name, member.email, member.phone) == ("Léa", "lea.moreau@exemple.fr", "+33612345678")
    assert member.enrolled_store == store and member.enrolled_at is not None
    assert is_valid_card_number(member.card_number) and len(member.card_number) == 12
    consents = current_consents(member)
    assert consents["email"]["granted"] is True and consents["sms"]["granted"] is False
    assert consents["email"]["source"] == "store:paris-11"
    assert AuditEntry.objects.filter(action="member.enroll", target_id=str(member.id)).exists()


@pytest.mark.parametrize("field, value", [("email", "ANNE.DUPONT@exemple.fr"), ("phone", "+33 6 12 34 56 78")])
def test_a_second_member_with_the_same_email_or_phone_is_a_409(member, org, field, value):
    with pytest.raises(DuplicateMember) as error:
        member_enroll(organization=org, actor=STAFF, first_name="Autre", **{field: value})
    assert error.value.status == 409
    assert error.value.extra["fields"] == [field]
    assert Member.objects.count() == 1


def test_the_same_email_is_fine_in_another_organization(member):
    other = make_org("autre-commerce")
    assert member_enroll(organization=other, actor=STAFF, email=member.email).email == member.email


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"email": "not-an-email"}, "invalid_email"),
        ({"phone": "12"}, "invalid_phone"),
        ({}, "member_identity_missing"),
        ({"first_name": "x" * 121}, "invalid_member"),
        ({"first_name": "A", "locale": "de"}, "invalid_locale"),
        ({"first_name": "A", "consents": {"pigeon": True}}, "invalid_member"),
        ({"first_name": "A", "birthday": dt.date(2999, 1, 1)}, "invalid_member"),
        ({"first_name": "A", "birthday": dt.date(1, 1, 1)}, "invalid_member"),
    ],
)
def test_bad_member_data_is_refused_and_nothing_is_written(org, fields, code):
    with pytest.raises(InvalidMemberData) as error:
        member_enroll(organization=org, actor=STAFF, **fields)
    assert error.value.code == code
    assert Member.objects.count() == 0 and Consent.objects.count() == 0


def test_a_member_is_found_by_card_email_phone_or_id(member, org):
    assert member_lookup(org, card=member.card_number) == member
    assert member_lookup(org, email="Anne.Dupont@exemple.fr") == member
    assert member_lookup(org, phone="0612345678") == member
    assert member_lookup(org, member_id=member.id) == member
    with pytest.raises(MemberNotFound):
        member_lookup(org, card="000000000000")
    with pytest.raises(InvalidMemberData):
        member_lookup(org, card=member.card_number, email=member.email)


def test_members_of_another_organization_are_invisible(member):
    other = make_org("concurrent")
    with pytest.raises(MemberNotFound):
        access_member(other.id, member.id)
    with pytest.raises(MemberNotFound):
        member_lookup(other, email=member.email)


def test_search_by_name_card_or_phone(member, org):
    make_member(org, first_name="Bruno", last_name="Petit")
    assert list(member_search(org.id, "dupont")) == [member]
    assert list(member_search(org.id, "Anne Dupont")) == [member]
    assert list(member_search(org.id, member.card_number[:6])) == [member]
    assert member_search(org.id, "").count() == 2


def test_profile_update_refuses_a_duplicate_email(member, org):
    other = make_member(org, email="bruno@exemple.fr")
    with pytest.raises(DuplicateMember):
        member_update(member=other, actor=STAFF, email=member.email)
    member_update(member=other, actor=STAFF, phone="07 11 22 33 44")
    other.refresh_from_db()
    assert other.phone == "+33711223344"


def test_consent_history_keeps_every_decision_and_the_latest_wins(member):
    member_consent_set(member=member, channel="sms", granted=True, source="portal")
    member_consent_set(member=member, channel="sms", granted=False, source="sms:STOP")
    assert current_consents(member)["sms"] == {"granted": False, "at": current_consents(member)["sms"]["at"], "source": "sms:STOP"}
    assert Consent.objects.filter(member=member, channel="sms").count() == 2


def test_card_numbers_carry_a_luhn_check_digit():
    for _ in range(50):
        card = new_card_number()
        assert len(card) == 12 and is_valid_card_number(card)
    assert luhn_check_digit("7992739871") == "3"
    assert not is_valid_card_number("79927398714")


def test_phone_numbers_take_the_organization_region():
    assert normalize_phone("01 42 68 53 00") == "+33142685300"
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"


def test_enrollment_store_must_belong_to_the_organization(org):
    other = make_org("autre")
    foreign = store_create(organization=other, code="x", name="X")
    with pytest.raises(InvalidMemberData):
        member_enroll(organization=org, actor=STAFF, first_name="A", store=foreign)


def test_a_lean_lookup_reads_three_fields_and_loads_the_rest_on_demand(member, org, django_assert_num_queries):
    with django_assert_num_queries(1):
        lean = member_lookup(org, card=member.card_number, lean=True)
        assert (lean.id, lean.organization_id, lean.status) == (member.id, org.id, "active")
    with django_assert_num_queries(1):
        assert lean.last_name == "Dupont"
    with pytest.raises(MemberNotFound):
        member_lookup(org, email="nobody@exemple.fr", lean=True)
