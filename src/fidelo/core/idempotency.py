"""Idempotent execution of a state-changing operation.

The operation and the idempotency record are written in the same transaction, the record
last: if two requests with one key race, the second one's insert (or an earlier insert on
another unique index) fails once the first commits, its work is rolled back, and it replays
the first response. No read happens before the work, which keeps the hot path short.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

from django.db import IntegrityError

from fidelo.core.clock import now
from fidelo.core.db import (
    all_or_nothing,
    cursor_or,
    db_time,
    is_postgresql,
    write_transaction,
)
from fidelo.core.errors import (
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    ValidationFailed,
)
from fidelo.core.models import IdempotencyRecord

MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def fingerprint(operation: str, payload: Any) -> str:
    canonical = json.dumps([operation, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise ValidationFailed("An Idempotency-Key header is required on this request", code="idempotency_key_required")
    key = key.strip()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters", code="idempotency_key_invalid")
    return key


class _Rejected(Exception):
    def __init__(self, error: DomainError):
        self.error = error


Write = Callable[[], tuple[int, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Receipt:
    """The idempotency record a write may store itself, in its own statement."""

    organization_id: int
    key: str
    operation: str
    fingerprint: str


class StoresReceipt:
    """A write step that stores its idempotency record itself (and opens its own transaction).

    On PostgreSQL the purchase writes everything, record included, in one statement that
    commits by itself: no BEGIN and COMMIT round trips.
    """

    def __init__(self, write: Callable[[Receipt], tuple[int, dict[str, Any]]]):
        self.write = write


def run_idempotent(
    *,
    organization_id: int,
    key: str,
    operation: str,
    payload: Any,
    execute: Write | None = None,
    prepare: Callable[[], Write] | None = None,
    duplicate: Callable[[], DomainError] | None = None,
) -> Outcome:
    """Run a write once per (organization, key); return its (status, body) or the stored one.

    `execute` runs inside the write transaction and returns the response to store. Or
    `prepare` runs first, outside the transaction (reads, validation, arithmetic), and
    returns the write step: on SQLite the database write lock is then held only while the
    statements run. A DomainError raised by either is stored as the response and the work
    is rolled back. `duplicate` builds the error for a unique-index clash that is not this
    key's (e.g. a purchase external id already recorded under another key).
    """
    digest = fingerprint(operation, payload)
    try:
        try:
            write = prepare() if prepare is not None else execute
        except DomainError as error:
            raise _Rejected(error) from error
        assert write is not None, "run_idempotent needs execute or prepare"
        if isinstance(write, StoresReceipt):
            try:
                status, body = write.write(Receipt(organization_id, key, operation, digest))
            except DomainError as error:
                raise _Rejected(error) from error
            return Outcome(status, body)
        with all_or_nothing():
            try:
                status, body = write()
            except DomainError as error:
                raise _Rejected(error) from error
            store_receipt(Receipt(organization_id, key, operation, digest), status, body)
            return Outcome(status, body)
    except _Rejected as rejected:
        problem = rejected.error.as_problem()
        try:
            with write_transaction():
                store_receipt(Receipt(organization_id, key, operation, digest), rejected.error.status, problem)
        except IntegrityError:
            return _replay(organization_id, key, digest, duplicate)
        return Outcome(rejected.error.status, problem)
    except IntegrityError:
        return _replay(organization_id, key, digest, duplicate)


RECEIPT_COLUMNS = "organization_id, key, operation, fingerprint, status_code, response, created_at"


def receipt_params(receipt: Receipt, status: int, body: dict[str, Any]) -> list:
    return [receipt.organization_id, receipt.key, receipt.operation, receipt.fingerprint, status, json.dumps(body, default=str),
            db_time(now())]


def store_receipt(receipt: Receipt, status: int, body: dict[str, Any]) -> None:
    """One plain INSERT (this runs on every state-changing request), in the caller's transaction."""
    insert_receipt(receipt_params(receipt, status, body))


def insert_receipt(params: list, *, cursor=None) -> None:
    """store_receipt with its values built beforehand (receipt_params), e.g. before a write lock."""
    cast = "::jsonb" if is_postgresql() else ""
    with cursor_or(cursor) as cursor:
        cursor.execute(f"INSERT INTO core_idempotencyrecord ({RECEIPT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s{cast}, %s)", params)


def _replay(organization_id: int, key: str, digest: str, duplicate: Callable[[], DomainError] | None) -> Outcome:
    record = IdempotencyRecord.objects.filter(organization_id=organization_id, key=key).first()
    if record is None:
        error = duplicate() if duplicate else Conflict("This request clashes with an existing record", code="duplicate")
        return Outcome(error.status, error.as_problem())
    if record.fingerprint != digest:
        error = IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different request", idempotency_key=key
        )
        return Outcome(error.status, error.as_problem())
    return Outcome(record.status_code, record.response, replayed=True)
