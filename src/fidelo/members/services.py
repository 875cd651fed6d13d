"""Writes for members: enrollment, profile changes, consent."""

import datetime as dt

from django.db import IntegrityError
from django.db.models import Q

from fidelo.core.actors import Actor
from fidelo.core.audit import audit_record
from fidelo.core.clock import now, require_aware
from fidelo.core.db import write_transaction
from fidelo.members.errors import DuplicateMember, InvalidMemberData
from fidelo.members.identifiers import (
    new_card_number,
    normalize_email,
    normalize_phone,
    region_of_locale,
)
from fidelo.members.models import Channel, Consent, Member
from fidelo.tenancy.models import Organization, Store

NAME_MAX = 120


def _duplicate_fields(organization_id: int, *, email: str, phone: str, external_id: str, exclude_id: int | None = None) -> list[str]:
    clauses = Q()
    if email:
        clauses |= Q(email=email)
    if phone:
        clauses |= Q(phone=phone)
    if external_id:
        clauses |= Q(external_id=external_id)
    if not clauses:
        return []
    found = Member.objects.filter(clauses, organization_id=organization_id)
    if exclude_id:
        found = found.exclude(pk=exclude_id)
    fields = []
    for other in found.only("email", "phone", "external_id"):
        if email and other.email == email:
            fields.append("email")
        if phone and other.phone == phone:
            fields.append("phone")
        if external_id and other.external_id == external_id:
            fields.append("external_id")
    return sorted(set(fields))


def _clean_name(value: str | None, field: str) -> str:
    value = (value or "").strip()
    if len(value) > NAME_MAX:
        raise InvalidMemberData(f"{field} is longer than {NAME_MAX} characters", field=field)
    return value


ATTRIBUTE_TYPES = {"string", "number", "boolean", "date"}
MAX_INTERESTS = 50


def check_attributes(organization_id: int, attributes: object) -> dict:
    """Custom attributes: only those the program declared, each of its declared type."""
    from fidelo.tenancy.models import Program

    if not isinstance(attributes, dict):
        raise InvalidMemberData("attributes must be an object", field="attributes")
    declared = {
        item["key"]: item.get("type", "string")
        for item in Program.objects.filter(organization_id=organization_id).values_list("member_attributes", flat=True).first() or []
    }
    for key, value in attributes.items():
        kind = declared.get(key)
        if kind is None:
            raise InvalidMemberData(
                f"Unknown attribute {key!r}: declare it in the program settings first", code="unknown_attribute", field=f"attributes.{key}"
            )
        valid = (
            value is None
            or (kind == "string" and isinstance(value, str) and len(value) <= 200)
            or (kind == "number" and isinstance(value, int | float) and not isinstance(value, bool))
            or (kind == "boolean" and isinstance(value, bool))
            or (kind == "date" and isinstance(value, str) and _is_iso_date(value))
        )
        if not valid:
            raise InvalidMemberData(f"Attribute {key!r} must be a {kind}", code="invalid_attribute", field=f"attributes.{key}")
    return {key: value for key, value in attributes.items() if value is not None}


def _is_iso_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_interests(interests: object) -> list[str]:
    if not isinstance(interests, list) or len(interests) > MAX_INTERESTS:
        raise InvalidMemberData(f"interests must be a list of at most {MAX_INTERESTS} words", field="interests")
    cleaned = []
    for item in interests:
        if not isinstance(item, str) or not 0 < len(item.strip()) <= 64:
            raise InvalidMemberData("Each interest is a word of 1 to 64 characters", field="interests")
        if item.strip().lower() not in cleaned:
            cleaned.append(item.strip().lower())
    return cleaned


def member_enroll(
    *,
    organization: Organization,
    actor: Actor,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    phone: str = "",
    birthday: dt.date | None = None,
    locale: str | None = None,
    store: Store | None = None,
    channel: str = "api",
    external_id: str = "",
    consents: dict[str, bool] | None = None,
    consent_source: str = "",
    enrolled_at: dt.datetime | None = None,
    attributes: dict | None = None,
    interests: list[str] | None = None,
) -> Member:
    locale = (locale or organization.locale or "fr").lower()
    if locale.split("-")[0] not in {"fr", "en"}:
        raise InvalidMemberData(f"Unsupported locale {locale!r}; use fr or en", code="invalid_locale", field="locale")
    email = normalize_email(email)
    phone = normalize_phone(phone, region_of_locale(organization.locale))
    external_id = (external_id or "").strip()
    first_name = _clean_name(first_name, "first_name")
    last_name = _clean_name(last_name, "last_name")
    if not (email or phone or first_name or last_name or external_id):
        raise InvalidMemberData("A member needs at least a name, an email, a phone or an external id", code="member_identity_missing")
    if birthday and birthday > now().date():
        raise InvalidMemberData("The birthday is in the future", field="birthday")
    if birthday and birthday.year < 1900:
        raise InvalidMemberData("The birthday is before 1900", field="birthday")
    if store is not None and store.organization_id != organization.id:
        raise InvalidMemberData("The store belongs to another organization", field="store")
    consents = consents or {}
    unknown = set(consents) - set(Channel.values)
    if unknown:
        raise InvalidMemberData(f"Unknown consent channels: {', '.join(sorted(unknown))}", field="consents")
    when = require_aware(enrolled_at, "enrolled_at") if enrolled_at else now()
    attributes = check_attributes(organization.id, attributes) if attributes else {}
    interests = check_interests(interests) if interests else []

    duplicates = _duplicate_fields(organization.id, email=email, phone=phone, external_id=external_id)
    if duplicates:
        raise DuplicateMember(f"A member with the same {' and '.join(duplicates)} already exists", fields=duplicates)
    try:
        with write_transaction():
            member = _insert_with_unique_card(
                organization=organization,
                first_name=first_name,
                last_name=last_name,
                email=email,
                phone=phone,
                birthday=birthday,
                locale=locale,
                enrolled_at=when,
                enrolled_store=store,
                enrolled_channel=channel,
                external_id=external_id,
                attributes=attributes,
                interests=interests,
            )
            source = consent_source or (f"store:{store.code}" if store else channel)
            Consent.objects.bulk_create(
                Consent(member=member, channel=ch, granted=bool(granted), source=source, at=when) for ch, granted in consents.items()
            )
            audit_record(organization_id=organization.id, actor=actor, action="member.enroll", target_type="member", target_id=member.id)
    except IntegrityError as exc:
        # Lost a race with a concurrent enrollment of the same person.
        raise DuplicateMember() from exc
    return member


def _insert_with_unique_card(**fields: object) -> Member:
    for _attempt in range(5):
        card = new_card_number()
        if not Member.objects.filter(organization=fields["organization"], card_number=card).exists():
            return Member.objects.create(card_number=card, **fields)
    raise RuntimeError("Could not draw a free card number")  # 1e11 numbers: practically unreachable


def member_update(*, member: Member, actor: Actor, **changes: object) -> Member:
    allowed = {"first_name", "last_name", "email", "phone", "birthday", "locale", "attributes", "interests"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidMemberData(f"Unknown member fields: {', '.join(sorted(unknown))}")
    if "attributes" in changes:
        # Merged into what the member has: null removes an attribute.
        merged = {**(member.attributes or {}), **changes["attributes"]} if isinstance(changes["attributes"], dict) else changes["attributes"]
        changes["attributes"] = check_attributes(member.organization_id, merged)
    if "interests" in changes:
        changes["interests"] = check_interests(changes["interests"])
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])  # type: ignore[arg-type]
    if "phone" in changes:
        changes["phone"] = normalize_phone(changes["phone"], region_of_locale(member.organization.locale))  # type: ignore[arg-type]
    for field in ("first_name", "last_name"):
        if field in changes:
            changes[field] = _clean_name(changes[field], field)  # type: ignore[arg-type]
    duplicates = _duplicate_fields(
        member.organization_id,
        email=str(changes.get("email", "")),
        phone=str(changes.get("phone", "")),
        external_id="",
        exclude_id=member.id,
    )
    if duplicates:
        raise DuplicateMember(f"A member with the same {' and '.join(duplicates)} already exists", fields=duplicates)
    try:
        with write_transaction():
            for field, value in changes.items():
                setattr(member, field, value)
            member.save(update_fields=list(changes))
            audit_record(
                organization_id=member.organization_id, actor=actor, action="member.update", target_type="member",
                target_id=member.id, data={"fields": sorted(changes)},
            )
    except IntegrityError as exc:
        raise DuplicateMember() from exc
    return member


def member_consent_set(*, member: Member, channel: str, granted: bool, source: str, at: dt.datetime | None = None) -> Consent:
    if channel not in Channel.values:
        raise InvalidMemberData(f"Unknown consent channel {channel!r}", field="channel")
    with write_transaction():
        return Consent.objects.create(member=member, channel=channel, granted=granted, source=source, at=at or now())
