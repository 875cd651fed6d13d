"""Write transactions that behave the same on SQLite and PostgreSQL.

PostgreSQL: a plain atomic block; services lock the rows they read-then-write with
select_for_update() in primary-key order.

SQLite: there is one write lock per database. Writers in the same process queue on a
Python lock instead of SQLite's busy handler, which sleeps in millisecond steps and makes
the latency tail explode under contention (see DESIGN.md, Benchmarks). Writers in other
processes still wait on the busy timeout. Transactions are IMMEDIATE (settings), so the
write lock is taken when the transaction begins.
"""

import contextvars
import functools
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from django.db import connection, transaction

_sqlite_writer = threading.RLock()

# Set while a unit of work runs whose caller rolls the whole transaction back on any error
# (core.idempotency.run_idempotent). Nested write blocks then need no savepoint: two round
# trips saved per nested service call on the hot path.
_all_or_nothing = contextvars.ContextVar("fidelo_all_or_nothing", default=False)

F = TypeVar("F", bound=Callable)


def is_sqlite() -> bool:
    return connection.vendor == "sqlite"


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def write_transaction() -> Iterator[None]:
    if not connection.in_atomic_block:
        if connection.vendor == "sqlite":
            with _sqlite_writer, transaction.atomic():
                yield
        else:
            with transaction.atomic():
                yield
    else:
        with transaction.atomic(savepoint=not _all_or_nothing.get()):
            yield


@contextmanager
def all_or_nothing() -> Iterator[None]:
    """One write transaction that is rolled back whole on any error; nested blocks skip savepoints."""
    with write_transaction():
        token = _all_or_nothing.set(True)
        try:
            yield
        finally:
            _all_or_nothing.reset(token)


def writes(func: F) -> F:
    """Decorator: run a service in one write transaction."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with write_transaction():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
