"""A redemption in two PostgreSQL statements: the debit, then everything else.

1. `UPDATE ledger_account … WHERE balance >= cost RETURNING` checks the balance, debits it and
   locks the member's account row (ledger.sql.debit_if_covered).
2. One prepared statement consumes the member's lots earliest expiry first (a running sum
   over them), writes the transfer, takes one unit of stock (if limited), writes the voucher
   with the lots it consumed, the offer event and the idempotency record.

The lock must come first, in its own statement: in READ COMMITTED each statement reads a
snapshot taken when it starts, so the lots are read only once this member's other
spendings have committed. Both run in one transaction; if the stock is gone the second
statement inserts no voucher and the caller rolls everything back.
"""

import datetime as dt
import json

from fidelo.core.db import fetchone_prepared
from fidelo.core.idempotency import RECEIPT_COLUMNS
from fidelo.ledger.sql import TRANSFER_COLUMNS, db_time

_LOTS_AND_REST = f"""
WITH lots AS (
    SELECT id, remaining, expires_at, earned_at,
           SUM(remaining) OVER (ORDER BY (expires_at IS NULL), expires_at, earned_at, id) AS running
    FROM ledger_lot
    WHERE member_id = %s AND unit = %s AND status = 'available' AND remaining > 0
), took AS (
    SELECT id, LEAST(remaining, %s - (running - remaining)) AS take, expires_at, earned_at, running
    FROM lots WHERE running - remaining < %s
), upd AS (
    UPDATE ledger_lot l
    SET remaining = l.remaining - took.take,
        status = CASE WHEN l.remaining - took.take = 0 THEN 'closed' ELSE 'available' END
    FROM took WHERE l.id = took.id
    RETURNING l.id
), t AS (
    INSERT INTO ledger_transfer ({TRANSFER_COLUMNS})
    VALUES (%s, %s, %s, %s, %s, 'redeem', 'redemption', %s::jsonb, '', 'reward', %s, %s, %s, %s)
    RETURNING id
), s AS (
    UPDATE rewards_reward SET stock = stock - 1 WHERE id = %s AND %s AND stock > 0 RETURNING id
), v AS (
    INSERT INTO rewards_voucher (organization_id, member_id, reward_id, code, status, points, spent_lots, redeem_transfer_id,
                                 channel, issued_at, expires_at, used_value_minor, used_purchase_external_id)
    SELECT %s, %s, %s, %s, 'issued', %s,
           COALESCE((SELECT jsonb_agg(jsonb_build_object('amount', take, 'expires_at', expires_at, 'earned_at', earned_at)
                                      ORDER BY running) FROM took), '[]'::jsonb),
           t.id, %s, %s, %s, 0, ''
    FROM t WHERE NOT %s OR EXISTS (SELECT 1 FROM s)
    RETURNING id
), o AS (
    INSERT INTO rewards_offerevent (organization_id, reward_id, member_id, kind, at) SELECT %s, %s, %s, 'requested', %s FROM v RETURNING id
), i AS (
    INSERT INTO core_idempotencyrecord ({RECEIPT_COLUMNS}) SELECT %s, %s, %s, %s, %s, %s::jsonb, %s FROM v RETURNING id
)
SELECT v.id, t.id, (SELECT COUNT(*) FROM upd), (SELECT COUNT(*) FROM o), (SELECT COUNT(*) FROM i)
FROM t LEFT JOIN v ON TRUE
"""


def redeem_rest_postgresql(
    *, organization_id: int, member_id: int, unit: str, amount: int, spendable: int, account_id: int, sink_id: int,
    reward_id: int, limited_stock: bool, reason_params: dict, actor: str, code: str, channel: str, at: dt.datetime,
    expires_at: dt.datetime | None, created_at: dt.datetime, stored_receipt: list,
) -> tuple[int | None, int]:
    """Statement 2 (the account is already debited and locked): (voucher id or None if out of stock, transfer id).

    `stored_receipt`: the idempotency record's values (core.idempotency.receipt_params)."""
    params = [
        member_id, unit, spendable, spendable,
        organization_id, unit, account_id, sink_id, amount, json.dumps(reason_params), reward_id, actor, db_time(at), db_time(created_at),
        reward_id, limited_stock,
        organization_id, member_id, reward_id, code, amount, channel, db_time(at), db_time(expires_at), limited_stock,
        organization_id, reward_id, member_id, db_time(at),
        *stored_receipt,
    ]
    voucher_id, transfer_id, _lots, _events, _receipts = fetchone_prepared(_LOTS_AND_REST, params)
    return voucher_id, transfer_id
