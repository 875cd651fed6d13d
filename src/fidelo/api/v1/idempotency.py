"""Idempotent POSTs: the Idempotency-Key header (or an external id) and the stored response."""

from typing import Any, Callable

from django.http import HttpRequest, HttpResponse

from fidelo.api.v1.auth import context
from fidelo.api.v1.problems import json_response
from fidelo.core.errors import DomainError, ValidationFailed
from fidelo.core.idempotency import run_idempotent, validate_key


def idempotency_key(request: HttpRequest, fallback: str | None = None) -> str:
    header = request.headers.get("Idempotency-Key")
    if header is None and fallback:
        return validate_key(fallback)
    key = validate_key(header)
    if not key.isprintable():  # control characters; NUL cannot even be stored by PostgreSQL
        raise ValidationFailed("Idempotency-Key must be printable text", code="idempotency_key_invalid")
    return key


def idempotent_post(
    request: HttpRequest,
    *,
    operation: str,
    payload: Any,
    execute: Callable[[], tuple[int, dict]] | None = None,
    prepare: Callable[[], Callable[[], tuple[int, dict]]] | None = None,
    key_fallback: str | None = None,
    duplicate: Callable[[], DomainError] | None = None,
) -> HttpResponse:
    key = idempotency_key(request, key_fallback)
    outcome = run_idempotent(
        organization_id=context(request).organization.id, key=key, operation=operation, payload=payload, execute=execute,
        prepare=prepare, duplicate=duplicate,
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return json_response(outcome.body, outcome.status, headers)
