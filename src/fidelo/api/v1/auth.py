"""API-key authentication: `Authorization: Bearer fid_…` (or `X-Api-Key: fid_…`)."""

from django.http import HttpRequest
from ninja.security.base import AuthBase

from fidelo.core.actors import Actor
from fidelo.core.errors import DomainError
from fidelo.tenancy.errors import StoreNotAllowed
from fidelo.tenancy.models import Store
from fidelo.tenancy.selectors import (
    KeyContext,
    access_store,
    authenticate_api_key,
    store_by_code,
)


class ApiKeyAuth(AuthBase):
    openapi_type = "http"
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> KeyContext | None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-Api-Key", "").strip()
        if not token:
            return None
        try:
            return authenticate_api_key(token)
        except DomainError:
            return None


def context(request: HttpRequest) -> KeyContext:
    return request.auth  # type: ignore[return-value]


def actor_of(request: HttpRequest) -> Actor:
    ctx = context(request)
    return Actor(kind="api_key", id=ctx.api_key_id, label=ctx.name)


def store_for(ctx: KeyContext, code: str | None) -> Store | None:
    """The store a request names (by code), or the key's own store; a store key may name only its own."""
    if not code:
        return access_store(ctx.organization.id, ctx.store_id) if ctx.store_id is not None else None
    store = store_by_code(ctx.organization.id, code)
    if ctx.store_id is not None and store.id != ctx.store_id:
        raise StoreNotAllowed()
    return store
