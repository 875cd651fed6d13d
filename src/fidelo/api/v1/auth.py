"""API-key authentication: `Authorization: Bearer fid_…` (or `X-Api-Key: fid_…`)."""

from django.http import HttpRequest
from ninja.security.base import AuthBase

from fidelo.core.actors import Actor
from fidelo.core.errors import DomainError
from fidelo.tenancy.selectors import KeyContext, authenticate_api_key


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
    return Actor(kind="api_key", id=ctx.api_key_id)
