"""The awards of an event in one multi-row INSERT: on the purchase path, the ORM's bulk_create
costs several times the statement."""

import datetime as dt
from dataclasses import dataclass

from fidelo.core.db import cursor_or, db_date, db_time
from fidelo.core.jsontext import json_text
from fidelo.ledger.sql import rows_insert


@dataclass(slots=True)
class AwardRow:
    """An awards_award row to write (a model instance costs more to build than the row to insert)."""

    organization_id: int
    member_id: int
    rule_id: int | None
    rule_version: int | None
    kind: str
    amount: int
    target: str
    source_type: str
    source_id: int
    transfer_id: int | None
    why: dict
    line_amounts: list
    local_day: dt.date
    occurred_at: dt.datetime
    created_at: dt.datetime
    campaign: str = ""

COLUMNS = (
    "organization_id, member_id, rule_id, rule_version, kind, amount, target, source_type, source_id, transfer_id, why, "
    "line_amounts, reversed, local_day, occurred_at, created_at, campaign"
)


def award_values(row: AwardRow) -> list:
    return [
        row.organization_id, row.member_id, row.rule_id, row.rule_version, row.kind, row.amount, row.target, row.source_type,
        row.source_id, row.transfer_id, json_text(row.why), json_text(row.line_amounts), 0,
        db_date(row.local_day), db_time(row.occurred_at), db_time(row.created_at), row.campaign,
    ]


def insert_awards(rows: list[AwardRow]) -> None:
    insert_award_values([award_values(row) for row in rows])


def insert_award_values(rows: list[list], *, cursor=None) -> None:
    """Award rows whose values were built beforehand (award_values: source id at [8], transfer id at [9])."""
    with cursor_or(cursor) as cursor:
        cursor.execute(rows_insert("awards_award", COLUMNS, 17, len(rows)), [v for values in rows for v in values])


def pg_awards_cte(rows: list[AwardRow], *, source_sql: str, transfer_sql: str, from_sql: str) -> tuple[str, list]:
    """The award rows as a common table expression, their source and transfer ids taken from
    rows written by the same statement (see purchases.sql)."""
    values = ", ".join(
        ["(%s::bigint, %s::bigint, %s::bigint, %s::integer, %s, %s::bigint, %s, %s, %s::jsonb, %s::jsonb, %s::date, %s::timestamptz, "
         "%s::timestamptz, %s)"] * len(rows)
    )
    params = []
    for row in rows:
        v = award_values(row)
        params += v[:8] + v[10:12] + v[13:]  # without source_id, transfer_id and reversed
    return (
        f"aw AS (INSERT INTO awards_award ({COLUMNS}) "
        "SELECT v.organization_id, v.member_id, v.rule_id, v.rule_version, v.kind, v.amount, v.target, v.source_type, "
        f"{source_sql}, {transfer_sql}, v.why, v.line_amounts, 0, v.local_day, v.occurred_at, v.created_at, v.campaign "
        f"FROM {from_sql}, (VALUES {values}) AS v(organization_id, member_id, rule_id, rule_version, kind, amount, target, source_type, "
        "why, line_amounts, local_day, occurred_at, created_at, campaign) RETURNING id)",
        params,
    )
