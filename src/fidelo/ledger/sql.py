"""Plain SQL for the ledger's hottest writes (every purchase goes through them).

Building an ORM INSERT costs several times the statement itself (see docs/performance.md),
so the earn path writes its rows here with the driver's cursor. The rows are the same as
the ORM's: values are adapted by the database backend's own `adapt_*` functions, JSON is
serialized as JSONField does it.

On PostgreSQL the balance update, the transfer and the lot are one statement (one round
trip); on SQLite, where a statement is a function call, they are three.
"""

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from django.db import connection

from fidelo.core.db import (
    cursor_or,
    db_time,
    fetchone_prepared,
    is_postgresql,
    is_sqlite,
    sqlite_inserted_ids,
)
from fidelo.core.jsontext import json_text
from fidelo.ledger.models import LotStatus

if TYPE_CHECKING:  # ledger.services imports this module
    from fidelo.ledger.services import Why

TRANSFER_COLUMNS = (
    "organization_id, unit, debit_id, credit_id, amount, kind, reason, reason_params, note, source_type, source_id, actor, "
    "occurred_at, created_at"
)


class EarnRow(NamedTuple):
    """What one credit to a member writes: transfer, lot, balance change. Immutable; a named
    tuple rather than a frozen dataclass, whose __init__ sets its seventeen fields one call at a
    time: one or two per purchase, on the API's hottest path."""

    organization_id: int
    member_id: int
    unit: str
    source_account_id: int
    account_kind: str  # "available" or "pending"
    amount: int
    kind: str
    reason: str
    reason_params: dict
    note: str
    source_type: str
    source_id: int | None
    actor: str
    occurred_at: dt.datetime
    created_at: dt.datetime
    available_at: dt.datetime
    expires_at: dt.datetime | None

    @property
    def pending(self) -> bool:
        return self.account_kind == "pending"

    def twin(self, *, amount: int, why: "Why") -> "EarnRow":
        """A second credit alongside this one (a purchase's bonus beside its base points), for
        `why`: its own transfer and lot, with the same accounts, times, return window and expiry.
        Built by position, without working those out again."""
        return EarnRow(self.organization_id, self.member_id, self.unit, self.source_account_id, self.account_kind, amount, self.kind,
                       why.reason, why.params, why.note, why.source_type, why.source_id, why.actor, self.occurred_at, self.created_at,
                       self.available_at, self.expires_at)


@dataclass(frozen=True, slots=True)
class EarnWritten:
    account_id: int
    balance: int  # the credited account's balance after the credit
    transfer_id: int
    lot_id: int
    lot_remaining: int
    lot_status: str


def spendable_part(row: EarnRow, new_balance: int) -> tuple[int, str]:
    """A credit to an available balance in debt pays the debt first (DESIGN: lots sum to the positive balance)."""
    return spendable_parts([row], new_balance)[0]


LOT_COLUMNS = "organization_id, member_id, unit, amount, remaining, status, earned_at, available_at, expires_at, transfer_id"


def transfer_values(row: EarnRow, credit_id) -> list:
    return [
        row.organization_id, row.unit, row.source_account_id, credit_id, row.amount, row.kind, row.reason,
        json_text(row.reason_params), row.note, row.source_type, row.source_id, row.actor, db_time(row.occurred_at), db_time(row.created_at),
    ]


def lot_values(row: EarnRow, remaining: int, status: str, transfer_id) -> list:
    return [row.organization_id, row.member_id, row.unit, row.amount, remaining, status, db_time(row.occurred_at),
            db_time(row.available_at), db_time(row.expires_at), transfer_id]


# PostgreSQL: the earn as common table expressions, so that a caller can put its own rows
# in the same statement (purchases.sql does: the purchase, its lines and the idempotency
# record with the credit, one round trip). Each function returns (sql, params) in text order.


def pg_balance_cte(row: EarnRow, *, extra: int = 0) -> tuple[str, list]:
    """The balance update. With `extra` (a second credit in the same statement), only a balance
    not in debt is updated: each credit's lot is then whole (else nothing is written and the
    caller takes the general path, which shares a debt between the lots)."""
    not_in_debt = " AND balance >= 0" if extra else ""
    return (
        f"a AS (UPDATE ledger_account SET balance = balance + %s WHERE member_id = %s AND kind = %s AND unit = %s{not_in_debt} "
        "RETURNING id, balance)",
        [row.amount + extra, row.member_id, row.account_kind, row.unit],
    )


def pg_transfer_cte(row: EarnRow, *, source_id_sql: str = "%s", from_sql: str = "a", name: str = "t") -> tuple[str, list]:
    values = transfer_values(row, None)
    head, tail = values[:3], values[4:]  # without credit_id (a.id)
    source_index = 6  # amount, kind, reason, params, note, source_type, [source_id], actor, occurred, created
    params = head + tail[:source_index] + ([row.source_id] if source_id_sql == "%s" else []) + tail[source_index + 1 :]
    return (
        f"{name} AS (INSERT INTO ledger_transfer ({TRANSFER_COLUMNS}) "
        f"SELECT %s, %s, %s, a.id, %s, %s, %s, %s::jsonb, %s, %s, {source_id_sql}, %s, %s, %s FROM {from_sql} RETURNING id)",
        params,
    )


def pg_lot_cte(row: EarnRow, *, name: str = "l", transfer: str = "t") -> tuple[str, list]:
    return (
        f"{name} AS (INSERT INTO ledger_lot ({LOT_COLUMNS}) "
        "SELECT %s, %s, %s, %s, "
        "CASE WHEN %s THEN %s ELSE LEAST(%s, GREATEST(a.balance, 0)) END, "
        "CASE WHEN %s THEN 'pending' WHEN LEAST(%s, GREATEST(a.balance, 0)) > 0 THEN 'available' ELSE 'closed' END, "
        f"%s, %s, %s, {transfer}.id FROM a, {transfer} RETURNING id, remaining, status)",
        [
            row.organization_id, row.member_id, row.unit, row.amount,
            row.pending, row.amount, row.amount,
            row.pending, row.amount,
            db_time(row.occurred_at), db_time(row.available_at), db_time(row.expires_at),
        ],
    )


def compose(ctes: list[tuple[str, list]], select: str) -> tuple[str, list]:
    sql = "WITH " + ",\n".join(fragment for fragment, _ in ctes) + "\n" + select
    return sql, [param for _, params in ctes for param in params]


def earn_postgresql(row: EarnRow) -> EarnWritten | None:
    """One round trip; None if the member's accounts are not opened yet (nothing written then)."""
    sql, params = compose(
        [pg_balance_cte(row), pg_transfer_cte(row), pg_lot_cte(row)],
        "SELECT a.id, a.balance, t.id, l.id, l.remaining, l.status FROM a, t, l",
    )
    found = fetchone_prepared(sql, params)
    if found is None:
        return None
    return EarnWritten(*found)


def credit_balance(cursor, row: EarnRow, amount: int) -> tuple[int, int] | None:
    """Add `amount` to the balance `row` credits: (account id, new balance), or None if the
    member's accounts are not opened yet."""
    cursor.execute(
        "UPDATE ledger_account SET balance = balance + %s WHERE member_id = %s AND kind = %s AND unit = %s RETURNING id, balance",
        [amount, row.member_id, row.account_kind, row.unit],
    )
    return cursor.fetchone()


def earn_generic(row: EarnRow) -> EarnWritten | None:
    """Three statements (SQLite, or any backend with RETURNING)."""
    with connection.cursor() as cursor:
        found = credit_balance(cursor, row, row.amount)
        if found is None:
            return None
        account_id, balance = found
        cursor.execute(
            f"INSERT INTO ledger_transfer ({TRANSFER_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            transfer_values(row, account_id),
        )
        transfer_id = cursor.fetchone()[0]
        remaining, status = spendable_part(row, balance)
        cursor.execute(
            f"INSERT INTO ledger_lot ({LOT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            lot_values(row, remaining, status, transfer_id),
        )
        lot_id = cursor.fetchone()[0]
    return EarnWritten(account_id, balance, transfer_id, lot_id, remaining, status)


def spendable_parts(rows: list[EarnRow], new_balance: int) -> list[tuple[int, str]]:
    """spendable_part for several credits to one account at once: what is above zero is
    spendable, given to the credits in order (so a debt is paid by the last ones)."""
    left = min(sum(row.amount for row in rows), max(new_balance, 0))
    parts = []
    for row in rows:
        if row.pending:
            parts.append((row.amount, LotStatus.PENDING))
            continue
        remaining = min(row.amount, left)
        left -= remaining
        parts.append((remaining, LotStatus.AVAILABLE if remaining else LotStatus.CLOSED))
    return parts


def earn_many(rows: list[EarnRow]) -> list[EarnWritten] | None:
    """Several credits to one member account (same kind and unit) in three statements: one balance
    update for their sum, one multi-row INSERT of the transfers, one of the lots.

    None if the member's accounts are not opened yet (nothing written then).
    """
    first = rows[0]
    with connection.cursor() as cursor:
        found = credit_balance(cursor, first, sum(row.amount for row in rows))
        if found is None:
            return None
        account_id, balance = found
        transfer_ids, lot_ids, parts = insert_credits(cursor, credit_values(rows), account_id, balance)
    return [
        EarnWritten(account_id, balance, transfer_id, lot_ids[transfer_id], remaining, status)
        for transfer_id, (remaining, status) in zip(transfer_ids, parts)
    ]


@functools.lru_cache(maxsize=256)
def rows_insert(table: str, columns: str, width: int, count: int, returning: str = "") -> str:
    """A multi-row INSERT of `count` rows of `width` values (the texts of the hot paths are few: kept)."""
    row = "(" + ", ".join(["%s"] * width) + ")"
    return f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * count)}" + (f" RETURNING {returning}" if returning else "")


@dataclass(frozen=True, slots=True)
class CreditValues:
    """The values of credits' transfers and lots, built before a write lock is taken: under it
    only the ids and the lots' spendable parts are put in (insert_credits)."""

    rows: list  # the EarnRows
    transfers: list[list]  # TRANSFER_COLUMNS; credit account [3] and source id [10] put in on insert
    lots: list[list]  # LOT_COLUMNS; remaining [4], status [5] and transfer id [9] put in on insert


def credit_values(rows: list[EarnRow]) -> CreditValues:
    return CreditValues(rows, [transfer_values(row, None) for row in rows], [lot_values(row, 0, "", None) for row in rows])


def insert_credits(cursor, built: CreditValues, account_id: int, balance: int, *, source_id: int | None = None):
    """The transfers and lots of credits to one account (their values built by credit_values),
    its balance already updated to `balance`: one multi-row INSERT each. `source_id`, if given,
    replaces the rows' (a source written in the same transaction). Returns (transfer ids in row
    order, lot id per transfer id, each lot's (remaining, status))."""
    rows = built.rows
    for values in built.transfers:
        values[3] = account_id
        if source_id is not None:
            values[10] = source_id
    sqlite = is_sqlite()
    transfers_sql = rows_insert("ledger_transfer", TRANSFER_COLUMNS, 14, len(rows), "" if sqlite else "id")
    cursor.execute(transfers_sql, [v for values in built.transfers for v in values])
    # One statement numbers its rows in VALUES order (a sequence or SQLite's rowid), whatever
    # order RETURNING hands them back in.
    transfer_ids = sqlite_inserted_ids(cursor, len(rows)) if sqlite else sorted(transfer_id for (transfer_id,) in cursor.fetchall())
    parts = spendable_parts(rows, balance)
    for values, (remaining, status), transfer_id in zip(built.lots, parts, transfer_ids):
        values[4], values[5], values[9] = remaining, status, transfer_id
    cursor.execute(rows_insert("ledger_lot", LOT_COLUMNS, 10, len(rows), "" if sqlite else "id, transfer_id"),
                   [v for values in built.lots for v in values])
    if sqlite:
        lot_ids = dict(zip(transfer_ids, sqlite_inserted_ids(cursor, len(rows))))
    else:
        lot_ids = dict((transfer_id, lot_id) for lot_id, transfer_id in cursor.fetchall())
    return transfer_ids, lot_ids, parts


def earn(row: EarnRow) -> EarnWritten | None:
    return earn_postgresql(row) if is_postgresql() else earn_generic(row)


def insert_transfer(**fields) -> int:
    """One plain INSERT of a transfer (the arguments of transfer_params); its id."""
    return insert_transfer_values(transfer_params(**fields))


def transfer_params(*, organization_id: int, unit: str, debit: int | None, credit: int, amount: int, kind: str, reason: str,
                    reason_params: dict, note: str, source_type: str, source_id: int | None, actor: str,
                    occurred_at: dt.datetime, created_at: dt.datetime) -> list:
    """A transfer's values, in TRANSFER_COLUMNS order (its debit account at [2])."""
    return [organization_id, unit, debit, credit, amount, kind, reason, json_text(reason_params), note, source_type, source_id, actor,
            db_time(occurred_at), db_time(created_at)]


def insert_transfer_values(params: list, *, cursor=None) -> int:
    sqlite = is_sqlite()
    with cursor_or(cursor) as cursor:
        cursor.execute(
            f"INSERT INTO ledger_transfer ({TRANSFER_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s{'' if sqlite else '::jsonb'}, %s, %s, %s, "
            f"%s, %s, %s){'' if sqlite else ' RETURNING id'}",
            params,
        )
        return sqlite_inserted_ids(cursor, 1)[0] if sqlite else cursor.fetchone()[0]  # see sqlite_inserted_ids


def lock_account_row(member_id: int, kind: str, unit: str) -> tuple[int, int, int] | None:
    """(id, organization id, balance) of a member account, locked until commit on PostgreSQL.

    SQLite has no row locks: there the write transaction (IMMEDIATE) already excludes others.
    """
    lock = " FOR UPDATE" if is_postgresql() else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, organization_id, balance FROM ledger_account WHERE member_id = %s AND kind = %s AND unit = %s{lock}",
                       [member_id, kind, unit])
        return cursor.fetchone()


SPEND_ORDER = "(expires_at IS NULL), expires_at, earned_at, id"  # earliest expiry first, never-expiring last


def _in_spend_order(columns: str, where: str, limit_sql: str) -> str:
    """The member's available lots (`where`: the member, unit and status) in SPEND_ORDER, as two
    reads of lot_member_spend_order_idx in its own order, the lots that expire then those that
    never do, each stopping after `limit_sql` lots: one ORDER BY over both would sort all of the
    member's lots first, and a regular customer holds hundreds. `where`'s parameters come twice.
    The caller orders the (at most twice `limit_sql`) rows by SPEND_ORDER again."""

    def part(expiring: bool) -> str:
        return (f"SELECT {columns} FROM ledger_lot WHERE {where} AND expires_at IS {'NOT ' if expiring else ''}NULL AND remaining > 0 "
                f"ORDER BY expires_at, earned_at, id LIMIT {limit_sql}")

    return f"SELECT * FROM ({part(True)}) AS expiring UNION ALL SELECT * FROM ({part(False)}) AS lasting"


def take_from_first_lot(member_id: int, unit: str, amount: int, *, cursor=None) -> tuple | None:
    """Take `amount` from the member's first spendable lot if it holds that much, in one
    statement: (id, remaining after, expires_at, earned_at), or None (nothing changed) when
    the first lot holds less; then the lots are read a few at a time (spendable_lots)."""
    with cursor_or(cursor) as cursor:
        first = _in_spend_order("id, expires_at, earned_at", "member_id = %s AND unit = %s AND status = 'available'", "1")
        cursor.execute(
            "UPDATE ledger_lot SET remaining = remaining - %s, "
            f"status = CASE WHEN remaining = %s THEN '{LotStatus.CLOSED}' ELSE '{LotStatus.AVAILABLE}' END "
            f"WHERE id = (SELECT id FROM ({first}) AS candidates ORDER BY {SPEND_ORDER} LIMIT 1) AND remaining >= %s "
            "RETURNING id, remaining, expires_at, earned_at",
            [amount, amount, member_id, unit, member_id, unit, amount],
        )
        found = cursor.fetchone()
    if found is None:
        return None
    lot_id, remaining, expires, earned = found
    return lot_id, remaining, from_db_time(expires), from_db_time(earned)


def set_lot_remaining(lot_id: int, remaining: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_lot SET remaining = %s, status = %s WHERE id = %s",
            [remaining, LotStatus.AVAILABLE if remaining else LotStatus.CLOSED, lot_id],
        )


def debit_if_covered(member_id: int, unit: str, amount: int, *, cursor=None) -> tuple[int, int, int] | None:
    """balance -= amount if the available balance covers it, in one statement that also locks the row.

    Returns (account id, organization id, balance before), or None when the account is missing
    or short (nothing changed then).
    """
    with cursor_or(cursor) as cursor:
        cursor.execute(
            "UPDATE ledger_account SET balance = balance - %s WHERE member_id = %s AND kind = 'available' AND unit = %s "
            "AND balance >= %s RETURNING id, organization_id, balance + %s",
            [amount, member_id, unit, amount, amount],
        )
        return cursor.fetchone()


def from_db_time(value):
    """A datetime read with plain SQL, as the ORM would give it (SQLite stores naive UTC text)."""
    if value is None or not is_sqlite():
        return value
    return connection.ops.convert_datetimefield_value(value, None, connection)


def spendable_lots(member_id: int, unit: str, *, limit: int, only_id: int | None = None, except_id: int | None = None) -> list[tuple]:
    """(id, remaining, expires_at, earned_at) of available lots, earliest expiry first (never-expiring last)."""
    clauses, params = ["member_id = %s", "unit = %s", "status = 'available'"], [member_id, unit]
    if only_id is not None:
        clauses.append("id = %s")
        params.append(only_id)
    if except_id is not None:
        clauses.append("id <> %s")
        params.append(except_id)
    columns = "id, remaining, expires_at, earned_at"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM ({_in_spend_order(columns, ' AND '.join(clauses), '%s')}) AS lots ORDER BY {SPEND_ORDER} LIMIT %s",
            [*params, limit, *params, limit, limit],
        )
        return [(lot_id, remaining, from_db_time(expires), from_db_time(earned)) for lot_id, remaining, expires, earned in cursor.fetchall()]
