"""A plain voucher's redemption on PostgreSQL in one round trip: a PL/pgSQL function.

`fidelo_redeem_voucher(...)` (created by migration 0005) runs, in one statement that commits
by itself:

1. `UPDATE ledger_account … WHERE balance >= cost RETURNING` checks the balance, debits it and
   locks the member's account row. Nothing matched (short of points, or no account yet): the
   function returns NULL, nothing is written, and the caller takes the general path, which
   says why.
2. One unit of the reward's stock, if limited (its row locked after the account's, as on the
   general path, so that concurrent redemptions cannot deadlock). None left: the debit is
   put back and the function returns {0, 0}.
3. One statement: the member's lots consumed earliest expiry first (a running sum over them),
   the transfer, the voucher with the lots it consumed, the offer event and the idempotency
   record. It returns {voucher id, transfer id}.

The lock must come before the lots are read: in READ COMMITTED each statement of a VOLATILE
function reads a snapshot taken when that statement starts, so step 3 sees every change this
member's other spendings committed before step 1 got the lock.

The function names the columns of ledger_transfer, rewards_voucher, rewards_offerevent and
core_idempotencyrecord: a migration that changes those tables must create it again.
"""

import datetime as dt
from contextlib import nullcontext

from django.db import connection, transaction

from fidelo.core.db import db_time, fetchone_prepared
from fidelo.core.jsontext import json_text

_CALL = (
    "SELECT fidelo_redeem_voucher(%s::bigint, %s::bigint, %s::text, %s::bigint, %s::bigint, %s::bigint, %s::boolean, %s::jsonb, %s::text, "
    "%s::text, %s::text, %s::timestamptz, %s::timestamptz, %s::timestamptz, %s::text, %s::text, %s::text, %s::integer, %s::jsonb, "
    "%s::timestamptz)"
)

OUT_OF_STOCK = (0, 0)


def redeem_voucher_postgresql(
    *, organization_id: int, member_id: int, unit: str, amount: int, sink_id: int, reward_id: int, limited_stock: bool,
    reason_params: dict, actor: str, code: str, channel: str, at: dt.datetime, expires_at: dt.datetime | None,
    created_at: dt.datetime, stored_receipt: list,
) -> tuple[int, int] | None:
    """(voucher id, transfer id); OUT_OF_STOCK (nothing written); or None when the balance does
    not cover it or the member has no account yet (nothing written). `stored_receipt`: the
    idempotency record's values (core.idempotency.receipt_params), its organization first."""
    params = [
        organization_id, member_id, unit, amount, sink_id, reward_id, limited_stock, json_text(reason_params), actor, code, channel,
        db_time(at), db_time(expires_at), db_time(created_at), *stored_receipt[1:],
    ]
    # Inside a caller's transaction (tests), a failure must not spoil it: use a savepoint.
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        (found,) = fetchone_prepared(_CALL, params)
    return None if found is None else (found[0], found[1])
