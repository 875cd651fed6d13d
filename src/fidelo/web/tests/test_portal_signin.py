"""Portal sign-in: a one-time link and code sent through a real SMTP server, 15 minutes, once."""

import datetime as dt

import pytest
from django.test import Client

from fidelo.conftest import make_member, make_org
from fidelo.core.clock import now, travel_to
from fidelo.core.models import IdempotencyRecord
from fidelo.web.portal.signin import MAX_CODE_ATTEMPTS, SESSION_KEY
from fidelo.web.tests import test_portal_fixtures as fixtures
from fidelo.web.tests.test_portal_fixtures import Inbox, portal_client

smtp = fixtures.smtp  # the SMTP server fixture

pytestmark = pytest.mark.django_db


def ask_link(client: Client, org, email: str):
    return client.post(f"/portal/{org.slug}/signin/", {"email": email})


def test_a_member_signs_in_with_the_emailed_link(org, member, smtp: Inbox):
    client = Client()
    response = ask_link(client, org, "Anne.Dupont@exemple.fr")
    assert response.status_code == 302 and response["Location"].startswith(f"/portal/{org.slug}/signin/code/")
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["To"] == "anne.dupont@exemple.fr"
    link = smtp.link()
    assert f"/portal/{org.slug}/signin/link/" in link
    path = link.split("testserver", 1)[1]

    # Opening the link (a mail scanner may do it) uses nothing up: a button signs in.
    assert client.get(path).status_code == 200
    assert client.get(f"/portal/{org.slug}/").status_code == 302
    response = client.post(path)
    assert response.status_code == 302 and response["Location"] == f"/portal/{org.slug}/"
    home = client.get(f"/portal/{org.slug}/")
    assert home.status_code == 200 and member.card_number in home.content.decode()
    # A member session, not a staff one.
    assert client.session[SESSION_KEY] == {str(org.pk): member.pk}
    assert "_auth_user_id" not in client.session
    assert client.get(f"/pos/{org.slug}/").status_code == 302  # the till wants a staff login

    # The link works once.
    other = Client()
    response = other.post(path)
    assert response.status_code == 422 and "déjà été utilisé" in response.content.decode()
    assert other.get(f"/portal/{org.slug}/").status_code == 302


def test_the_code_signs_in_in_the_browser_that_asked_once(org, member, smtp: Inbox):
    client = Client()
    ask_link(client, org, member.email)
    code = smtp.code()
    response = client.post(f"/portal/{org.slug}/signin/code/", {"code": code})
    assert response.status_code == 302
    assert client.get(f"/portal/{org.slug}/").status_code == 200
    # The link of the same mail is used up with the code.
    other = Client()
    assert other.post(smtp.link().split("testserver", 1)[1]).status_code == 422
    # The code does not work in another browser.
    assert other.post(f"/portal/{org.slug}/signin/code/", {"code": code}).status_code == 422


def test_link_and_code_expire_after_15_minutes(org, member, smtp: Inbox):
    start = now()
    client = Client()
    with travel_to(start):
        ask_link(client, org, member.email)
    path = smtp.link().split("testserver", 1)[1]
    with travel_to(start + dt.timedelta(minutes=16)):
        response = client.post(path)
        assert response.status_code == 422 and "a expiré" in response.content.decode()
        response = client.post(f"/portal/{org.slug}/signin/code/", {"code": smtp.code()})
        assert response.status_code == 422 and "a expiré" in response.content.decode()
    assert client.get(f"/portal/{org.slug}/").status_code == 302
    with travel_to(start + dt.timedelta(minutes=14)):  # still valid just before
        assert Client().post(path).status_code == 302


def test_wrong_codes_are_limited(org, member, smtp: Inbox):
    client = Client()
    ask_link(client, org, member.email)
    good = smtp.code()
    wrong = "000000" if good != "000000" else "111111"
    for _ in range(MAX_CODE_ATTEMPTS):
        assert client.post(f"/portal/{org.slug}/signin/code/", {"code": wrong}).status_code == 422
    response = client.post(f"/portal/{org.slug}/signin/code/", {"code": good})
    assert response.status_code == 422 and "Trop de codes" in response.content.decode()
    assert client.get(f"/portal/{org.slug}/").status_code == 302


def test_an_unknown_email_gets_the_same_page_and_no_mail(org, member, smtp: Inbox):
    client = Client()
    records = IdempotencyRecord.objects.count()
    response = ask_link(client, org, "personne@exemple.fr")
    assert response.status_code == 302 and "/signin/code/" in response["Location"]
    assert smtp.messages == []
    assert client.post(f"/portal/{org.slug}/signin/code/", {"code": "123456"}).status_code == 422
    assert IdempotencyRecord.objects.count() == records


def test_bad_email_input_is_refused_clearly(org, smtp: Inbox):
    for bad in ("", "pas-un-email", "x@" + "a" * 300):
        response = ask_link(Client(), org, bad)
        assert response.status_code == 422 and b"data-error" in response.content
    assert smtp.messages == []


def test_a_link_for_another_organization_does_not_sign_in_here(org, member, smtp: Inbox):
    other = make_org("autre-cafe")
    ask_link(Client(), org, member.email)
    path = smtp.link().split("testserver", 1)[1].replace(f"/portal/{org.slug}/", f"/portal/{other.slug}/")
    client = Client()
    assert client.post(path).status_code == 422
    assert client.get(f"/portal/{other.slug}/").status_code == 302


def test_a_tampered_link_is_refused(org, member, smtp: Inbox):
    ask_link(Client(), org, member.email)
    path = smtp.link().split("testserver", 1)[1]
    tampered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    assert Client().post(tampered).status_code == 422


def test_the_mail_speaks_the_members_language(org, smtp: Inbox):
    english = make_member(org, email="john@example.com", first_name="John", locale="en")
    ask_link(Client(), org, english.email)
    assert "Hello John" in smtp.body() and "expire in 15 minutes" in smtp.body()
    french = make_member(org, email="jean@exemple.fr", first_name="Jean", locale="fr")
    ask_link(Client(), org, french.email)
    assert "Bonjour Jean" in smtp.body() or "Hello Jean" in smtp.body()  # French once the lead compiles the catalogue


def test_sign_out_keeps_other_sessions(org, member):
    client = portal_client(org, member)
    assert client.get(f"/portal/{org.slug}/").status_code == 200
    assert client.post(f"/portal/{org.slug}/signout/").status_code == 302
    assert client.get(f"/portal/{org.slug}/").status_code == 302


def test_a_closed_account_is_signed_out(org, member):
    from fidelo.members.models import Member, MemberStatus

    client = portal_client(org, member)
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.CLOSED)
    assert client.get(f"/portal/{org.slug}/").status_code == 302
