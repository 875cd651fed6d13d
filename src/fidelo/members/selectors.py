"""Reads for members, always scoped by organization."""

from django.db.models import Q, QuerySet

from fidelo.members.errors import InvalidMemberData, MemberNotFound
from fidelo.members.identifiers import normalize_email, normalize_phone, region_of_locale
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
) -> Member:
    """Find one member by exactly one identifier (what a cashier scans or types)."""
    given = {k: v for k, v in {"id": member_id, "card": card, "email": email, "phone": phone, "external_id": external_id}.items() if v}
    if len(given) != 1:
        raise InvalidMemberData("Identify the member by exactly one of id, card, email, phone or external_id", code="member_identifier_invalid")
    members = Member.objects.filter(organization_id=organization.id)
    if member_id:
        found = members.filter(pk=member_id).first()
    elif card:
        found = members.filter(card_number=card.strip().replace(" ", "")).first()
    elif email:
        found = members.filter(email=normalize_email(email)).first()
    elif phone:
        found = members.filter(phone=normalize_phone(phone, region_of_locale(organization.locale))).first()
    else:
        found = members.filter(external_id=external_id.strip()).first()
    if found is None:
        kind, value = next(iter(given.items()))
        raise MemberNotFound(f"No member with {kind} {value}", identifier=kind)
    return found


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
