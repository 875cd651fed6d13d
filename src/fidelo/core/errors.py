"""Domain errors: each carries a stable machine-readable code and an HTTP status.

The API renders them as application/problem+json (type, title, status, detail, code);
the CLI prints them. Services raise them before writing anything, or inside a transaction
that the raise rolls back, so a refusal never leaves half-written state.
"""

from typing import Any


class DomainError(Exception):
    code = "error"
    status = 400
    title = "Request refused"

    def __init__(self, detail: str = "", *, code: str | None = None, status: int | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code
        if status:
            self.status = status
        self.extra = extra

    def as_problem(self) -> dict[str, Any]:
        body = {
            "type": f"https://fidelo.dev/problems/{self.code}",
            "title": str(self.title),
            "status": self.status,
            "detail": str(self.detail),
            "code": self.code,
        }
        body.update(self.extra)
        return body


class ValidationFailed(DomainError):
    code = "validation_error"
    status = 422
    title = "Invalid input"


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflict"


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    title = "Permission denied"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "Idempotency key already used with another payload"
