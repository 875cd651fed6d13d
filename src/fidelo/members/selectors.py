"""Reads for members, always scoped by organization."""

import functools

from django.db import connection
from django.db.models import Q, QuerySet

from fidelo.core.db import default_connection, fetchone_prepared
from fidelo.members.errors import InvalidMemberData, MemberNotFound
from fidelo.members.identifiers import (
    normalize_email,
    normalize_phone,
    region_of_locale,
)
from fidelo.members.models import Consent, Member
from fidelo.tenancy.models import Organization


def access_member(organization_id: int, member_id: int) -> Member:
    member = Member.objects.filter(organization_id=organization_id, pk=member_id).first()
    if member is None:
        raise MemberNotFound(f"No member with id {member_id}", member_id=member_id)
    return member


def member_lookup(
    organization: Organization,
    *,
    member_id: int | None = None,
    card: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
    lean: bool = False,
) -> Member:
    """Find one member by exactly one identifier (what a cashier scans or types).

    lean=True (the purchase hot path) reads only id, organization and status with one plain
    query; the other fields are deferred and load on first access.
    """
    kind, raw, column, value = _identifier(organization, member_id=member_id, card=card, email=email, phone=phone, external_id=external_id)
    if lean:
        found = _lean_member(organization.id, column, value)
    else:
        found = Member.objects.filter(organization_id=organization.id, **{column: value}).first()
    if found is None:
        raise MemberNotFound(f"No member with {kind} {raw}", identifier=kind)
    return found


def member_lookup_with(
    organization: Organization, *, selects: tuple[str, ...], params: list, member_id: int | None = None, card: str | None = None,
    email: str | None = None, phone: str | None = None, external_id: str | None = None,
) -> tuple[Member, tuple]:
    """member_lookup(lean=True), with scalar subqueries on the member (`m.id`) read in the same
    statement: what the purchase path's rules need of the member, without a round trip of its own.

    Returns the lean member and the subqueries' values, in order.
    """
    kind, raw, column, value = _identifier(organization, member_id=member_id, card=card, email=email, phone=phone, external_id=external_id)
    row = fetchone_prepared(_lookup_with_sql(tuple(selects), column), [*params, organization.id, value])
    if row is None:
        raise MemberNotFound(f"No member with {kind} {raw}", identifier=kind)
    lean = len(LEAN_FIELDS)
    return Member.from_db("default", LEAN_FIELDS, _converted(row[:lean])), tuple(row[lean:])


@functools.lru_cache(maxsize=256)
def _lookup_with_sql(selects: tuple[str, ...], column: str) -> str:
    # `column` comes from _identifier_column's fixed set, never from input; `selects` from the caller's code.
    return (f"SELECT {', '.join('m.' + name for name in LEAN_FIELDS)}, {', '.join(selects)} FROM members_member m "
            f"WHERE m.organization_id = %s AND m.{column} = %s")


def _identifier(organization: Organization, **given_values) -> tuple[str, object, str, object]:
    """The one identifier given: (kind, raw value, column, normalized value)."""
    names = {"member_id": "id", "card": "card", "email": "email", "phone": "phone", "external_id": "external_id"}
    given = {names[k]: v for k, v in given_values.items() if v}
    if len(given) != 1:
        raise InvalidMemberData("Identify the member by exactly one of id, card, email, phone or external_id", code="member_identifier_invalid")
    kind, raw = next(iter(given.items()))
    if kind == "id" and not 0 < int(raw) < 2**63:  # beyond any database's integer: unknown
        raise MemberNotFound(f"No member with id {raw}", identifier=kind)
    column, value = _identifier_column(organization, kind, raw)
    return kind, raw, column, value


def _identifier_column(organization: Organization, kind: str, value: object) -> tuple[str, object]:
    if kind == "id":
        return "id", value
    if kind == "card":
        return "card_number", str(value).strip().replace(" ", "")
    if kind == "email":
        return "email", normalize_email(str(value))
    if kind == "phone":
        return "phone", normalize_phone(str(value), region_of_locale(organization.locale))
    return "external_id", str(value).strip()


# What the purchase path needs of a member: its status, and what earning rules may test.
# In the model's field order: Model.from_db maps a partial row by that order.
LEAN_FIELDS = ["id", "organization_id", "birthday", "status", "enrolled_at", "attributes", "interests", "tier"]


def _lean_member(organization_id: int, column: str, value: object) -> Member | None:
    with connection.cursor() as cursor:
        # `column` comes from _identifier_column's fixed set, never from input.
        cursor.execute(f"SELECT {', '.join(LEAN_FIELDS)} FROM members_member WHERE organization_id = %s AND {column} = %s", [organization_id, value])
        row = cursor.fetchone()
    if row is None:
        return None
    return Member.from_db("default", LEAN_FIELDS, _converted(row))


_LEAN_MODEL_FIELDS = [Member._meta.get_field(name) for name in LEAN_FIELDS]
_converters: dict[str, list] = {}  # per database vendor: the field converters of each lean column


def _converted(row: tuple) -> list:
    """A raw row in Python values, as the ORM's converters give them (datetimes, dates, JSON)."""
    db = default_connection()  # taken once: each use of django.db.connection looks it up again
    found = _converters.get(db.vendor)
    if found is None:
        found = []
        for index, model_field in enumerate(_LEAN_MODEL_FIELDS):
            column = model_field.get_col(Member._meta.db_table)
            for converter in db.ops.get_db_converters(column) + model_field.get_db_converters(db):
                found.append((index, converter, column))
        _converters[db.vendor] = found
    values = list(row)
    for index, converter, column in found:
        values[index] = converter(values[index], column, db)
    return values


def member_search(organization_id: int, query: str = "") -> QuerySet[Member]:
    members = Member.objects.filter(organization_id=organization_id)
    query = (query or "").strip()
    if not query:
        return members.order_by("-id")
    compact = query.replace(" ", "")
    clauses = Q(first_name__icontains=query) | Q(last_name__icontains=query) | Q(email__icontains=query.lower())
    if compact.isdigit() or compact.startswith("+"):
        clauses |= Q(card_number__startswith=compact) | Q(phone__contains=compact.lstrip("0"))
    parts = query.split()
    if len(parts) == 2:
        clauses |= Q(first_name__iexact=parts[0], last_name__iexact=parts[1]) | Q(first_name__iexact=parts[1], last_name__iexact=parts[0])
    return members.filter(clauses).order_by("-id")


def current_consents(member: Member) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for consent in Consent.objects.filter(member=member).order_by("at", "id"):
        latest[consent.channel] = {"granted": consent.granted, "at": consent.at, "source": consent.source}
    return latest
