"""Write transactions that behave the same on SQLite and PostgreSQL.

PostgreSQL: a plain atomic block; services lock the rows they read-then-write with
select_for_update() in primary-key order.

SQLite: there is one write lock per database. Writers queue on a lock of their own
instead of SQLite's busy handler, which sleeps in millisecond steps and makes the latency
tail explode under contention (see DESIGN.md, Benchmarks): a Python lock between the
threads of a process, then an advisory file lock (flock) between processes, held only
around the write transaction. Both wait in the kernel and wake in order. Transactions are
IMMEDIATE (settings), so SQLite's own write lock is taken when the transaction begins and
is then always free.
"""

import contextvars
import datetime as dt
import fcntl
import functools
import logging
import os
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    connection,
    connections,
    transaction,
)

from fidelo.core.sqlite.base import qmark

logger = logging.getLogger(__name__)

_sqlite_writer = threading.RLock()

# Set while a unit of work runs whose caller rolls the whole transaction back on any error
# (core.idempotency.run_idempotent). Nested write blocks then need no savepoint: two round
# trips saved per nested service call on the hot path.
_all_or_nothing = contextvars.ContextVar("fidelo_all_or_nothing", default=False)

F = TypeVar("F", bound=Callable)


@functools.cache
def vendor() -> str:
    """The default database's vendor ("sqlite" or "postgresql"), which the settings fix for the
    process. Asked of `django.db.connection`, it costs 1.2 µs each time: the proxy looks the
    thread's connection up through asgiref's Local, which raises and catches an exception to
    learn that no event loop runs; a purchase asked it a dozen times."""
    return connections[DEFAULT_DB_ALIAS].vendor


def is_sqlite() -> bool:
    return vendor() == "sqlite"


def is_postgresql() -> bool:
    return vendor() == "postgresql"


def default_connection():
    """This thread's default connection: a function that uses it several times takes it once
    (each attribute of `django.db.connection` looks it up again, see vendor())."""
    return connections[DEFAULT_DB_ALIAS]


# One descriptor per process and database: flock() excludes open file descriptions, so a
# descriptor inherited through fork() must not be reused by the child.
_lock_files: dict[tuple[int, str], int] = {}


@contextmanager
def _sqlite_write_lock(db) -> Iterator[None]:
    with _sqlite_writer:
        name = str(db.settings_dict["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            yield
            return
        key = (os.getpid(), name)
        fd = _lock_files.get(key)
        if fd is None:
            fd = os.open(name + ".writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
            _lock_files[key] = fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


# SQLite copies the WAL back into the database file (a checkpoint) from the connection that
# commits, once the WAL passes wal_autocheckpoint pages: inside that writer's COMMIT, so
# while it holds the write lock every other writer queues on (and with the checkpoint's
# fsync). It cost a third of a redemption's time under the lock. Each process checkpoints
# itself instead, every SQLITE_CHECKPOINT_EVERY write transactions, once the lock is
# released: a PASSIVE checkpoint runs beside the other writers and readers. SQLite's own
# checkpoint stays, far later, as a backstop for writes made outside write_transaction.
_commits_since_checkpoint = 0


def _checkpoint_now_and_then() -> None:
    global _commits_since_checkpoint
    _commits_since_checkpoint += 1  # threads may lose an increment: a checkpoint comes a little later
    if _commits_since_checkpoint < settings.SQLITE_CHECKPOINT_EVERY:
        return
    _commits_since_checkpoint = 0
    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.fetchall()
    except DatabaseError:  # the write it follows is committed: it must not fail for this
        logger.warning("SQLite checkpoint failed; the next one, or SQLite's own, will copy the WAL", exc_info=True)


@contextmanager
def write_transaction() -> Iterator[None]:
    db = default_connection()
    if not db.in_atomic_block:
        if db.vendor == "sqlite":
            with _sqlite_write_lock(db), transaction.atomic():
                yield
            _checkpoint_now_and_then()
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


@contextmanager
def cursor_or(cursor=None):
    """`cursor` if given, else a new cursor of the default connection (closed after): a write
    path runs its statements on one cursor, each new one costing about 15 µs (under SQLite's
    write lock, that time is every writer's)."""
    if cursor is not None:
        yield cursor
    else:
        with connection.cursor() as new:
            yield new


def sqlite_inserted_ids(cursor, count: int) -> list[int]:
    """The ids of the `count` rows the cursor's last multi-row INSERT wrote, in VALUES order (SQLite).

    Under the write lock, one INSERT numbers its rows one after the other from the table's
    AUTOINCREMENT counter, so they are the `count` ids ending at the last one inserted. Asking
    for them with RETURNING instead costs a step per row, each releasing and retaking the GIL:
    under the write lock, with other threads running, every retake may wait its turn."""
    last = cursor.lastrowid
    return list(range(last - count + 1, last + 1))


@functools.cache
def _adapters() -> tuple:
    # The default database's own adapt_datetimefield_value and adapt_datefield_value, looked up
    # once per process: through `django.db.connection` every lookup is a thread-local access
    # (about 3 µs), and a purchase with rules adapts some twenty values. They depend on the
    # backend and the settings only, never on the connection's state.
    ops = default_connection().ops
    return ops.adapt_datetimefield_value, ops.adapt_datefield_value


def db_time(moment: dt.datetime | None):
    """A datetime as the database backend takes it (as the ORM adapts it)."""
    return None if moment is None else _adapted_time(moment)


@functools.lru_cache(maxsize=256)
def _adapted_time(moment: dt.datetime):
    # A write adapts the same few moments again and again (the event's time, now, the lots'
    # availability and expiry: a purchase with rules adapts 4 distinct values 14 times), and
    # SQLite's adapter costs 3 µs (to UTC, then text) against 0.1 µs for a cache lookup. Equal
    # datetimes are the same instant, which every backend adapts alike.
    return _adapters()[0](moment)


def db_date(day: dt.date | None):
    """A date as the database backend takes it (as the ORM adapts it)."""
    return None if day is None else _adapters()[1](day)


def mark_saved(instance):
    """Mark a model instance built from values just written with plain SQL as a saved row."""
    instance._state.adding = False
    instance._state.db = "default"
    return instance


# psycopg turns a statement's `%s` into `$n` by parsing its text, and caches the result only
# for statements of at most 50 parameters (psycopg._queries.MAX_CACHED_STATEMENT_PARAMS).
# The purchase statement has 150 to 200 (its lines, the bonus, the award rows): it was parsed
# again on every purchase, 0.2 ms of CPU, as much as the rules engine. Our long statements
# come in a few shapes. Its length limit (4 KB) is raised too: with the rules' bonus and award
# rows the statement is 5 to 8 KB. The cache stays bounded by its 128 entries (at most 4 MB of
# text). psycopg is pinned; test_db checks the settings still apply.
PSYCOPG_CACHED_PARAMS = 1000
PSYCOPG_CACHED_LENGTH = 32 * 1024


def _cache_long_statements() -> None:
    from psycopg import _queries

    if getattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", PSYCOPG_CACHED_PARAMS) < PSYCOPG_CACHED_PARAMS:
        _queries.MAX_CACHED_STATEMENT_PARAMS = PSYCOPG_CACHED_PARAMS
    if getattr(_queries, "MAX_CACHED_STATEMENT_LENGTH", PSYCOPG_CACHED_LENGTH) < PSYCOPG_CACHED_LENGTH:
        _queries.MAX_CACHED_STATEMENT_LENGTH = PSYCOPG_CACHED_LENGTH


def fetchone_prepared(sql: str, params: list) -> tuple | None:
    """Run one statement and return its first row; on PostgreSQL as a prepared statement, on
    SQLite on the driver's cursor (not in Django's query log, as on PostgreSQL).

    Django's psycopg cursors bind parameters on the client, so PostgreSQL parses and plans
    every statement anew. The purchase statement (six common table expressions) spends
    most of its server time being planned: prepared once per connection, it runs in a fifth
    of the time (docs/performance.md). Errors are Django's (IntegrityError…), as from any
    cursor. FIDELO_PG_PREPARE=0 turns this off (e.g. behind a pooler without prepared
    statement support).
    """
    db = default_connection()
    if db.vendor == "sqlite":
        return _fetchone_sqlite(db, sql, params)
    _cache_long_statements()
    if not settings.PG_PREPARE_STATEMENTS:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    import psycopg

    db.ensure_connection()
    raw = db.connection
    if raw.prepare_threshold is None:  # only server-side binding cursors (this one) prepare
        raw.prepare_threshold = 5
    with db.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(_replanned(sql), params, prepare=True)
        return cursor.fetchone()


def _fetchone_sqlite(db, sql: str, params: list) -> tuple | None:
    # Straight on the driver's cursor, without Django's wrappers (the rules' member lookup, run
    # on every purchase); the placeholders converted as fidelo.core.sqlite converts them.
    if db.connection is None:
        db.ensure_connection()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors:
        cursor = db.connection.cursor()
        try:
            cursor.execute(qmark(sql), params)
            return cursor.fetchone()
        finally:
            cursor.close()


# A prepared statement keeps the plan PostgreSQL made when it was prepared, until the tables'
# statistics change (ANALYZE, VACUUM). A plan made while a table was nearly empty scans it
# whole, and goes on doing so as the table grows: on a new database, the member facts of the
# earning rules (sums and counts over the member's awards and purchases) read 600 pages per
# purchase instead of about 30 until autovacuum came by. So each statement is prepared again, as a
# new text, at its 2nd, 4th, 8th… execution in this process, up to its 1,024th: plans follow
# the tables while they are young and growing fast. Past that, the tables hold enough rows for
# the planner to pick the indexes, and every new text would cost each connection a new
# preparation and plan (0.3 to 0.9 ms for the purchase statement) for nothing.
REPLAN_UNTIL = 1024
_executions: dict[str, int] = {}
_MAX_TRACKED = 2000


def _replanned(sql: str) -> str:
    count = _executions.get(sql, 0)
    if count >= REPLAN_UNTIL:
        return f"{sql} /* plan {REPLAN_UNTIL.bit_length()} */"
    count += 1  # threads may lose an increment: a new plan comes a little later
    if count == 1 and len(_executions) >= _MAX_TRACKED:
        _executions.clear()
    _executions[sql] = count
    return f"{sql} /* plan {count.bit_length()} */"
