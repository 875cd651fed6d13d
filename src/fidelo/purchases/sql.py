"""A purchase in one PostgreSQL statement: balance, purchase, transfer, lot, lines, idempotency record.

The API's hottest request. A single statement commits by itself (no BEGIN and COMMIT round
trips) and is atomic: if any row fails (a unique index: the same idempotency key or external
id recorded meanwhile), none is written. The balance update comes first and every insert
reads from it, so if the member's accounts are not opened yet nothing at all is written and
the caller takes the general path.
"""

import json
from contextlib import nullcontext
from typing import Any

from django.db import connection, transaction

from fidelo.awards.sql import AwardRow, pg_awards_cte
from fidelo.core.db import fetchone_prepared, mark_saved
from fidelo.core.idempotency import RECEIPT_COLUMNS, Receipt, receipt_params
from fidelo.ledger.models import Lot, Transfer
from fidelo.ledger.sql import (
    EarnRow,
    compose,
    db_time,
    pg_balance_cte,
    pg_lot_cte,
    pg_transfer_cte,
)
from fidelo.purchases.models import Purchase, PurchaseLine

PURCHASE_COLUMNS = (
    "organization_id, member_id, store_id, external_id, channel, occurred_at, currency, total_minor, refunded_minor, "
    "points_earned, points_reversed, has_lines, created_at, points_bonus"
)
LINE_COLUMNS = (
    "purchase_id, position, sku, name, category, brand, quantity, unit_price_minor, discount_minor, amount_minor, points_earned, "
    "refunded_quantity, points_reversed"
)


def purchase_values(purchase: Purchase) -> list:
    """The values of PURCHASE_COLUMNS, adapted for the database."""
    return [
        purchase.organization_id, purchase.member_id, purchase.store_id, purchase.external_id, purchase.channel,
        db_time(purchase.occurred_at), purchase.currency, purchase.total_minor, purchase.refunded_minor, purchase.points_earned,
        purchase.points_reversed, purchase.has_lines, db_time(purchase.created_at), purchase.points_bonus,
    ]


def insert_lines(lines: list[PurchaseLine]) -> None:
    """The purchase's lines in one multi-row INSERT (the ORM's bulk_create costs ten times more here)."""
    row = "(" + ", ".join(["%s"] * 13) + ")"
    params = [
        value
        for line in lines
        for value in (
            line.purchase_id, line.position, line.sku, line.name, line.category, line.brand, line.quantity, line.unit_price_minor,
            line.discount_minor, line.amount_minor, line.points_earned, 0, 0,
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO purchases_purchaseline ({LINE_COLUMNS}) VALUES {', '.join([row] * len(lines))} RETURNING id, position", params
        )
        ids = dict((position, line_id) for line_id, position in cursor.fetchall())  # RETURNING's order is not promised
    for line in lines:
        line.id = ids[line.position]
        mark_saved(line)


def set_bonus(purchase_id: int, points: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE purchases_purchase SET points_bonus = %s WHERE id = %s", [points, purchase_id])


def record_postgresql(
    purchase: Purchase, lines: list[PurchaseLine], row: EarnRow, receipt: Receipt, status: int, template: dict[str, Any],
    bonus: EarnRow | None = None, awards: list[AwardRow] | None = None,
):
    """Write it all in one statement; return (body, transfer, lot), or None if nothing could be written.

    `purchase`, `lines` and `row` are the rows to write, built by the caller, their ids unset.
    `template` is the response to store in the idempotency record; the purchase id, known
    only once written, is put in its "id" by the statement itself. On success the ids are
    set on `purchase` and `lines`. With `bonus` (the rules' points, a second credit kept apart)
    and its `awards` rows, those go in the same statement; then a member in debt writes
    nothing and the caller takes the general path.
    """
    ctes = [
        pg_balance_cte(row, extra=bonus.amount if bonus else 0),
        (
            f"p AS (INSERT INTO purchases_purchase ({PURCHASE_COLUMNS}) SELECT {', '.join(['%s'] * 14)} FROM a RETURNING id)",
            purchase_values(purchase),
        ),
        pg_transfer_cte(row, source_id_sql="p.id", from_sql="a, p"),
        pg_lot_cte(row),
    ]
    if bonus is not None:
        ctes += [
            pg_transfer_cte(bonus, source_id_sql="p.id", from_sql="a, p", name="tb"),
            pg_lot_cte(bonus, name="lb", transfer="tb"),
        ]
        if awards:
            ctes.append(pg_awards_cte(awards, source_sql="p.id", transfer_sql="tb.id", from_sql="p, tb"))
    if lines:
        values = ", ".join(["(%s, %s, %s, %s, %s, %s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::bigint)"] * len(lines))
        ctes.append(
            (
                f"ln AS (INSERT INTO purchases_purchaseline ({LINE_COLUMNS}) "
                "SELECT p.id, v.position, v.sku, v.name, v.category, v.brand, v.quantity, v.unit_price_minor, v.discount_minor, "
                "v.amount_minor, v.points_earned, 0, 0 "
                f"FROM p, (VALUES {values}) AS v(position, sku, name, category, brand, quantity, unit_price_minor, discount_minor, "
                "amount_minor, points_earned) RETURNING id, position)",
                [
                    value
                    for line in lines
                    for value in (
                        line.position, line.sku, line.name, line.category, line.brand, line.quantity, line.unit_price_minor,
                        line.discount_minor, line.amount_minor, line.points_earned,
                    )
                ],
            )
        )
    stored = receipt_params(receipt, status, template)
    ctes.append(
        (
            f"i AS (INSERT INTO core_idempotencyrecord ({RECEIPT_COLUMNS}) "
            "SELECT %s, %s, %s, %s, %s, jsonb_set(%s::jsonb, '{id}', to_jsonb(p.id)), %s FROM p RETURNING id)",
            stored,
        )
    )
    line_ids = ", (SELECT array_agg(id ORDER BY position) FROM ln)" if lines else ", NULL"
    tables = "a, p, t, l, i, tb, lb" if bonus is not None else "a, p, t, l, i"
    sql, params = compose(ctes, f"SELECT p.id, a.id, a.balance, t.id, l.id, l.remaining, l.status{line_ids} FROM {tables}")
    # Inside a caller's transaction (tests), a failure must not spoil it: use a savepoint.
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        found = fetchone_prepared(sql, params)
    if found is None:
        return None
    purchase_id, account_id, _balance, transfer_id, lot_id, remaining, lot_status, line_ids_found = found
    purchase.id = purchase_id
    mark_saved(purchase)
    for line, line_id in zip(lines, line_ids_found or []):
        line.id, line.purchase_id = line_id, purchase_id
        mark_saved(line)
    transfer = mark_saved(
        Transfer(
            id=transfer_id, organization_id=row.organization_id, unit=row.unit, debit_id=row.source_account_id, credit_id=account_id,
            amount=row.amount, kind=row.kind, reason=row.reason, reason_params=row.reason_params, note=row.note,
            source_type=row.source_type, source_id=purchase_id, actor=row.actor, occurred_at=row.occurred_at, created_at=row.created_at,
        )
    )
    lot = mark_saved(
        Lot(
            id=lot_id, organization_id=row.organization_id, member_id=row.member_id, unit=row.unit, amount=row.amount, remaining=remaining,
            status=lot_status, earned_at=row.occurred_at, available_at=row.available_at, expires_at=row.expires_at, transfer_id=transfer_id,
        )
    )
    body = json.loads(json.dumps(template, default=str))
    body["id"] = purchase_id
    return body, transfer, lot
