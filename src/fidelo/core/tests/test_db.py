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
    # The purchase statement has 150 to 200 parameters; psycopg would parse it on every call.
    from psycopg import _queries

    sql, params = _wide_statement(180)
    fetchone_prepared(sql, params)
    hits = _queries._query2pg.cache_info().hits
    assert fetchone_prepared(sql, params[::-1]) == tuple(range(180))[::-1]
    assert _queries._query2pg.cache_info().hits == hits + 1
