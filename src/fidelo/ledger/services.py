"""Writes to the points ledger: earn, release, redeem, reverse, expire, transfer, adjust.

Every function here runs inside the caller's write transaction (core.db.write_transaction)
or opens its own. The rules they keep are DESIGN.md's ledger invariants:

- a transfer moves a positive amount between two accounts of the same unit, and is never
  updated or deleted;
- a member's cached balances change in the same transaction as the transfer, by a single
  `balance = balance ± n` statement (no read-modify-write);
- all changes to one member's lots and available balance happen under the lock of that
  member's available account row (PostgreSQL), or the database write lock (SQLite);
- lots are spent earliest expiry first; pending lots are not spendable.
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import F, Sum

from fidelo.core.actors import Actor
from fidelo.core.audit import audit_record
from fidelo.core.clock import now
from fidelo.core.db import mark_saved, write_transaction
from fidelo.ledger import sql
from fidelo.ledger.errors import (
    InsufficientPoints,
    InvalidAmount,
    ReasonRequired,
    TransferLimitReached,
    TransferRefused,
    TransfersNotAllowed,
)
from fidelo.ledger.models import (
    Account,
    AccountKind,
    Lot,
    LotStatus,
    Transfer,
    TransferKind,
)
from fidelo.ledger.sql import EarnRow, EarnWritten
from fidelo.members.errors import MemberClosed
from fidelo.members.models import Member, MemberStatus
from fidelo.tenancy.models import ExpiryPolicy, Program

MAX_AMOUNT = 10**12  # far above any real balance; refuses absurd input before it overflows

_system_accounts: dict[tuple[int, str, str], int] = {}


def clear_caches() -> None:
    _system_accounts.clear()


def program_unit(program: Program) -> str:
    return "PTS" if program.currency_mode == "points" else program.organization.currency


# --- accounts ----------------------------------------------------------------------------


def existing_system_account_id(organization_id: int, kind: str, unit: str) -> int | None:
    """system_account_id without opening the account: None if the organization has none yet."""
    key = (organization_id, kind, unit)
    cached = _system_accounts.get(key)
    if cached is not None:
        return cached
    found = Account.objects.filter(organization_id=organization_id, member__isnull=True, kind=kind, unit=unit).values_list("id", flat=True).first()
    if found is not None:
        _remember_system_account(key, found)
    return found


def system_account_id(organization_id: int, kind: str, unit: str) -> int:
    """The organization's system account of `kind` (opened on first use)."""
    found = existing_system_account_id(organization_id, kind, unit)
    if found is not None:
        return found
    Account.objects.bulk_create(
        [Account(organization_id=organization_id, member=None, kind=kind, unit=unit, balance=None)], ignore_conflicts=True
    )
    found = Account.objects.filter(organization_id=organization_id, member__isnull=True, kind=kind, unit=unit).values_list("id", flat=True).get()
    _remember_system_account((organization_id, kind, unit), found)
    return found


def _remember_system_account(key: tuple[int, str, str], account_id: int) -> None:
    # Cached only once committed: a rolled-back transaction must not leave a dangling id.
    from django.db import transaction

    transaction.on_commit(lambda: _system_accounts.__setitem__(key, account_id))


def member_accounts_ensure(member: Member, unit: str) -> None:
    """Open the member's available and pending accounts (no-op if they exist; race-safe)."""
    Account.objects.bulk_create(
        [Account(organization_id=member.organization_id, member=member, kind=kind, unit=unit, balance=0) for kind in (AccountKind.AVAILABLE, AccountKind.PENDING)],
        ignore_conflicts=True,
    )


def _add_to_balance(member: Member, kind: str, unit: str, delta: int) -> tuple[int, int]:
    """balance += delta in one statement; returns (account id, new balance)."""
    sql = "UPDATE ledger_account SET balance = balance + %s WHERE member_id = %s AND kind = %s AND unit = %s RETURNING id, balance"
    with connection.cursor() as cursor:
        cursor.execute(sql, [delta, member.id, kind, unit])
        row = cursor.fetchone()
        if row is None:
            member_accounts_ensure(member, unit)
            cursor.execute(sql, [delta, member.id, kind, unit])
            row = cursor.fetchone()
    return row[0], row[1]


ACCOUNT_FIELDS = ["id", "organization_id", "member_id", "kind", "unit", "balance"]  # the model's field order


def lock_available_account(member: Member, unit: str) -> Account:
    """Lock (PostgreSQL) and return the member's available account, opening it if needed."""
    row = sql.lock_account_row(member.id, AccountKind.AVAILABLE, unit)
    if row is None:
        member_accounts_ensure(member, unit)
        row = sql.lock_account_row(member.id, AccountKind.AVAILABLE, unit)
    account_id, organization_id, balance = row
    return Account.from_db("default", ACCOUNT_FIELDS, [account_id, organization_id, member.id, AccountKind.AVAILABLE, unit, balance])


def lock_available_accounts(members: list[Member], unit: str) -> dict[int, Account]:
    """Lock several members' available accounts in primary-key order (no deadlock)."""
    for member in members:
        member_accounts_ensure(member, unit)
    accounts = Account.objects.select_for_update().filter(
        member__in=[m.id for m in members], kind=AccountKind.AVAILABLE, unit=unit
    ).order_by("pk")
    return {account.member_id: account for account in accounts}


# --- transfers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Why:
    """The reason of a transfer: a reason code with its parameters, the source, the actor."""

    reason: str
    params: dict = field(default_factory=dict)
    note: str = ""
    source_type: str = ""
    source_id: int | None = None
    actor: str = ""


def _record(*, organization_id: int, unit: str, debit: int, credit: int, amount: int, kind: str, why: Why, occurred_at: dt.datetime) -> Transfer:
    fields = dict(
        organization_id=organization_id, unit=unit, amount=amount, kind=kind, reason=why.reason, reason_params=why.params, note=why.note,
        source_type=why.source_type, source_id=why.source_id, actor=why.actor, occurred_at=occurred_at, created_at=now(),
    )
    transfer_id = sql.insert_transfer(debit=debit, credit=credit, **fields)  # plain INSERT: on every redemption and refund
    return mark_saved(Transfer(id=transfer_id, debit_id=debit, credit_id=credit, **fields))


def check_amount(amount: int, *, allow_zero: bool = False) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidAmount("The amount must be a whole number")
    if amount < 0 or (amount == 0 and not allow_zero) or amount > MAX_AMOUNT:
        raise InvalidAmount(f"The amount must be between 1 and {MAX_AMOUNT}", amount=amount)


def check_member_active(member: Member) -> None:
    if member.status != MemberStatus.ACTIVE:
        raise MemberClosed()


# --- expiry ------------------------------------------------------------------------------


def _add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for last_day in (day.day, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last_day))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def expiry_for(program: Program, earned_at: dt.datetime) -> dt.datetime | None:
    """When points earned at `earned_at` expire, in the organization's time zone.

    months: the same local time N months later. end_of_year: the end of the local calendar
    year in which `earned_at + expiry_months` falls (0 months: the year they were earned;
    12: the end of the next year).
    """
    if program.expiry_policy == ExpiryPolicy.NEVER:
        return None
    tz = zoneinfo.ZoneInfo(program.organization.timezone)
    local = earned_at.astimezone(tz)
    if program.expiry_policy == ExpiryPolicy.MONTHS:
        target = _add_months(local.date(), program.expiry_months)
        return dt.datetime.combine(target, local.timetz().replace(tzinfo=None), tzinfo=tz)
    year = _add_months(local.date(), program.expiry_months).year
    return dt.datetime(year + 1, 1, 1, tzinfo=tz)


# --- earn / release ----------------------------------------------------------------------


@dataclass(frozen=True)
class Earned:
    transfer: Transfer
    lot: Lot

    @property
    def pending(self) -> bool:
        return self.lot.status == LotStatus.PENDING


def points_earn(
    *,
    program: Program,
    member: Member,
    amount: int,
    why: Why,
    occurred_at: dt.datetime,
    pending_days: int | None = None,
    source_account_kind: str = AccountKind.ISSUED,
    expires_at: dt.datetime | None | bool = True,
    unit: str | None = None,
    transfer_kind: str | None = None,
) -> Earned:
    """Credit `amount` to the member: pending during the return window, else available.

    A credit into an available balance that is negative (a debt from a refund) pays the
    debt first: only what is above zero becomes a spendable lot.
    """
    check_amount(amount)
    check_member_active(member)
    row = earn_row(
        program=program, member=member, amount=amount, why=why, occurred_at=occurred_at, pending_days=pending_days,
        source_account_kind=source_account_kind, expires_at=expires_at, unit=unit, transfer_kind=transfer_kind,
    )
    written = sql.earn(row)
    if written is None:  # first credit of this member: open the accounts (nothing was written)
        member_accounts_ensure(member, row.unit)
        written = sql.earn(row)
    return Earned(transfer=mark_saved(_transfer_of(row, written)), lot=mark_saved(_lot_of(row, written)))


def points_earn_many(
    *, program: Program, member: Member, credits: list[tuple[int, Why]], occurred_at: dt.datetime, pending_days: int | None = None,
) -> list[Earned]:
    """Several credits of one event (a purchase's base points and its bonus, kept apart), each
    its own transfer and lot, written together: one balance update and two inserts."""
    for amount, _why in credits:
        check_amount(amount)
    check_member_active(member)
    if len(credits) == 1:
        amount, why = credits[0]
        return [points_earn(program=program, member=member, amount=amount, why=why, occurred_at=occurred_at, pending_days=pending_days)]
    rows = [
        earn_row(program=program, member=member, amount=amount, why=why, occurred_at=occurred_at, pending_days=pending_days)
        for amount, why in credits
    ]
    written = sql.earn_many(rows)
    if written is None:  # first credit of this member: open the accounts (nothing was written)
        member_accounts_ensure(member, rows[0].unit)
        written = sql.earn_many(rows)
    return [Earned(transfer=mark_saved(_transfer_of(row, w)), lot=mark_saved(_lot_of(row, w))) for row, w in zip(rows, written)]


def return_window(program: Program, occurred_at: dt.datetime, pending_days: int | None = None) -> tuple[dt.datetime, bool]:
    """When points earned at `occurred_at` become spendable, and whether that is still ahead (pending)."""
    days = program.pending_days if pending_days is None else pending_days
    available_at = occurred_at + dt.timedelta(days=days)
    return available_at, days > 0 and available_at > now()


def earn_row(
    *,
    program: Program,
    member: Member,
    amount: int,
    why: Why,
    occurred_at: dt.datetime,
    pending_days: int | None = None,
    source_account_kind: str = AccountKind.ISSUED,
    expires_at: dt.datetime | None | bool = True,
    unit: str | None = None,
    transfer_kind: str | None = None,
    created_at: dt.datetime | None = None,
) -> EarnRow:
    """The rows a credit writes (pending during the return window, with its expiry), not yet written.

    `unit` defaults to the program's (another unit: the member's wallet in euros); `created_at`
    to now (the rows of one write share it: each distinct moment costs an adaptation).
    """
    unit = unit or program_unit(program)
    available_at, pending = return_window(program, occurred_at, pending_days)
    return EarnRow(
        organization_id=member.organization_id,
        member_id=member.id,
        unit=unit,
        source_account_id=system_account_id(member.organization_id, source_account_kind, unit),
        account_kind=AccountKind.PENDING if pending else AccountKind.AVAILABLE,
        amount=amount,
        kind=transfer_kind or (TransferKind.EARN if source_account_kind == AccountKind.ISSUED else TransferKind.ADJUST),
        reason=why.reason,
        reason_params=why.params,
        note=why.note,
        source_type=why.source_type,
        source_id=why.source_id,
        actor=why.actor,
        occurred_at=occurred_at,
        created_at=created_at or now(),
        available_at=available_at,
        expires_at=expiry_for(program, occurred_at) if expires_at is True else (expires_at or None),
    )


def _transfer_of(row: EarnRow, written: EarnWritten) -> Transfer:
    return Transfer(
        id=written.transfer_id, organization_id=row.organization_id, unit=row.unit, debit_id=row.source_account_id,
        credit_id=written.account_id, amount=row.amount, kind=row.kind, reason=row.reason, reason_params=row.reason_params,
        note=row.note, source_type=row.source_type, source_id=row.source_id, actor=row.actor, occurred_at=row.occurred_at,
        created_at=row.created_at,
    )


def _lot_of(row: EarnRow, written: EarnWritten) -> Lot:
    return Lot(
        id=written.lot_id, organization_id=row.organization_id, member_id=row.member_id, unit=row.unit, amount=row.amount,
        remaining=written.lot_remaining, status=written.lot_status, earned_at=row.occurred_at, available_at=row.available_at,
        expires_at=row.expires_at, transfer_id=written.transfer_id,
    )


def lot_release(*, lot_id: int, program: Program, at: dt.datetime | None = None) -> Transfer | None:
    """Move a pending lot to the available balance, once (later calls do nothing)."""
    with write_transaction():
        lot = Lot.objects.select_related("member").filter(pk=lot_id).first()
        if lot is None or lot.status != LotStatus.PENDING:
            return None
        member = lot.member
        unit = lot.unit
        lock_available_account(member, unit)
        claimed = Lot.objects.filter(pk=lot.pk, status=LotStatus.PENDING).update(status=LotStatus.AVAILABLE)
        if not claimed:
            return None
        lot.refresh_from_db(fields=["remaining"])
        if lot.remaining == 0:
            Lot.objects.filter(pk=lot.pk).update(status=LotStatus.CLOSED)
            return None
        pending_id, _ = _add_to_balance(member, AccountKind.PENDING, unit, -lot.remaining)
        available_id, new_balance = _add_to_balance(member, AccountKind.AVAILABLE, unit, lot.remaining)
        transfer = _record(
            organization_id=lot.organization_id, unit=unit, debit=pending_id, credit=available_id, amount=lot.remaining,
            kind=TransferKind.RELEASE,
            why=Why(reason="release", params={"earned_on": _local_day(program, lot.earned_at)}, source_type="lot", source_id=lot.pk, actor="system"),
            occurred_at=at or now(),
        )
        spendable = min(lot.remaining, max(new_balance, 0))
        Lot.objects.filter(pk=lot.pk).update(
            remaining=spendable, status=LotStatus.AVAILABLE if spendable else LotStatus.CLOSED
        )
        return transfer


def _local_day(program: Program, moment: dt.datetime) -> str:
    return moment.astimezone(zoneinfo.ZoneInfo(program.organization.timezone)).date().isoformat()


# --- spending ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consumed:
    lot_id: int
    amount: int
    expires_at: dt.datetime | None
    earned_at: dt.datetime


def consume_lots(member: Member, unit: str, amount: int, *, first_lot_id: int | None = None, cursor=None) -> list[Consumed]:
    """Take `amount` from the member's available lots, earliest expiry first (caller holds the lock).

    Lots are read a few at a time: a spending usually empties one or two of them, while a
    regular customer may hold hundreds. `cursor`: the caller's, for the first statement.
    """
    if first_lot_id is None and amount > 0:
        # Most spendings fit in the first lot: one statement takes it.
        taken = sql.take_from_first_lot(member.id, unit, amount, cursor=cursor)
        if taken is not None:
            lot_id, _remaining, expires_at, earned_at = taken
            return [Consumed(lot_id=lot_id, amount=amount, expires_at=expires_at, earned_at=earned_at)]
    consumed: list[Consumed] = []
    left = amount
    first = sql.spendable_lots(member.id, unit, limit=1, only_id=first_lot_id) if first_lot_id else []
    while left > 0:
        # Each batch empties every lot it takes from but the last one, which ends the loop:
        # the next query finds the following lots.
        batch = first or sql.spendable_lots(member.id, unit, limit=20, except_id=first_lot_id)
        first = []
        if not batch:
            break
        for lot_id, remaining, expires_at, earned_at in batch:
            if left <= 0:
                break
            take = min(remaining, left)
            left -= take
            sql.set_lot_remaining(lot_id, remaining - take)
            consumed.append(Consumed(lot_id=lot_id, amount=take, expires_at=expires_at, earned_at=earned_at))
    return consumed


def _spend(
    *, program: Program, member: Member, amount: int, to_kind: str, kind: str, why: Why, occurred_at: dt.datetime,
    allow_debt: bool = False, first_lot_id: int | None = None, unit: str | None = None,
) -> tuple[Transfer, list[Consumed]]:
    unit = unit or program_unit(program)
    if allow_debt:
        account = lock_available_account(member, unit)
        balance_before = account.balance
        _add_to_balance(member, AccountKind.AVAILABLE, unit, -amount)
    else:
        # The usual spending: check, lock and debit in one statement.
        covered = sql.debit_if_covered(member.id, unit, amount)
        if covered is None:
            account = lock_available_account(member, unit)
            raise InsufficientPoints(
                f"Not enough points: {amount} asked, {max(account.balance, 0)} available", balance=max(account.balance, 0), requested=amount
            )
        account_id, organization_id, balance_before = covered
        account = Account.from_db("default", ACCOUNT_FIELDS, [account_id, organization_id, member.id, AccountKind.AVAILABLE, unit, balance_before - amount])
    spendable = min(amount, max(balance_before, 0))
    sink = system_account_id(member.organization_id, to_kind, unit)
    transfer = _record(
        organization_id=member.organization_id, unit=unit, debit=account.id, credit=sink, amount=amount, kind=kind, why=why, occurred_at=occurred_at
    )
    consumed = consume_lots(member, unit, spendable, first_lot_id=first_lot_id) if spendable else []
    return transfer, consumed


def points_redeem(*, program: Program, member: Member, amount: int, why: Why, occurred_at: dt.datetime | None = None) -> Transfer:
    """Spend points (a reward, a voucher): refused if the available balance is short."""
    return points_spend(program=program, member=member, amount=amount, why=why, occurred_at=occurred_at).transfer


@dataclass(frozen=True)
class Spent:
    transfer: Transfer
    consumed: list[Consumed]  # the lots it came from, earliest expiry first (to give them back)


def points_spend(
    *, program: Program, member: Member, amount: int, why: Why, occurred_at: dt.datetime | None = None, unit: str | None = None,
    to_kind: str = AccountKind.REDEEMED,
) -> Spent:
    """Spend from the available balance (points, or the euro wallet with `unit`); refused if short."""
    check_amount(amount)
    check_member_active(member)
    with write_transaction():
        transfer, consumed = _spend(
            program=program, member=member, amount=amount, to_kind=to_kind, kind=TransferKind.REDEEM, why=why,
            occurred_at=occurred_at or now(), unit=unit,
        )
    return Spent(transfer, consumed)


def points_restore(
    *, program: Program, member: Member, parts: list[Consumed], why: Why, occurred_at: dt.datetime | None = None,
    unit: str | None = None, from_kind: str = AccountKind.REDEEMED,
) -> Transfer:
    """Give back what a spending took (a cancelled voucher), with the lots' own expiry dates.

    Points whose date has passed meanwhile come back already expired: the expiry job takes
    them at its next run, so a cancellation never extends the life of points.
    """
    amount = sum(part.amount for part in parts)
    check_amount(amount)
    unit = unit or program_unit(program)
    occurred_at = occurred_at or now()
    with write_transaction():
        account = lock_available_account(member, unit)
        _, new_balance = _add_to_balance(member, AccountKind.AVAILABLE, unit, amount)
        transfer = _record(
            organization_id=member.organization_id, unit=unit, debit=system_account_id(member.organization_id, from_kind, unit),
            credit=account.id, amount=amount, kind=TransferKind.RESTORE, why=why, occurred_at=occurred_at,
        )
        _credit_lots(member, unit, parts, transfer, new_balance, occurred_at)
    return transfer


def _credit_lots(member: Member, unit: str, parts: list[Consumed], transfer: Transfer, new_balance: int, at: dt.datetime) -> None:
    """Recreate `parts` as lots of `member`; a balance in debt takes its share first."""
    amount = sum(part.amount for part in parts)
    skip = amount - min(amount, max(new_balance, 0))
    lots = []
    for part in parts:
        use = part.amount
        if skip:
            cut = min(skip, use)
            skip -= cut
            use -= cut
        lots.append(
            Lot(
                organization_id=member.organization_id, member=member, unit=unit, amount=part.amount, remaining=use,
                status=LotStatus.AVAILABLE if use else LotStatus.CLOSED, earned_at=part.earned_at,
                available_at=at, expires_at=part.expires_at, transfer=transfer,
            )
        )
    Lot.objects.bulk_create(lots)


@dataclass(frozen=True)
class Reversal:
    transfer: Transfer | None
    reversed: int
    forgiven: int  # what the stop-at-zero policy did not take back


def points_reverse_lot(*, program: Program, lot: Lot, amount: int, why: Why, occurred_at: dt.datetime | None = None) -> Reversal:
    """Take back `amount` of what `lot` earned (a refund).

    Still pending: taken from the pending lot. Released: taken from the available balance,
    from this lot first, then earliest expiry first; if the points were spent, the program's
    refund policy says whether the balance goes negative (a debt) or stops at zero.
    """
    check_amount(amount)
    occurred_at = occurred_at or now()
    unit = lot.unit
    with write_transaction():
        member = lot.member
        account = lock_available_account(member, unit)
        lot.refresh_from_db(fields=["status", "remaining", "amount"])
        issued = system_account_id(member.organization_id, AccountKind.ISSUED, unit)
        if lot.status == LotStatus.PENDING:
            take = min(amount, lot.remaining)
            if take == 0:
                return Reversal(None, 0, amount)
            pending_id, _ = _add_to_balance(member, AccountKind.PENDING, unit, -take)
            transfer = _record(
                organization_id=member.organization_id, unit=unit, debit=pending_id, credit=issued, amount=take,
                kind=TransferKind.REVERSE, why=why, occurred_at=occurred_at,
            )
            Lot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
            return Reversal(transfer, take, amount - take)
        if program.refund_policy == "allow_debt":
            take = amount
        else:
            take = min(amount, max(account.balance, 0))
        if take == 0:
            return Reversal(None, 0, amount)
        transfer, _ = _spend(
            program=program, member=member, amount=take, to_kind=AccountKind.ISSUED, kind=TransferKind.REVERSE, why=why,
            occurred_at=occurred_at, allow_debt=True, first_lot_id=lot.pk,
        )
        return Reversal(transfer, take, amount - take)


def lot_expire(*, lot_id: int, program: Program, at: dt.datetime) -> Transfer | None:
    """Move what is left of an expired lot to the expiry account, once."""
    with write_transaction():
        lot = Lot.objects.select_related("member").filter(pk=lot_id).first()
        if lot is None or lot.status != LotStatus.AVAILABLE or lot.expires_at is None or lot.expires_at > at:
            return None
        member = lot.member
        account = lock_available_account(member, lot.unit)
        lot.refresh_from_db(fields=["remaining", "status"])
        if lot.status != LotStatus.AVAILABLE or lot.remaining == 0:
            return None
        left = lot.remaining
        _add_to_balance(member, AccountKind.AVAILABLE, lot.unit, -left)
        Lot.objects.filter(pk=lot.pk).update(remaining=0, status=LotStatus.CLOSED)
        return _record(
            organization_id=lot.organization_id, unit=lot.unit, debit=account.id,
            credit=system_account_id(lot.organization_id, AccountKind.EXPIRED, lot.unit), amount=left,
            kind=TransferKind.EXPIRE,
            why=Why(reason="expiry", params={"earned_on": _local_day(program, lot.earned_at)}, source_type="lot", source_id=lot.pk, actor="system"),
            occurred_at=lot.expires_at,
        )


# --- member to member, adjustments -------------------------------------------------------


def points_transfer(
    *, program: Program, sender: Member, recipient: Member, amount: int, actor: Actor, occurred_at: dt.datetime | None = None
) -> Transfer:
    """Move points between two members; the recipient's lots keep the sender's expiry dates."""
    check_amount(amount)
    if not program.transfers_allowed:
        raise TransfersNotAllowed()
    if sender.pk == recipient.pk:
        raise TransferRefused("A member cannot transfer points to themselves", code="transfer_to_self")
    if sender.organization_id != recipient.organization_id or sender.organization_id != program.organization_id:
        raise TransferRefused("Both members must belong to this program", code="transfer_other_program")
    check_member_active(sender)
    check_member_active(recipient)
    if amount < program.transfer_min:
        raise TransferRefused(f"The minimum transfer is {program.transfer_min}", code="transfer_below_minimum", minimum=program.transfer_min)
    occurred_at = occurred_at or now()
    unit = program_unit(program)
    with write_transaction():
        accounts = lock_available_accounts([sender, recipient], unit)
        sent_today = _sent_today(program, sender, unit, occurred_at)
        if sent_today + amount > program.transfer_max_per_day:
            raise TransferLimitReached(
                f"At most {program.transfer_max_per_day} a day; {sent_today} already sent today",
                limit=program.transfer_max_per_day, sent_today=sent_today,
            )
        sender_account = accounts[sender.id]
        if sender_account.balance < amount:
            raise InsufficientPoints(
                f"Not enough points: {amount} asked, {max(sender_account.balance, 0)} available",
                balance=max(sender_account.balance, 0), requested=amount,
            )
        _add_to_balance(sender, AccountKind.AVAILABLE, unit, -amount)
        _, recipient_balance = _add_to_balance(recipient, AccountKind.AVAILABLE, unit, amount)
        transfer = _record(
            organization_id=sender.organization_id, unit=unit, debit=sender_account.id, credit=accounts[recipient.id].id,
            amount=amount, kind=TransferKind.TRANSFER,
            why=Why(
                reason="transfer", params={"from": sender.full_name or sender.card_number, "to": recipient.full_name or recipient.card_number},
                source_type="member", source_id=sender.id, actor=str(actor),
            ),
            occurred_at=occurred_at,
        )
        consumed = consume_lots(sender, unit, amount)
        # The recipient may be in debt: only what lifts the balance above zero is spendable.
        _credit_lots(recipient, unit, consumed, transfer, recipient_balance, occurred_at)
        audit_record(
            organization_id=sender.organization_id, actor=actor, action="points.transfer", target_type="transfer", target_id=transfer.id,
            data={"from": sender.id, "to": recipient.id, "amount": amount},
        )
    return transfer


def _sent_today(program: Program, sender: Member, unit: str, at: dt.datetime) -> int:
    tz = zoneinfo.ZoneInfo(program.organization.timezone)
    start = dt.datetime.combine(at.astimezone(tz).date(), dt.time(), tzinfo=tz)
    total = Transfer.objects.filter(
        organization_id=sender.organization_id, kind=TransferKind.TRANSFER, source_type="member", source_id=sender.id, unit=unit,
        occurred_at__gte=start, occurred_at__lt=start + dt.timedelta(days=1),
    ).aggregate(total=Sum("amount"))["total"]
    return total or 0


def points_adjust(
    *, program: Program, member: Member, delta: int, note: str, actor: Actor, occurred_at: dt.datetime | None = None
) -> Transfer:
    """A manual correction by a person, with a mandatory reason; never below zero."""
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise InvalidAmount("The adjustment must be a non-zero whole number")
    check_amount(abs(delta))
    note = (note or "").strip()
    if not note:
        raise ReasonRequired("A manual adjustment needs a reason")
    if len(note) > 500:
        raise ReasonRequired("The reason is longer than 500 characters", code="reason_too_long")
    if actor is None or actor.kind == "system":
        raise ReasonRequired("A manual adjustment needs the person who made it", code="actor_required")
    occurred_at = occurred_at or now()
    why = Why(reason="adjustment", params={"actor": actor.label or str(actor)}, note=note, source_type="adjustment", actor=str(actor))
    with write_transaction():
        if delta > 0:
            lock_available_account(member, program_unit(program))
            transfer = points_earn(
                program=program, member=member, amount=delta, why=why, occurred_at=occurred_at, pending_days=0,
                source_account_kind=AccountKind.ADJUSTMENTS,
            ).transfer
        else:
            check_member_active(member)
            transfer, _ = _spend(
                program=program, member=member, amount=-delta, to_kind=AccountKind.ADJUSTMENTS, kind=TransferKind.ADJUST,
                why=why, occurred_at=occurred_at,
            )
        audit_record(
            organization_id=member.organization_id, actor=actor, action="points.adjust", target_type="member", target_id=member.id,
            data={"delta": delta, "note": note, "transfer": transfer.id},
        )
    return transfer
