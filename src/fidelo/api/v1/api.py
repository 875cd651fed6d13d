"""The REST API, /api/v1: django-ninja, problem+json errors, API-key authentication."""

import datetime as dt
import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder

from fidelo.api.v1.auth import ApiKeyAuth
from fidelo.api.v1.problems import problem_response
from fidelo.core.errors import DomainError

logger = logging.getLogger(__name__)


class Encoder(NinjaJSONEncoder):
    """Timestamps as pydantic writes them (full precision, Z for UTC), not cut to milliseconds
    as Django's encoder does: a GET must show what the POST that created the row returned."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime):
            text = o.isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        return super().default(o)


class Renderer(JSONRenderer):
    encoder_class = Encoder
    json_dumps_params = {"sort_keys": True}  # as problems.json_response


api = NinjaAPI(
    title="Fidelo API",
    version="1",
    description=(
        "Loyalty program API. Authenticate with `Authorization: Bearer <api key>`. Every POST that changes "
        "state takes an `Idempotency-Key` header (purchases and refunds may use their external id instead): a "
        "retry returns the first response, the same key with another payload is a 409. Errors are "
        "`application/problem+json` with a stable `code`. Amounts are integers in cents; points are integers."
    ),
    urls_namespace="api-v1",
    auth=ApiKeyAuth(),
    renderer=Renderer(),
)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return problem_response(exc.as_problem())


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", [])]
        errors.append({"field": ".".join(location[1:] or location), "message": error.get("msg", ""), "type": error.get("type", "")})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem_response(
        {"type": "https://fidelo.dev/problems/validation_error", "title": "Invalid input", "status": 422, "detail": detail,
         "code": "validation_error", "errors": errors}
    )


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem_response(
        {"type": "https://fidelo.dev/problems/invalid_api_key", "title": "Unauthorized", "status": 401,
         "detail": "Missing, unknown or revoked API key", "code": "invalid_api_key"},
        headers={"WWW-Authenticate": "Bearer"},
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = {400: "malformed_request", 405: "method_not_allowed", 413: "payload_too_large", 429: "too_many_requests"}.get(exc.status_code, "http_error")
    return problem_response(
        {"type": f"https://fidelo.dev/problems/{code}", "title": str(exc), "status": exc.status_code, "detail": str(exc), "code": code}
    )


@api.exception_handler(RequestDataTooBig)
def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return problem_response(
        {"type": "https://fidelo.dev/problems/payload_too_large", "title": "Payload too large", "status": 413,
         "detail": "The request body exceeds the allowed size", "code": "payload_too_large"}
    )


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(
        {"type": "https://fidelo.dev/problems/not_found", "title": "Not found", "status": 404, "detail": "Not found", "code": "not_found"}
    )


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unexpected error on %s %s", request.method, request.path)
    return problem_response(
        {"type": "https://fidelo.dev/problems/internal_error", "title": "Internal error", "status": 500,
         "detail": "An unexpected error occurred; nothing was changed", "code": "internal_error"}
    )


from fidelo.api.v1 import (  # noqa: E402  (routers register on import)
    achievements,
    campaigns,
    events,
    members,
    program,
    purchases,
    referrals,
    rewards,
    rules,
    stamp_cards,
    tiers,
    transfers,
    visits,
    vouchers,
)

api.add_router("/purchases", purchases.router)
api.add_router("/members", members.router)
api.add_router("/transfers", transfers.router)
api.add_router("/visits", visits.router)
api.add_router("/program", program.router)
api.add_router("/rewards", rewards.router)
api.add_router("/vouchers", vouchers.router)
api.add_router("/tiers", tiers.router)
api.add_router("/rules", rules.router)
api.add_router("/events", events.router)
api.add_router("/referrals", referrals.router)
api.add_router("/stamp-cards", stamp_cards.router)
api.add_router("/achievements", achievements.router)
api.add_router("/campaigns", campaigns.router)
