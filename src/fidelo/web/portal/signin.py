"""Member sign-in for the portal: a one-time link and a six-digit code sent by email.

Both are valid for 15 minutes and work once: the link is a signed token (member,
organization, a random nonce, the time it was issued); the code is kept hashed in the
browser's session that asked for it, with at most five tries. Using either consumes the
nonce by writing an idempotency record under the key `portal.signin:<nonce>` (a unique index
per organization), so a link or code used once is refused afterwards, also by another server.

The member's session is not a staff session: the member id is kept under the session key
`fidelo_portal`, per organization (the organization comes from the URL), and never in
Django's auth keys. Signing out of the portal removes only that key.
"""

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from fidelo.core.clock import now
from fidelo.core.db import write_transaction
from fidelo.core.idempotency import Receipt, fingerprint, store_receipt
from fidelo.members.models import Member
from fidelo.tenancy.models import Organization, Program

SESSION_KEY = "fidelo_portal"  # {"<organization id>": member id}
PENDING_KEY = "fidelo_portal_pending"  # a code sign-in waiting in this browser
LIFETIME = dt.timedelta(minutes=15)
MAX_CODE_ATTEMPTS = 5
SALT = "fidelo.portal.signin"
OPERATION = "portal.signin"


class SignInRefused(Exception):
    """The link or code is unknown, expired or already used (`reason` says which)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "invalid" | "expired" | "used" | "attempts"


@dataclass(frozen=True)
class Issued:
    token: str  # for the link
    code: str  # six digits, to type in the browser that asked
    nonce: str
    issued_at: int  # seconds since the epoch (fidelo's clock)


def _code_hash(code: str, nonce: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"{nonce}:{code}".encode(), hashlib.sha256).hexdigest()


def issue(member: Member) -> Issued:
    nonce = secrets.token_urlsafe(16)
    issued_at = int(now().timestamp())
    token = signing.dumps({"m": member.pk, "o": member.organization_id, "n": nonce, "t": issued_at}, salt=SALT, compress=True)
    return Issued(token=token, code=f"{secrets.randbelow(10**6):06d}", nonce=nonce, issued_at=issued_at)


def _check_age(issued_at: int) -> None:
    age = now().timestamp() - issued_at
    if age < -60:  # issued in the future: not one of ours
        raise SignInRefused("invalid")
    if age > LIFETIME.total_seconds():
        raise SignInRefused("expired")


def consume(organization_id: int, nonce: str) -> bool:
    """Mark the nonce used; False if it already was (the link or code works once)."""
    key = f"{OPERATION}:{nonce}"
    try:
        with write_transaction():
            store_receipt(Receipt(organization_id, key, OPERATION, fingerprint(OPERATION, nonce)), 200, {"used": True})
    except IntegrityError:
        return False
    return True


def member_id_from_link(organization: Organization, token: str) -> int:
    """The member a sign-in link is for, consuming it; raises SignInRefused."""
    try:
        data = signing.loads(token, salt=SALT)
        member_id, organization_id, nonce, issued_at = int(data["m"]), int(data["o"]), str(data["n"]), int(data["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise SignInRefused("invalid") from exc
    if organization_id != organization.pk:
        raise SignInRefused("invalid")
    _check_age(issued_at)
    if not consume(organization.pk, nonce):
        raise SignInRefused("used")
    return member_id


def remember_pending(request: HttpRequest, organization: Organization, issued: Issued | None, member: Member | None) -> None:
    """Keep the code's hash in this browser's session (also for an unknown email: the page is the same)."""
    issued = issued or Issued(token="", code=secrets.token_hex(8), nonce=secrets.token_urlsafe(16), issued_at=int(now().timestamp()))
    request.session[PENDING_KEY] = {
        "o": organization.pk, "m": member.pk if member else None, "n": issued.nonce, "h": _code_hash(issued.code, issued.nonce),
        "t": issued.issued_at, "a": 0,
    }


def has_pending(request: HttpRequest, organization: Organization) -> bool:
    pending = request.session.get(PENDING_KEY)
    return bool(pending and pending.get("o") == organization.pk)


def member_id_from_code(request: HttpRequest, organization: Organization, code: str) -> int:
    """The member whose code this browser typed, consuming it; raises SignInRefused."""
    pending = request.session.get(PENDING_KEY)
    if not pending or pending.get("o") != organization.pk:
        raise SignInRefused("invalid")
    if pending["a"] >= MAX_CODE_ATTEMPTS:
        raise SignInRefused("attempts")
    _check_age(int(pending["t"]))
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if not hmac.compare_digest(_code_hash(code, pending["n"]), pending["h"]) or pending["m"] is None:
        pending["a"] += 1
        request.session[PENDING_KEY] = pending
        raise SignInRefused("attempts" if pending["a"] >= MAX_CODE_ATTEMPTS else "invalid")
    del request.session[PENDING_KEY]
    if not consume(organization.pk, pending["n"]):
        raise SignInRefused("used")
    return int(pending["m"])


def send_signin_mail(request: HttpRequest, organization: Organization, program: Program, member: Member, issued: Issued) -> None:
    """The email with the link and the code, in the member's language."""
    link = request.build_absolute_uri(reverse("portal:signin_link", kwargs={"org": organization.slug, "token": issued.token}))
    language = member.locale if member.locale in dict(settings.LANGUAGES) else organization.locale
    with translation.override(language):
        context = {
            "organization": organization, "program_name": program.name or organization.name, "member": member, "link": link,
            "code": issued.code, "minutes": int(LIFETIME.total_seconds() // 60),
        }
        subject = render_to_string("portal/email/signin_subject.txt", context).strip()
        body = render_to_string("portal/email/signin.txt", context)
    send_mail(subject, body, None, [member.email])


def sign_in(request: HttpRequest, organization: Organization, member_id: int) -> None:
    """Put the member in this browser's session for this organization (a new session key: no fixation)."""
    request.session.cycle_key()
    members = dict(request.session.get(SESSION_KEY) or {})
    members[str(organization.pk)] = member_id
    request.session[SESSION_KEY] = members


def signed_in_member_id(request: HttpRequest, organization: Organization) -> int | None:
    members = request.session.get(SESSION_KEY) or {}
    member_id = members.get(str(organization.pk))
    return int(member_id) if member_id is not None else None


def sign_out(request: HttpRequest, organization: Organization) -> None:
    members = dict(request.session.get(SESSION_KEY) or {})
    members.pop(str(organization.pk), None)
    request.session[SESSION_KEY] = members
