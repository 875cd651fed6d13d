import json
from typing import Any

from django.http import HttpResponse


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(problem, default=str), status=problem["status"], content_type="application/problem+json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def json_response(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> HttpResponse:
    if status >= 400:
        return problem_response(body, headers)
    response = HttpResponse(json.dumps(body, default=str), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response
