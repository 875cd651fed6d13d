"""Fixtures for the portal and till tests: a real SMTP server on loopback (aiosmtpd), signed-in
clients, points to spend. Imported by test_portal*.py and test_pos*.py (no tests here)."""

import email
import re
import socket
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth import get_user_model
from django.test import Client

from fidelo.conftest import STAFF, make_member, program_of
from fidelo.core.clock import now
from fidelo.members.models import Member
from fidelo.rewards.tests.helpers import give_points, make_reward
from fidelo.tenancy.models import Organization, StaffMembership, StaffRole
from fidelo.tenancy.services import program_update
from fidelo.web.portal.signin import SESSION_KEY


class Inbox:
    """The SMTP handler: every message the server accepts, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def body(self, index: int = -1) -> str:
        return self.messages[index].get_body(preferencelist=("plain",)).get_content()

    def link(self, index: int = -1) -> str:
        found = re.search(r"https?://\S+/signin/link/\S+/", self.body(index))
        assert found, self.body(index)
        return found.group(0)

    def code(self, index: int = -1) -> str:
        found = re.search(r"\b(\d{6})\b", self.body(index))
        assert found, self.body(index)
        return found.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp(settings) -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1 and a free port; Django's SMTP backend sends to it."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield inbox
    finally:
        controller.stop()


def portal_client(org: Organization, member: Member, client: Client | None = None) -> Client:
    """A browser signed in to the portal of `org` as `member` (the session as the sign-in leaves it)."""
    client = client or Client()
    session = client.session
    members = dict(session.get(SESSION_KEY) or {})
    members[str(org.pk)] = member.pk
    session[SESSION_KEY] = members
    session.save()
    return client


def make_staff(org: Organization, username: str = "caissier", role: str = StaffRole.CASHIER, password: str = "mot-de-passe-sûr-42"):
    user = get_user_model().objects.create_user(username=username, password=password, first_name="Léa")
    StaffMembership.objects.create(organization=org, user=user, role=role)
    return user


def till_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_points(org: Organization, member: Member, points: int) -> None:
    give_points(program_of(org), member, points, occurred_at=now(), expires_at=None)


def allow_transfers(org: Organization, **settings: object) -> None:
    program_update(organization=org, actor=STAFF, transfers_allowed=True, **settings)


def token_of(html: str, name: str = "form_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


__all__ = [
    "Inbox",
    "allow_transfers",
    "make_member",
    "make_reward",
    "make_staff",
    "portal_client",
    "smtp",
    "till_client",
    "token_of",
    "with_points",
]
