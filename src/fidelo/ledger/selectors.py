"""Reads of the ledger: balances, history with reasons, and the verification of invariants."""

import base64
import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, Sum

from fidelo.core.clock import now
from fidelo.ledger.models import Account, AccountKind, Lot, LotStatus, Transfer
from fidelo.ledger.reasons import render_reason
from fidelo.members.models import Member

EXPIRING_WINDOW = dt.timedelta(days=30)


@dataclass(frozen=True)
class Balance:
    unit: str
    available: int
    pending: int
    expiring_soon: int  # available points that expire within 30 days
    next_expiry: dt.datetime | None


def member_balance(member: Member, unit: str, *, at: dt.datetime | None = None) -> Balance:
    at = at or now()
    balances = dict(Account.objects.filter(member=member, unit=unit).values_list("kind", "balance"))
    expiring = Lot.objects.filter(
        member=member, unit=unit, status=LotStatus.AVAILABLE, remaining__gt=0, expires_at__isnull=False, expires_at__lte=at + EXPIRING_WINDOW
    ).aggregate(total=Sum("remaining"))["total"]
    next_expiry = (
        Lot.objects.filter(member=member, unit=unit, status=LotStatus.AVAILABLE, remaining__gt=0, expires_at__isnull=False)
        .order_by("expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )
    return Balance(
        unit=unit,
        available=balances.get(AccountKind.AVAILABLE, 0) or 0,
        pending=balances.get(AccountKind.PENDING, 0) or 0,
        expiring_soon=expiring or 0,
        next_expiry=next_expiry,
    )


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    occurred_at: dt.datetime
    kind: str
    available_change: int  # signed change of the spendable balance
    pending_change: int  # signed change of the pending balance
    reason: str  # in the reader's language
    reason_code: str
    note: str
    source_type: str
    source_id: int | None
    # For a bonus: each rule's award (rule id, version, name, amount, and the engine's
    # explanation {"code", "params"}), to say why (rendered above the ledger, by fidelo.rules).
    awards: tuple[dict, ...] = ()


@dataclass(frozen=True)
class HistoryPage:
    entries: list[HistoryEntry]
    next_cursor: str | None


def encode_cursor(transfer_id: int) -> str:
    return base64.urlsafe_b64encode(f"t{transfer_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    from fidelo.core.errors import ValidationFailed

    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("t"):
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("Invalid cursor", code="invalid_cursor") from exc


def member_history(member: Member, *, cursor: str | None = None, limit: int = 50) -> HistoryPage:
    """The member's entries, newest first, each with the reason in words."""
    accounts = dict(Account.objects.filter(member=member).values_list("id", "kind"))
    if not accounts:
        return HistoryPage([], None)
    before = decode_cursor(cursor)
    transfers = Transfer.objects.filter(Q(debit_id__in=accounts) | Q(credit_id__in=accounts))
    if before is not None:
        transfers = transfers.filter(id__lt=before)
    rows = list(transfers.order_by("-id")[: limit + 1])
    entries = []
    for transfer in rows[:limit]:
        available = pending = 0
        for account_id, sign in ((transfer.credit_id, 1), (transfer.debit_id, -1)):
            kind = accounts.get(account_id)
            if kind == AccountKind.AVAILABLE:
                available += sign * transfer.amount
            elif kind == AccountKind.PENDING:
                pending += sign * transfer.amount
        reason, params = transfer.reason, dict(transfer.reason_params)
        if reason == "transfer":
            sent = transfer.debit_id in accounts
            reason = "transfer_out" if sent else "transfer_in"
            params["name"] = params.get("to" if sent else "from", "")
        entries.append(
            HistoryEntry(
                id=transfer.id,
                occurred_at=transfer.occurred_at,
                kind=transfer.kind,
                available_change=available,
                pending_change=pending,
                reason=render_reason(reason, params, transfer.note),
                reason_code=reason,
                note=transfer.note,
                source_type=transfer.source_type,
                source_id=transfer.source_id,
                awards=tuple(params.get("awards") or ()),
            )
        )
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return HistoryPage(entries, next_cursor)


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    what: str
    account_id: int | None
    member_id: int | None
    expected: int
    found: int

    def __str__(self) -> str:
        subject = f"account {self.account_id}" if self.account_id else f"member {self.member_id}"
        return f"{self.what}: {subject}: expected {self.expected}, found {self.found}"


def ledger_verify(*, organization_id: int | None = None) -> list[Drift]:
    """Recompute every cached balance from the transfers and check the lot invariants.

    - each member account's cached balance = its credits - its debits;
    - pending lots' remaining sums to the pending balance;
    - available lots' remaining sums to the available balance when positive, else zero;
    - per unit, the balances derived from transfers sum to zero;
    - no lot is negative or above its amount (also database constraints).
    """
    drifts: list[Drift] = []
    org_clause = "" if organization_id is None else " AND a.organization_id = %s"
    params = [] if organization_id is None else [organization_id]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT a.id, a.member_id, a.kind, a.unit, a.balance,
                   COALESCE((SELECT SUM(t.amount) FROM ledger_transfer t WHERE t.credit_id = a.id), 0)
                 - COALESCE((SELECT SUM(t.amount) FROM ledger_transfer t WHERE t.debit_id = a.id), 0)
            FROM ledger_account a
            WHERE a.member_id IS NOT NULL{org_clause}
            """,
            params,
        )
        # Per member, kind and unit: a member may hold points and a euro wallet.
        balances: dict[tuple[int, str, str], int] = {}
        for account_id, member_id, kind, unit, cached, derived in cursor.fetchall():
            balances[(member_id, kind, unit)] = cached
            if cached != derived:
                drifts.append(Drift("balance differs from its transfers", account_id, member_id, derived, cached))
        cursor.execute(
            f"""
            SELECT l.member_id, l.unit, l.status, SUM(l.remaining)
            FROM ledger_lot l JOIN ledger_account a ON a.member_id = l.member_id AND a.kind = 'available' AND a.unit = l.unit
            WHERE l.status IN ('pending', 'available'){org_clause}
            GROUP BY l.member_id, l.unit, l.status
            """,
            params,
        )
        lot_sums = {(member_id, unit, status): total for member_id, unit, status, total in cursor.fetchall()}
        for member_id, unit in sorted({(member_id, unit) for member_id, _, unit in balances}):
            pending_balance = balances.get((member_id, AccountKind.PENDING, unit), 0)
            pending_lots = lot_sums.get((member_id, unit, LotStatus.PENDING), 0)
            if pending_lots != pending_balance:
                drifts.append(Drift("pending lots differ from the pending balance", None, member_id, pending_balance, pending_lots))
            available_balance = balances.get((member_id, AccountKind.AVAILABLE, unit), 0)
            available_lots = lot_sums.get((member_id, unit, LotStatus.AVAILABLE), 0)
            if available_lots != max(available_balance, 0):
                drifts.append(Drift("available lots differ from the available balance", None, member_id, max(available_balance, 0), available_lots))
        # Summing both legs of every transfer is zero by construction and proves nothing;
        # the invariant is that the balances as the ledger keeps them (cached for members,
        # derived for system accounts) sum to zero.
        org_a = "" if organization_id is None else " WHERE a.organization_id = %s"
        cursor.execute(
            f"""
            SELECT a.unit, SUM(CASE WHEN a.member_id IS NOT NULL THEN a.balance ELSE
                   COALESCE((SELECT SUM(t.amount) FROM ledger_transfer t WHERE t.credit_id = a.id), 0)
                 - COALESCE((SELECT SUM(t.amount) FROM ledger_transfer t WHERE t.debit_id = a.id), 0) END)
            FROM ledger_account a{org_a} GROUP BY a.unit
            """,
            params,
        )
        for unit, total in cursor.fetchall():
            if total != 0:
                drifts.append(Drift(f"balances of {unit} do not sum to zero", None, None, 0, total))
        cursor.execute(
            f"SELECT COUNT(*) FROM ledger_transfer t JOIN ledger_account d ON d.id = t.debit_id JOIN ledger_account c ON c.id = t.credit_id "
            f"WHERE (d.unit <> t.unit OR c.unit <> t.unit OR t.amount <= 0){' AND t.organization_id = %s' if organization_id else ''}",
            params,
        )
        bad = cursor.fetchone()[0]
        if bad:
            drifts.append(Drift("transfers across units or with a non-positive amount", None, None, 0, bad))
    return drifts


def due_pending_lots(at: dt.datetime, limit: int = 1000) -> list[tuple[int, int]]:
    """(lot id, organization id) of pending lots whose return window has ended."""
    return list(Lot.objects.filter(status=LotStatus.PENDING, available_at__lte=at).order_by("available_at", "id").values_list("id", "organization_id")[:limit])


def due_expired_lots(at: dt.datetime, limit: int = 1000) -> list[tuple[int, int]]:
    return list(
        Lot.objects.filter(status=LotStatus.AVAILABLE, remaining__gt=0, expires_at__lte=at)
        .order_by("expires_at", "id")
        .values_list("id", "organization_id")[:limit]
    )
