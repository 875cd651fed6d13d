"""The raw ceiling of the earn bench: a WSGI handler with no framework.

It writes what a purchase writes in the ledger (one transfer, one lot, the member's
balance += points) with plain driver SQL, in one transaction per request, on the same
database and tables as Fidelo. Served by granian with the same flags as Fidelo:

    RAW_DB=sqlite:///path/fidelo.sqlite3 python -m granian --interface wsgi --working-dir bench raw_wsgi:app
    RAW_DB=postgres://user@127.0.0.1:5432/db ...

RAW_ORG, RAW_ISSUED (the organization and its `issued` account id) and RAW_TOKEN (the
expected bearer token) come from the environment. SQLite gets the same pragmas as
fidelo/settings.py (WAL, synchronous=NORMAL, busy timeout 30 s, IMMEDIATE transactions)
and, like fidelo.core.db, writers of one process queue on a Python lock.
"""

import datetime as dt
import json
import os
import threading

DB = os.environ.get("RAW_DB", "")
ORG = int(os.environ.get("RAW_ORG", "0"))
ISSUED = int(os.environ.get("RAW_ISSUED", "0"))
AUTH = ("Bearer " + os.environ.get("RAW_TOKEN", "")).encode()
UNIT = "PTS"
SQLITE = DB.startswith("sqlite:///")
PARAM = "?" if SQLITE else "%s"

UPDATE_BALANCE = (
    f"UPDATE ledger_account SET balance = balance + {PARAM} "
    f"WHERE member_id = {PARAM} AND kind = 'available' AND unit = '{UNIT}' RETURNING id, balance"
)
INSERT_TRANSFER = (
    "INSERT INTO ledger_transfer (organization_id, unit, debit_id, credit_id, amount, kind, reason, reason_params, note, "
    "source_type, source_id, actor, occurred_at, created_at) "
    f"VALUES ({PARAM}, '{UNIT}', {PARAM}, {PARAM}, {PARAM}, 'earn', 'purchase', {PARAM}, '', 'purchase', NULL, 'raw', {PARAM}, {PARAM}) "
    "RETURNING id"
)
INSERT_LOT = (
    "INSERT INTO ledger_lot (organization_id, member_id, unit, amount, remaining, status, earned_at, available_at, expires_at, transfer_id) "
    f"VALUES ({PARAM}, {PARAM}, '{UNIT}', {PARAM}, {PARAM}, 'available', {PARAM}, {PARAM}, NULL, {PARAM})"
)

_local = threading.local()
_writer = threading.Lock()


def _connect():
    if SQLITE:
        import sqlite3

        # sqlite:///abs/path -> /abs/path
        conn = sqlite3.connect(DB[len("sqlite://") :], timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn
    import psycopg

    return psycopg.connect(DB)


def _connection():
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = _connect()
    return conn


def _as_db_time(moment: dt.datetime):
    # Django's SQLite backend stores aware datetimes as naive UTC text.
    if SQLITE:
        return moment.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    return moment


def earn(member_id: int, total_minor: int, occurred_at: dt.datetime) -> tuple[int, int]:
    points = total_minor // 100
    occurred = _as_db_time(occurred_at)
    created = _as_db_time(dt.datetime.now(dt.timezone.utc))
    params = json.dumps({"amount_minor": total_minor, "currency": "EUR", "store": "raw"})
    conn = _connection()
    if SQLITE:
        with _writer:
            conn.execute("BEGIN IMMEDIATE")
            try:
                account_id, balance = conn.execute(UPDATE_BALANCE, (points, member_id)).fetchone()
                (transfer_id,) = conn.execute(INSERT_TRANSFER, (ORG, ISSUED, account_id, points, params, occurred, created)).fetchone()
                conn.execute(INSERT_LOT, (ORG, member_id, points, min(points, max(balance, 0)), occurred, occurred, transfer_id))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return transfer_id, balance
    with conn.cursor() as cursor:
        try:
            cursor.execute(UPDATE_BALANCE, (points, member_id))
            account_id, balance = cursor.fetchone()
            cursor.execute(INSERT_TRANSFER, (ORG, ISSUED, account_id, points, params, occurred, created))
            (transfer_id,) = cursor.fetchone()
            cursor.execute(INSERT_LOT, (ORG, member_id, points, min(points, max(balance, 0)), occurred, occurred, transfer_id))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return transfer_id, balance


def app(environ, start_response):
    if environ.get("HTTP_AUTHORIZATION", "").encode() != AUTH:
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [b'{"code":"invalid_api_key"}']
    if environ["REQUEST_METHOD"] != "POST":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok":true}']
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length))
    transfer_id, balance = earn(
        int(body["member"]["id"]), int(body["total_cents"]), dt.datetime.fromisoformat(body["occurred_at"])
    )
    out = json.dumps({"external_id": body["external_id"], "transfer_id": transfer_id, "balance": balance}).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
