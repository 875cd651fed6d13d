"""fetchone_prepared: the same row on both databases; on PostgreSQL, long statements parsed once."""

import pytest
from django.db import connection

from fidelo.core.db import fetchone_prepared

pytestmark = pytest.mark.django_db


def _wide_statement(width: int) -> tuple[str, list]:
    return "SELECT " + ", ".join(["CAST(%s AS integer)"] * width), list(range(width))


def test_a_statement_of_many_parameters_gives_its_row():
    sql, params = _wide_statement(180)
    assert fetchone_prepared(sql, params) == tuple(range(180))


def test_placeholders_and_percent_signs_as_on_a_django_cursor():
    assert fetchone_prepared("SELECT %s || '%%', CAST(%s AS integer)", ["a", 7]) == ("a%", 7)
    assert fetchone_prepared("SELECT 1 WHERE 1 = %s", [2]) is None


def test_database_errors_are_djangos():
    from django.db import DatabaseError

    with pytest.raises(DatabaseError):
        fetchone_prepared("SELECT no_such_column FROM members_member WHERE id = %s", [1])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's statement cache: PostgreSQL only")
def test_psycopg_parses_a_statement_of_many_parameters_once():
    # The purchase statement has 150 to 200 parameters and 5 to 8 KB of text with the rules'
    # award rows; psycopg would parse it on every call.
    from psycopg import _queries

    sql, params = _wide_statement(301)  # a text of its own: its 2nd and 3rd executions share a plan (core.db._replanned)
    assert len(sql) > 4096 and len(params) > 50  # beyond both of psycopg's own limits
    fetchone_prepared(sql, params)
    fetchone_prepared(sql, params)
    hits = _queries._query2pg.cache_info().hits
    assert fetchone_prepared(sql, params[::-1]) == tuple(range(301))[::-1]
    assert _queries._query2pg.cache_info().hits == hits + 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan cache")
def test_prepared_statements_are_planned_once_not_per_value():
    # Each new prepared statement was planned again for each of its first five executions.
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_generic_plan"


def test_a_statement_is_prepared_again_as_its_executions_double():
    # Plans made while the tables were nearly empty do not stay for the life of the process.
    from fidelo.core.db import _replanned

    sql = "SELECT 1 /* replanned test */"
    texts = [_replanned(sql) for _ in range(16)]
    assert [text.removeprefix(sql) for text in texts[:4]] == [" /* plan 1 */", " /* plan 2 */", " /* plan 2 */", " /* plan 3 */"]
    assert len(set(texts)) == 5  # executions 1, 2-3, 4-7, 8-15, 16


def test_a_statement_keeps_its_text_once_the_tables_have_grown(monkeypatch):
    # Past REPLAN_UNTIL executions a new text would only cost every connection a new plan.
    from fidelo.core import db

    sql = "SELECT 1 /* replanned until */"
    monkeypatch.setattr(db, "_executions", {})
    texts = [db._replanned(sql) for _ in range(db.REPLAN_UNTIL + 3000)]
    assert len(set(texts)) == db.REPLAN_UNTIL.bit_length()  # executions 1, 2-3, …, 512-1023, then 1024 on
    assert texts[db.REPLAN_UNTIL - 1] == texts[-1] == f"{sql} /* plan {db.REPLAN_UNTIL.bit_length()} */"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's WAL checkpoints")
@pytest.mark.django_db(transaction=True)
def test_sqlite_checkpoints_after_the_write_lock_is_released(monkeypatch, settings):
    # SQLite's own checkpoint runs inside a writer's COMMIT, while every other writer waits:
    # it is only a backstop, far later; each process checkpoints itself between write transactions.
    from contextlib import contextmanager

    from fidelo.core import db
    from fidelo.core.db import write_transaction

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == settings.SQLITE_AUTOCHECKPOINT_PAGES
        cursor.execute("CREATE TABLE checkpoint_probe (n integer)")
    settings.SQLITE_CHECKPOINT_EVERY = 3
    monkeypatch.setattr(db, "_commits_since_checkpoint", 0)
    locked = {"now": False}
    real_lock = db._sqlite_write_lock

    @contextmanager
    def watched_lock(db_connection):
        with real_lock(db_connection):
            locked["now"] = True
            try:
                yield
            finally:
                locked["now"] = False

    monkeypatch.setattr(db, "_sqlite_write_lock", watched_lock)
    checkpoints = []

    def spy(execute, sql, params, many, context):
        if "wal_checkpoint" in sql:
            checkpoints.append({"locked": locked["now"], "in_transaction": connection.in_atomic_block})
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(spy):
            for n in range(7):
                with write_transaction(), connection.cursor() as cursor:
                    cursor.execute("INSERT INTO checkpoint_probe (n) VALUES (%s)", [n])
        # The 3rd and 6th write transactions checkpointed, each once its lock was released.
        assert checkpoints == [{"locked": False, "in_transaction": False}] * 2
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            busy, frames, copied = cursor.fetchone()
        assert busy == 0 and frames == copied  # the WAL is all copied back
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE checkpoint_probe")


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend")
def test_the_sqlite_backend_converts_placeholders_as_django_does_once_per_text():
    from django.db.backends.sqlite3.base import SQLiteCursorWrapper as DjangoCursor

    from fidelo.core.sqlite.base import qmark

    assert connection.settings_dict["ENGINE"] == "fidelo.core.sqlite"
    for text in ("SELECT %s, '%%s', '%%', %s", "SELECT 1", "UPDATE t SET a = %s WHERE b LIKE '%%x%%'"):
        assert qmark(text) == DjangoCursor.convert_query(None, text)
    hits = qmark.cache_info().hits
    with connection.cursor() as cursor:
        for n in range(3):
            cursor.execute("SELECT %s || '%%' /* qmark cache test */", [str(n)])
            assert cursor.fetchone() == (f"{n}%",)
        cursor.execute("SELECT :a || :b", {"a": "x", "b": "y"})  # named parameters: converted as Django does
        assert cursor.fetchone() == ("xy",)
    assert qmark.cache_info().hits >= hits + 2


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's WAL checkpoints")
@pytest.mark.django_db(transaction=True)
def test_a_failed_checkpoint_does_not_fail_the_write_it_follows(monkeypatch, settings):
    from django.db import OperationalError

    from fidelo.core import db
    from fidelo.core.db import write_transaction

    settings.SQLITE_CHECKPOINT_EVERY = 1
    monkeypatch.setattr(db, "_commits_since_checkpoint", 0)

    def failing_checkpoint(execute, sql, params, many, context):
        if "wal_checkpoint" in sql:
            raise OperationalError("database is locked")
        return execute(sql, params, many, context)

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE checkpoint_probe (n integer)")
    try:
        with connection.execute_wrapper(failing_checkpoint):
            with write_transaction(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO checkpoint_probe (n) VALUES (%s)", [1])
        with connection.cursor() as cursor:
            cursor.execute("SELECT n FROM checkpoint_probe")
            assert cursor.fetchall() == [(1,)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE checkpoint_probe")


def test_db_time_adapts_as_the_orm_does_and_equal_instants_alike():
    import datetime as dt
    import zoneinfo

    from django.db import connection

    from fidelo.core.db import db_date, db_time

    paris = dt.datetime(2026, 3, 29, 3, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))  # the hour after the spring change
    utc = paris.astimezone(dt.UTC)
    assert db_time(paris) == connection.ops.adapt_datetimefield_value(paris)
    assert db_time(utc) == connection.ops.adapt_datetimefield_value(paris)  # the same instant, from the cache or not
    later = utc + dt.timedelta(microseconds=1)
    assert db_time(later) == connection.ops.adapt_datetimefield_value(later) != db_time(utc)
    assert db_time(None) is None and db_date(None) is None
    assert db_date(dt.date(2026, 3, 29)) == connection.ops.adapt_datefield_value(dt.date(2026, 3, 29))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's page cache")
def test_sqlite_connections_get_the_configured_page_cache_and_memory_map(settings):
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        assert cursor.fetchone()[0] == -settings.SQLITE_CACHE_MB * 1024  # negative: in KiB
        cursor.execute("PRAGMA mmap_size")
        assert cursor.fetchone()[0] == settings.SQLITE_MMAP_MB * 1024 * 1024
