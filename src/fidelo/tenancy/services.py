"""Writes for organizations, stores, staff, API keys and program settings."""

import hashlib
import re
import secrets
import zoneinfo
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError

from fidelo.core.actors import Actor
from fidelo.core.audit import audit_record
from fidelo.core.clock import now
from fidelo.core.db import writes
from fidelo.core.errors import Conflict
from fidelo.tenancy import selectors
from fidelo.tenancy.errors import InvalidSetting
from fidelo.tenancy.models import (
    ApiKey,
    CurrencyMode,
    ExpiryPolicy,
    Organization,
    Program,
    RefundPolicy,
    Rounding,
    StaffMembership,
    StaffRole,
    Store,
)

API_KEY_PREFIX = "fid_"


def _check_timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSetting(f"Unknown time zone: {name}", field="timezone") from exc


@writes
def organization_create(
    *, name: str, slug: str, timezone: str = "Europe/Paris", currency: str = "EUR", locale: str = "fr", **program: object
) -> Organization:
    _check_timezone(timezone)
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidSetting(f"Currency must be an ISO 4217 code, not {currency!r}", field="currency")
    if Organization.objects.filter(slug=slug).exists():
        raise Conflict(f"An organization with slug {slug!r} already exists", code="organization_exists")
    org = Organization.objects.create(name=name, slug=slug, timezone=timezone, currency=currency.upper(), locale=locale)
    prog = Program(organization=org, name=name)
    _apply_program_settings(prog, program)
    prog.save()
    return org


@writes
def store_create(*, organization: Organization, code: str, name: str, city: str = "", is_online: bool = False) -> Store:
    try:
        return Store.objects.create(organization=organization, code=code, name=name, city=city, is_online=is_online)
    except IntegrityError as exc:
        raise Conflict(f"A store with code {code!r} already exists", code="store_exists") from exc


@writes
def staff_add(
    *, organization: Organization, email: str, password: str, role: str = StaffRole.OWNER, first_name: str = "", last_name: str = ""
) -> StaffMembership:
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=email.lower(), defaults={"email": email.lower(), "first_name": first_name, "last_name": last_name}
    )
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
    membership, _ = StaffMembership.objects.get_or_create(organization=organization, user=user, defaults={"role": role})
    return membership


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    token: str  # shown once; only its digest is stored


def digest_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@writes
def api_key_create(*, organization: Organization, name: str, actor: Actor, store: Store | None = None) -> IssuedApiKey:
    if store is not None and store.organization_id != organization.id:
        raise InvalidSetting("The store belongs to another organization", field="store")
    secret = secrets.token_urlsafe(32)
    while secret[0] == "-":  # a prefix starting with "-" reads as an option on the command line
        secret = secrets.token_urlsafe(32)
    prefix = secret[:8]
    token = f"{API_KEY_PREFIX}{secret}"
    key = ApiKey.objects.create(organization=organization, store=store, name=name, prefix=prefix, digest=digest_token(token))
    audit_record(organization_id=organization.id, actor=actor, action="api_key.create", target_type="api_key", target_id=key.id)
    return IssuedApiKey(api_key=key, token=token)


@writes
def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now())
    api_key.refresh_from_db(fields=["revoked_at"])
    selectors.forget_api_key(api_key.digest)
    audit_record(organization_id=api_key.organization_id, actor=actor, action="api_key.revoke", target_type="api_key", target_id=api_key.id)
    return api_key


PROGRAM_FIELDS = {
    "name",
    "currency_mode",
    "earn_units",
    "earn_per_minor",
    "rounding",
    "expiry_policy",
    "expiry_months",
    "pending_days",
    "refund_policy",
    "transfers_allowed",
    "transfer_min",
    "transfer_max_per_day",
    "brand_color",
    "brand_logo_url",
    "member_attributes",
}
ATTRIBUTE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ATTRIBUTE_TYPES = ("string", "number", "boolean", "date")
MAX_ATTRIBUTES = 50


def _check_member_attributes(value: object) -> list[dict]:
    """[{"key": "favorite_drink", "type": "string"}, …]: the custom attributes rules and segments may use."""
    if not isinstance(value, list) or len(value) > MAX_ATTRIBUTES:
        raise InvalidSetting(f"member_attributes must be a list of at most {MAX_ATTRIBUTES} attributes", field="member_attributes")
    seen, cleaned = set(), []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - {"key", "type", "label"} or not isinstance(item.get("key"), str):
            raise InvalidSetting("Each attribute is {\"key\": …, \"type\": …}", field=f"member_attributes[{index}]")
        key, kind = item["key"], item.get("type", "string")
        if not ATTRIBUTE_KEY.match(key) or key in seen:
            raise InvalidSetting(
                f"Attribute keys are unique, lower case letters, digits and _ (at most 40): {key!r}", field=f"member_attributes[{index}].key"
            )
        if kind not in ATTRIBUTE_TYPES:
            raise InvalidSetting(f"An attribute type is one of {', '.join(ATTRIBUTE_TYPES)}", field=f"member_attributes[{index}].type")
        label = item.get("label", "")
        if not isinstance(label, str) or len(label) > 120:
            raise InvalidSetting("An attribute label is a text of at most 120 characters", field=f"member_attributes[{index}].label")
        seen.add(key)
        cleaned.append({"key": key, "type": kind, **({"label": label} if label else {})})
    return cleaned
BRAND_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
CHOICES = {
    "currency_mode": CurrencyMode.values,
    "rounding": Rounding.values,
    "expiry_policy": ExpiryPolicy.values,
    "refund_policy": RefundPolicy.values,
}


def _check_logo_url(value: object) -> str:
    """An empty string (no logo) or an absolute http(s) URL, or a path on this site."""
    if not isinstance(value, str):
        raise InvalidSetting("brand_logo_url must be a text", field="brand_logo_url")
    value = value.strip()
    if not value:
        return ""
    if len(value) > 500 or any(c.isspace() or c in "\"'<>" for c in value):
        raise InvalidSetting("brand_logo_url must be a URL of at most 500 characters", field="brand_logo_url")
    if not (value.startswith(("https://", "http://")) or (value.startswith("/") and not value.startswith("//"))):
        raise InvalidSetting("brand_logo_url must start with https:// (or be a path on this site)", field="brand_logo_url")
    return value


def _apply_program_settings(program: Program, changes: dict[str, object]) -> list[str]:
    unknown = set(changes) - PROGRAM_FIELDS
    if unknown:
        raise InvalidSetting(f"Unknown program settings: {', '.join(sorted(unknown))}", fields=sorted(unknown))
    for field, value in changes.items():
        if field in CHOICES and value not in CHOICES[field]:
            raise InvalidSetting(f"{field} must be one of {', '.join(CHOICES[field])}", field=field)
        if field in {"earn_units", "expiry_months", "pending_days", "transfer_min", "transfer_max_per_day"}:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 1_000_000:
                raise InvalidSetting(f"{field} must be a whole number between 0 and 1000000", field=field)
        if field == "earn_per_minor" and (not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 1_000_000):
            raise InvalidSetting("earn_per_minor must be a whole number between 1 and 1000000", field=field)
        if field == "brand_color" and (not isinstance(value, str) or not BRAND_COLOR.match(value)):
            raise InvalidSetting("brand_color must be a color written #RRGGBB", field=field)
        if field == "brand_logo_url":
            value = _check_logo_url(value)
        if field == "member_attributes":
            value = _check_member_attributes(value)
        setattr(program, field, value)
    if program.pending_days > 365:
        raise InvalidSetting("The pending period cannot exceed 365 days", field="pending_days")
    if program.expiry_policy == ExpiryPolicy.MONTHS and program.expiry_months < 1:
        raise InvalidSetting("Expiry after N months needs N of at least 1", field="expiry_months")
    return sorted(changes)


@writes
def program_update(*, organization: Organization, actor: Actor, **changes: object) -> Program:
    program = Program.objects.select_for_update().get(organization=organization)
    before = {field: getattr(program, field) for field in changes if field in PROGRAM_FIELDS}
    if (
        "currency_mode" in changes
        and changes["currency_mode"] != program.currency_mode
        and selectors.program_has_activity(organization.id)
    ):
        raise InvalidSetting("The currency mode cannot change once members have earned", code="currency_mode_locked")
    fields = _apply_program_settings(program, changes)
    program.save(update_fields=[*fields, "updated_at"])
    selectors.forget_program(organization.id)
    audit_record(
        organization_id=organization.id,
        actor=actor,
        action="program.update",
        target_type="program",
        target_id=program.id,
        data={"before": before, "after": {f: getattr(program, f) for f in fields}},
    )
    return program
