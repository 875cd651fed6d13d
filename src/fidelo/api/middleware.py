"""Unknown API routes and wrong methods answer in problem+json like every other API error.

Django's URL resolver (404) and django-ninja's method dispatch (405) answer in HTML before
the API's exception handlers run; this middleware rewrites those two for /api/ paths.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from fidelo.api.v1.problems import problem_response

REWRITTEN = {
    404: ("not_found", "Not found", "No such API endpoint"),
    405: ("method_not_allowed", "Method not allowed", "This endpoint does not accept this method"),
}


class ApiProblemMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code in REWRITTEN
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/")
        ):
            code, title, detail = REWRITTEN[response.status_code]
            rewritten = problem_response({"type": f"https://fidelo.dev/problems/{code}", "title": title, "status": response.status_code,
                                          "detail": detail, "code": code})
            if response.has_header("Allow"):
                rewritten["Allow"] = response["Allow"]
            return rewritten
        return response
