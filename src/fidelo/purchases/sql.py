"""A purchase written from rows built beforehand: balance, purchase, transfer, lot, lines, idempotency record.

The API's hottest request. On PostgreSQL it is one statement, which commits by itself (no
BEGIN and COMMIT round trips) and is atomic: if any row fails (a unique index: the same
idempotency key or external id recorded meanwhile), none is written. The balance update comes
first and every insert reads from it, so if the member's accounts are not opened yet nothing
at all is written and the caller takes the general path.

On SQLite, where writers take turns (one write lock for every process), the statements are
run in one write transaction and nothing else is: every row and every value is built before
the lock is taken, so that the lock is held for the database's work only.
"""

import json
from contextlib import nullcontext
from typing import Any

from django.db import connection, transaction

from fidelo.awards.sql import AwardRow, award_values, insert_award_values, pg_awards_cte
from fidelo.core.db import (
    cursor_or,
    db_time,
    fetchone_prepared,
    is_sqlite,
    mark_saved,
    sqlite_inserted_ids,
    write_transaction,
)
from fidelo.core.idempotency import (
    RECEIPT_COLUMNS,
    Receipt,
    insert_receipt,
    receipt_params,
)
from fidelo.ledger.sql import (
    EarnRow,
    compose,
    credit_balance,
    credit_values,
    insert_credits,
    pg_balance_cte,
    pg_lot_cte,
    pg_transfer_cte,
    rows_insert,
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


def line_values(lines: list[PurchaseLine]) -> list[list]:
    """Each line's values in LINE_COLUMNS order, its purchase id at [0]."""
    return [
        [line.purchase_id, line.position, line.sku, line.name, line.category, line.brand, line.quantity, line.unit_price_minor,
         line.discount_minor, line.amount_minor, line.points_earned, 0, 0]
        for line in lines
    ]


def insert_lines(lines: list[PurchaseLine]) -> None:
    """The purchase's lines in one multi-row INSERT (the ORM's bulk_create costs ten times more here)."""
    ids = insert_line_values(line_values(lines))
    for line, line_id in zip(lines, ids):
        line.id = line_id
        mark_saved(line)


def insert_line_values(rows: list[list], *, cursor=None) -> list[int]:
    """Lines whose values were built beforehand (line_values); their ids, in position order."""
    sqlite = is_sqlite()
    with cursor_or(cursor) as cursor:
        cursor.execute(rows_insert("purchases_purchaseline", LINE_COLUMNS, 13, len(rows), "" if sqlite else "id, position"),
                       [v for values in rows for v in values])
        if sqlite:
            return sqlite_inserted_ids(cursor, len(rows))
        return [line_id for line_id, _position in sorted(cursor.fetchall(), key=lambda found: found[1])]  # RETURNING's order is not promised


def record_postgresql(
    purchase: Purchase, lines: list[PurchaseLine], row: EarnRow, receipt: Receipt, status: int, template: dict[str, Any],
    bonus: EarnRow | None = None, awards: list[AwardRow] | None = None,
) -> dict | None:
    """Write it all in one statement; return the response body, or None if nothing could be written.

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
                [value for values in line_values(lines) for value in values[1:11]],  # position … points_earned (p.id is the purchase)
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
    sql, params = compose(ctes, f"SELECT p.id{line_ids} FROM {tables}")
    # Inside a caller's transaction (tests), a failure must not spoil it: use a savepoint.
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        found = fetchone_prepared(sql, params)
    if found is None:
        return None
    purchase_id, line_ids = found
    _saved(purchase, lines, purchase_id, line_ids or [])
    return _body(template, purchase_id)


def record_sqlite(
    purchase: Purchase, lines: list[PurchaseLine], row: EarnRow, receipt: Receipt, status: int, template: dict[str, Any],
    bonus: EarnRow | None = None, awards: list[AwardRow] | None = None,
) -> dict | None:
    """The same rows as record_postgresql, as plain statements in one write transaction; the
    response body, or None if the member's accounts are not opened yet (nothing written then).

    Everything is built before the write lock is taken; under it, only the ids the database
    hands back are put into the values. A member in debt is fine here: the lots share the
    credit as ledger.sql.earn_many does.
    """
    credits = credit_values([row, bonus] if bonus is not None else [row])  # ids and lots' parts put in under the lock
    credited = sum(credit.amount for credit in credits.rows)
    line_rows = line_values(lines)  # purchase id [0] set below
    award_rows = [award_values(award) for award in awards or ()]  # source id [8] and transfer id [9] set below
    # The stored response gets the purchase id, known only once written, as its first key.
    stored = receipt_params(receipt, status, {key: value for key, value in template.items() if key != "id"})
    rest = stored[5][1:]
    with write_transaction(), connection.cursor() as cursor:
        found = credit_balance(cursor, row, credited)
        if found is None:
            return None
        account_id, balance = found
        cursor.execute(f"INSERT INTO purchases_purchase ({PURCHASE_COLUMNS}) VALUES ({', '.join(['%s'] * 14)})", purchase_values(purchase))
        purchase_id = cursor.lastrowid
        transfer_ids, _lots, _parts = insert_credits(cursor, credits, account_id, balance, source_id=purchase_id)
        line_ids = []
        if line_rows:
            for values in line_rows:
                values[0] = purchase_id
            line_ids = insert_line_values(line_rows, cursor=cursor)
        if award_rows:
            for values in award_rows:
                values[8], values[9] = purchase_id, transfer_ids[-1]
            insert_award_values(award_rows, cursor=cursor)
        stored[5] = f'{{"id": {purchase_id}, {rest}' if rest != "}" else f'{{"id": {purchase_id}}}'
        insert_receipt(stored, cursor=cursor)
    _saved(purchase, lines, purchase_id, line_ids)
    return _body(template, purchase_id)


def _saved(purchase: Purchase, lines: list[PurchaseLine], purchase_id: int, line_ids: list[int]) -> None:
    purchase.id = purchase_id
    mark_saved(purchase)
    for line, line_id in zip(lines, line_ids):
        line.id, line.purchase_id = line_id, purchase_id
        mark_saved(line)


def _body(template: dict[str, Any], purchase_id: int) -> dict:
    body = json.loads(json.dumps(template, default=str))
    body["id"] = purchase_id
    return body
