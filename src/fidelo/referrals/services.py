"""Writes for referrals: codes, enrolling with a code, completion, reversal, settings, expiry.

Concurrency:
- a code is created with an insert that ignores conflicts, then read back: two requests
  for the same member's code get the same one;
- a member is referred at most once (unique index on the referee);
- completion is a conditional update (`status = 'pending'` to `'completed'`): two purchases
  at once complete a referral once; the referrer's yearly limit is counted under a lock of
  the referrer's code row (PostgreSQL) or the database write lock (SQLite);
- a reversal is a conditional update (`'completed'` to `'refused'`): it happens once.
"""

import datetime as dt
import secrets

from django.db import IntegrityError, connection, transaction

from fidelo.core.actors import Actor
from fidelo.core.audit import audit_record
from fidelo.core.clock import now, require_aware
from fidelo.core.db import write_transaction
from fidelo.core.money import MAX_MINOR
from fidelo.ledger.models import Lot
from fidelo.ledger.services import (
    Why,
    check_member_active,
    lock_available_accounts,
    points_earn,
    points_reverse_lot,
    program_unit,
)
from fidelo.members.models import Member, MemberStatus
from fidelo.referrals.errors import (
    AlreadyReferred,
    InvalidReferralSettings,
    NotANewMember,
    ReferralCodeUnknown,
    ReferralLimitReached,
    ReferralsDisabled,
    ReferrerClosed,
    SelfReferral,
)
from fidelo.referrals.models import (
    Referral,
    ReferralCode,
    ReferralSettings,
    ReferralStatus,
)
from fidelo.referrals.selectors import (
    build_link,
    calendar_year,
    completed_in_year,
    existing_code,
    forget_referral_settings,
    referral_settings_for,
)
from fidelo.tenancy.models import Organization, Program
from fidelo.tenancy.selectors import program_for

# --- codes -------------------------------------------------------------------------------------

# No 0/O, 1/I/L: nothing to confuse when a code is read aloud or copied from paper.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8  # 31^8: about 850 billion codes
MAX_CODE_INPUT = 32


def new_referral_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_referral_code(code: str) -> str:
    """As typed: case, spaces and dashes do not matter."""
    return (code or "").strip().upper().replace("-", "").replace(" ", "")


def referral_code_for(*, member: Member) -> str:
    """The member's referral code, made on first request (race-safe: one code per member)."""
    found = existing_code(member)
    if found:
        return found
    with write_transaction():
        for _ in range(20):
            # ON CONFLICT DO NOTHING: a clash on the member (a concurrent request made it) or,
            # very rarely, on the code (drawn again) leaves the transaction usable.
            ReferralCode.objects.bulk_create(
                [ReferralCode(organization_id=member.organization_id, member_id=member.id, code=new_referral_code(), created_at=now())],
                ignore_conflicts=True,
            )
            found = existing_code(member)
            if found:
                return found
    raise RuntimeError("could not draw a free referral code")  # pragma: no cover - 20 clashes in a row


def referral_link(*, member: Member, base_url: str) -> str:
    """The member's referral link (the code is made if needed).

    The organization's `link_base_url` (its own sign-up page) wins: the code is added as its
    `ref` query parameter. Otherwise `{base_url}/join?ref=CODE`; the API passes the member
    portal of the organization as base_url.
    """
    code = referral_code_for(member=member)
    return build_link(code, base_url=base_url, link_base_url=referral_settings_for(member.organization_id).link_base_url)


# --- self-referral -----------------------------------------------------------------------------

GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}


def comparable_email(email: str) -> str:
    """One form per mailbox: lower case, no "+tag"; for Gmail, no dots and one domain."""
    email = (email or "").strip().lower()
    if "@" not in email:
        return email
    local, _, domain = email.rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def shared_identity(referrer: Member, referee: Member) -> str | None:
    """What makes these two members the same person, if anything: member, email, phone or card."""
    if referrer.pk == referee.pk:
        return "member"
    if referrer.email and referee.email and comparable_email(referrer.email) == comparable_email(referee.email):
        return "email"
    if referrer.phone and referee.phone and referrer.phone == referee.phone:
        return "phone"
    if referrer.card_number and referrer.card_number == referee.card_number:
        return "card"
    return None


# --- enrolling ----------------------------------------------------------------------------------


def _has_purchased(member: Member) -> bool:
    # The purchases table is read by name: purchases sit above referrals in the layering,
    # and this is the only question asked of it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM purchases_purchase WHERE member_id = %s LIMIT 1", [member.id])
        return cursor.fetchone() is not None


def referral_enroll(*, referee: Member, code: str, at: dt.datetime | None = None) -> Referral:
    """Link a new member to the member whose code they joined with; the referral is pending.

    Runs in the caller's write transaction if there is one (member creation), else in its
    own. Enrolling again with the same referrer's code returns the existing referral.
    Refusals write nothing: referrals_disabled, referral_code_unknown, referral_self,
    referral_already_referred, member_closed (the referee), referral_referrer_closed,
    referral_not_new_member (the referee has purchased already), referral_limit_reached.
    """
    at = require_aware(at, "at") if at is not None else now()
    settings = referral_settings_for(referee.organization_id)
    if not settings.enabled:
        raise ReferralsDisabled()
    normalized = normalize_referral_code(code if isinstance(code, str) else "")
    row = None
    if normalized and len(normalized) <= MAX_CODE_INPUT:
        row = ReferralCode.objects.select_related("member").filter(organization_id=referee.organization_id, code=normalized).first()
    if row is None:
        raise ReferralCodeUnknown(f"No member has the referral code {str(code)[:MAX_CODE_INPUT]!r}")
    referrer = row.member
    shared = shared_identity(referrer, referee)
    if shared:
        raise SelfReferral(f"The referee and the referrer share the same {shared}", shared=shared)
    existing = Referral.objects.filter(referee_id=referee.id).first()
    if existing is not None:
        if existing.referrer_id == referrer.id:
            return existing
        raise AlreadyReferred(referral_id=existing.id)
    check_member_active(referee)
    if referrer.status != MemberStatus.ACTIVE:
        raise ReferrerClosed()
    if _has_purchased(referee):
        raise NotANewMember()
    if settings.max_per_referrer_per_year:
        start, end = calendar_year(at, program_for(referee.organization_id).organization.timezone)
        done = completed_in_year(referrer_id=referrer.id, year_start=start, year_end=end)
        if done >= settings.max_per_referrer_per_year:
            raise ReferralLimitReached(
                f"At most {settings.max_per_referrer_per_year} rewarded referrals a year", limit=settings.max_per_referrer_per_year
            )
    complete_by = at + dt.timedelta(days=settings.completion_days) if settings.completion_days else None
    with write_transaction():
        try:
            with transaction.atomic():  # a savepoint: the clash below leaves the caller's transaction usable
                return Referral.objects.create(
                    organization_id=referee.organization_id, referrer=referrer, referee=referee, code=row.code,
                    status=ReferralStatus.PENDING, enrolled_at=at, complete_by=complete_by,
                )
        except IntegrityError:  # the same referee enrolled at the same moment by another request
            existing = Referral.objects.filter(referee_id=referee.id).first()
            if existing is not None and existing.referrer_id == referrer.id:
                return existing
            raise AlreadyReferred() from None


# --- completion ---------------------------------------------------------------------------------

# A till's clock may run a little behind the server's: a purchase stamped a few minutes
# before the referral was recorded (the member joined at the till, then paid) still counts.
CLOCK_TOLERANCE = dt.timedelta(minutes=10)


def _display_name(member: Member) -> str:
    """First name and initial ('Anne D.'): what the other side sees in their history."""
    first, last = member.first_name.strip(), member.last_name.strip()
    if first:
        return f"{first} {last[0]}." if last else first
    if last:
        return last
    return f"…{member.card_number[-4:]}"


def referral_progress(
    *, program: Program, member: Member, amount_minor: int, occurred_at: dt.datetime, source_type: str, source_id: int | None
) -> Referral | None:
    """After a purchase of `member`: complete their pending referral if the purchase qualifies.

    Called in the purchase's write transaction. With referrals off, or a purchase below the
    minimum, no query at all (cached settings); else one indexed conditional update, which
    changes nothing when the member has no pending referral. Completing credits the
    referee's welcome bonus and the referrer's reward (reasons referral_referee and
    referral_referrer, source "referral"), pending during the program's return window like
    the purchase's own points. Returns the completed referral, or None.
    """
    settings = referral_settings_for(program.organization_id)
    if not settings.enabled or amount_minor < max(settings.min_purchase_minor, 1):
        return None
    if not connection.in_atomic_block:
        with write_transaction():
            return _complete(program, settings, member, occurred_at, source_type, source_id)
    # In the caller's transaction, which rolls back as a whole on an error: no savepoint,
    # so a member without a pending referral costs exactly one statement.
    return _complete(program, settings, member, occurred_at, source_type, source_id)


def _complete(
    program: Program, settings: ReferralSettings, member: Member, occurred_at: dt.datetime, source_type: str, source_id: int | None
) -> Referral | None:
    claimed = (
        Referral.objects.filter(referee_id=member.id, status=ReferralStatus.PENDING, enrolled_at__lte=occurred_at + CLOCK_TOLERANCE)
        .exclude(complete_by__lt=occurred_at)
        .update(status=ReferralStatus.COMPLETED, completed_at=occurred_at, source_type=source_type, source_id=source_id)
    )
    if not claimed:
        return None
    referral = Referral.objects.select_related("referrer", "referee").get(referee_id=member.id)
    referrer, referee = referral.referrer, referral.referee
    referrer_points, referee_points, capped = settings.referrer_points, settings.referee_points, False
    if referrer_points and referrer.status != MemberStatus.ACTIVE:
        referrer_points = 0
    if referrer_points and settings.max_per_referrer_per_year:
        # Two referees of one referrer completing at once count one after the other.
        ReferralCode.objects.select_for_update().filter(member_id=referrer.id).first()
        start, end = calendar_year(occurred_at, program.organization.timezone)
        done = completed_in_year(referrer_id=referrer.id, year_start=start, year_end=end, exclude_id=referral.id)
        if done >= settings.max_per_referrer_per_year:
            referrer_points, capped = 0, True
    referee_transfer = referrer_transfer = None
    if referee_points:
        referee_transfer = points_earn(
            program=program, member=referee, amount=referee_points, occurred_at=occurred_at,
            why=Why(reason="referral_referee", params={"name": _display_name(referrer)}, source_type="referral",
                    source_id=referral.id, actor="system"),
        ).transfer.id
    if referrer_points:
        referrer_transfer = points_earn(
            program=program, member=referrer, amount=referrer_points, occurred_at=occurred_at,
            why=Why(reason="referral_referrer", params={"name": _display_name(referee)}, source_type="referral",
                    source_id=referral.id, actor="system"),
        ).transfer.id
    Referral.objects.filter(pk=referral.pk).update(
        referrer_points=referrer_points, referee_points=referee_points, referrer_capped=capped,
        referrer_transfer_id=referrer_transfer, referee_transfer_id=referee_transfer,
    )
    referral.refresh_from_db()
    return referral


# --- reversal -----------------------------------------------------------------------------------


def referral_reverse(*, program: Program, source_type: str, source_id: int, at: dt.datetime | None = None) -> bool:
    """The purchase that completed a referral was fully refunded: take both credits back.

    The referral becomes refused (it does not go back to pending: the referee cannot qualify
    again). Each side's credit is taken back like a refund takes a purchase's points back
    (`points_reverse_lot`): from the pending lot, else from the balance, and the program's
    refund policy says whether a balance already spent goes negative. Once only: returns
    False when no completed referral has this source (or it was reversed already).
    """
    at = at or now()
    with write_transaction():
        referral = (
            Referral.objects.select_related("referrer", "referee")
            .filter(organization_id=program.organization_id, source_type=source_type, source_id=source_id, status=ReferralStatus.COMPLETED)
            .first()
        )
        if referral is None:
            return False
        claimed = Referral.objects.filter(pk=referral.pk, status=ReferralStatus.COMPLETED).update(status=ReferralStatus.REFUSED, closed_at=at)
        if not claimed:
            return False
        # Both accounts locked in primary-key order before either is touched (no deadlock).
        lock_available_accounts([referral.referee, referral.referrer], program_unit(program))
        credits = [
            (referral.referee_transfer_id, _display_name(referral.referrer)),
            (referral.referrer_transfer_id, _display_name(referral.referee)),
        ]
        for transfer_id, name in credits:
            if transfer_id is None:
                continue
            lot = Lot.objects.select_related("member").get(transfer_id=transfer_id)
            points_reverse_lot(
                program=program, lot=lot, amount=lot.amount, occurred_at=at,
                why=Why(reason="referral_reversed", params={"name": name}, source_type="referral", source_id=referral.id, actor="system"),
            )
    return True


# --- expiry -------------------------------------------------------------------------------------


def referrals_expire_due(*, at: dt.datetime | None = None) -> int:
    """Pending referrals past their completion window become expired; returns how many."""
    at = at or now()
    with write_transaction():
        return Referral.objects.filter(status=ReferralStatus.PENDING, complete_by__lt=at).update(
            status=ReferralStatus.EXPIRED, closed_at=at
        )


# --- settings -----------------------------------------------------------------------------------

MAX_POINTS = 10**9

# field: (type, lowest, highest)
SETTINGS_FIELDS: dict[str, tuple[type, int, int]] = {
    "enabled": (bool, 0, 1),
    "referrer_points": (int, 0, MAX_POINTS),
    "referee_points": (int, 0, MAX_POINTS),
    "min_purchase_minor": (int, 0, MAX_MINOR),
    "completion_days": (int, 0, 3650),
    "max_per_referrer_per_year": (int, 0, 100_000),
    "link_base_url": (str, 0, 300),
}


def _check_settings(changes: dict) -> dict:
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise InvalidReferralSettings(f"Unknown referral settings: {', '.join(sorted(unknown))}", fields=sorted(unknown))
    clean: dict = {}
    for field, value in changes.items():
        kind, low, high = SETTINGS_FIELDS[field]
        if kind is bool:
            if not isinstance(value, bool):
                raise InvalidReferralSettings(f"{field} must be true or false", field=field)
        elif kind is int:
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise InvalidReferralSettings(f"{field} must be a whole number between {low} and {high}", field=field)
        else:
            if not isinstance(value, str):
                raise InvalidReferralSettings(f"{field} must be text", field=field)
            value = value.strip()
            if len(value) > high:
                raise InvalidReferralSettings(f"{field} is longer than {high} characters", field=field)
            if value and (not value.startswith(("https://", "http://")) or any(c.isspace() for c in value) or "#" in value):
                raise InvalidReferralSettings(f"{field} must be an http(s) address without spaces or #", field=field)
        clean[field] = value
    return clean


def referral_settings_update(*, organization: Organization, actor: Actor, **changes: object) -> ReferralSettings:
    """Change the organization's referral settings (the row is made on first change); audited."""
    clean = _check_settings(changes)
    with write_transaction():
        ReferralSettings.objects.bulk_create([ReferralSettings(organization=organization)], ignore_conflicts=True)
        settings = ReferralSettings.objects.select_for_update().get(organization=organization)
        before = {field: getattr(settings, field) for field in clean}
        for field, value in clean.items():
            setattr(settings, field, value)
        settings.save(update_fields=[*clean, "updated_at"])
        audit_record(
            organization_id=organization.id, actor=actor, action="referrals.settings", target_type="referral_settings",
            target_id=settings.id, data={"before": before, "after": clean},
        )
        transaction.on_commit(lambda: forget_referral_settings(organization.id))
        forget_referral_settings(organization.id)
    return settings
