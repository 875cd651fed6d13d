"""Reads for tenancy, with short in-process caches on the request hot path.

API keys and program settings are read on every purchase. They are cached per process
for a few seconds: a revocation or a settings change made in this process takes effect at
once, in other processes within CACHE_SECONDS.
"""

import time
from dataclasses import dataclass

from django.db import connection

from fidelo.core.errors import NotFound
from fidelo.tenancy.errors import InvalidApiKey, StoreNotFound
from fidelo.tenancy.models import ApiKey, Organization, Program, Store

CACHE_SECONDS = 5.0

_api_keys: dict[str, tuple[float, "KeyContext"]] = {}
_programs: dict[int, tuple[float, Program]] = {}
_stores: dict[tuple[int, str], tuple[float, Store]] = {}


@dataclass(frozen=True, slots=True)
class KeyContext:
    api_key_id: int
    organization: Organization
    store_id: int | None
    name: str = ""


def authenticate_api_key(token: str) -> KeyContext:
    from fidelo.tenancy.services import digest_token

    digest = digest_token(token)
    cached = _api_keys.get(digest)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    key = ApiKey.objects.select_related("organization").filter(digest=digest, revoked_at__isnull=True).first()
    if key is None:
        raise InvalidApiKey()
    context = KeyContext(api_key_id=key.id, organization=key.organization, store_id=key.store_id, name=key.name)
    _api_keys[digest] = (time.monotonic() + CACHE_SECONDS, context)
    return context


def forget_api_key(digest: str) -> None:
    _api_keys.pop(digest, None)


def program_for(organization_id: int) -> Program:
    cached = _programs.get(organization_id)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    program = Program.objects.select_related("organization").get(organization_id=organization_id)
    _programs[organization_id] = (time.monotonic() + CACHE_SECONDS, program)
    return program


def forget_program(organization_id: int) -> None:
    _programs.pop(organization_id, None)


def clear_caches() -> None:
    _api_keys.clear()
    _programs.clear()
    _stores.clear()


def store_by_code(organization_id: int, code: str) -> Store:
    cached = _stores.get((organization_id, code))
    if cached and cached[0] > time.monotonic():
        return cached[1]
    store = Store.objects.filter(organization_id=organization_id, code=code).first()
    if store is None:
        raise StoreNotFound(f"No store with code {code!r}", store=code)
    _stores[(organization_id, code)] = (time.monotonic() + CACHE_SECONDS, store)
    return store


def access_store(organization_id: int, store_id: int) -> Store:
    store = Store.objects.filter(organization_id=organization_id, pk=store_id).first()
    if store is None:
        raise StoreNotFound()
    return store


def organization_by_slug(slug: str) -> Organization:
    org = Organization.objects.filter(slug=slug).first()
    if org is None:
        raise NotFound(f"No organization {slug!r}", code="organization_not_found")
    return org


def program_has_activity(organization_id: int) -> bool:
    """Has anything been earned yet? (The currency mode is locked from then on.)"""
    # The ledger's table is read by name: tenancy sits below the ledger in the layering and
    # cannot import its models for this one question.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM ledger_transfer WHERE organization_id = %s LIMIT 1", [organization_id])
        return cursor.fetchone() is not None


def staff_membership_for(*, user_id: int, organization_id: int | None = None):
    """The staff membership of a user (in the given organization, else the first one), or None."""
    from fidelo.tenancy.models import StaffMembership

    memberships = StaffMembership.objects.select_related("organization").filter(user_id=user_id)
    if organization_id is not None:
        memberships = memberships.filter(organization_id=organization_id)
    return memberships.order_by("pk").first()


def staff_memberships_of(user_id: int) -> list:
    """The organizations a user works for (their memberships), by organization name."""
    from fidelo.tenancy.models import StaffMembership

    return list(StaffMembership.objects.filter(user_id=user_id).select_related("organization").order_by("organization__name"))


def stores_of(organization_id: int) -> list[Store]:
    return list(Store.objects.filter(organization_id=organization_id).order_by("name", "pk"))


def api_keys_of(organization_id: int) -> list[ApiKey]:
    return list(ApiKey.objects.select_related("store").filter(organization_id=organization_id).order_by("-created_at", "-pk"))


def access_api_key(organization_id: int, api_key_id: int) -> ApiKey:
    key = ApiKey.objects.filter(organization_id=organization_id, pk=api_key_id).first()
    if key is None:
        raise NotFound("No such API key", code="api_key_not_found")
    return key
