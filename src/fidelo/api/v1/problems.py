"""JSON and problem+json responses.

Keys are sorted: a replayed idempotent response comes from the stored JSON, whose key order
PostgreSQL's jsonb does not keep, and a retry must get the first response byte for byte.
"""

import json
from typing import Any

import segno
from django.http import HttpResponse


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(problem, default=str, sort_keys=True), status=problem["status"], content_type="application/problem+json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def json_response(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> HttpResponse:
    if status >= 400:
        return problem_response(body, headers)
    response = HttpResponse(json.dumps(body, default=str, sort_keys=True), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def qr_svg_response(text: str) -> HttpResponse:
    """A QR code of `text` as SVG: a member card or a voucher, to scan at the till."""
    return HttpResponse(segno.make(text, error="m").svg_inline(scale=6), content_type="image/svg+xml")
