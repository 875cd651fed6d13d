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


def test_a_statement_is_prepared_again_as_its_executions_double():
    # Plans made while the tables were nearly empty do not stay for the life of the process.
    from fidelo.core.db import _replanned

    sql = "SELECT 1 /* replanned test */"
    texts = [_replanned(sql) for _ in range(16)]
    assert [text.removeprefix(sql) for text in texts[:4]] == [" /* plan 1 */", " /* plan 2 */", " /* plan 2 */", " /* plan 3 */"]
    assert len(set(texts)) == 5  # executions 1, 2-3, 4-7, 8-15, 16
