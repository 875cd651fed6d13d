"""The awards of an event in one multi-row INSERT: on the purchase path, the ORM's bulk_create
costs several times the statement."""

import json

from django.db import connection

from fidelo.awards.models import Award
from fidelo.ledger.sql import db_time

COLUMNS = (
    "organization_id, member_id, rule_id, rule_version, kind, amount, target, source_type, source_id, transfer_id, why, "
    "line_amounts, reversed, local_day, occurred_at, created_at"
)


def insert_awards(rows: list[Award]) -> None:
    values = "(" + ", ".join(["%s"] * 16) + ")"
    params = [
        value
        for row in rows
        for value in (
            row.organization_id, row.member_id, row.rule_id, row.rule_version, row.kind, row.amount, row.target, row.source_type,
            row.source_id, row.transfer_id, json.dumps(row.why), json.dumps(row.line_amounts), 0,
            connection.ops.adapt_datefield_value(row.local_day), db_time(row.occurred_at), db_time(row.created_at),
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO awards_award ({COLUMNS}) VALUES {', '.join([values] * len(rows))}", params)
