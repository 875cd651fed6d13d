"""Small helpers the ledger tests share: buy, refund, redeem, read a balance, check the ledger."""

import datetime as dt
import itertools
import threading
from collections.abc import Callable
from typing import Any

from django.db import connection

from fidelo.conftest import STAFF
from fidelo.core.clock import now
from fidelo.ledger.selectors import Balance, ledger_verify, member_balance
from fidelo.ledger.services import Why, points_redeem
from fidelo.members.models import Member
from fidelo.purchases.services import (
    LineInput,
    PurchaseResult,
    RefundLineInput,
    RefundResult,
    purchase_record,
    purchase_refund,
)
from fidelo.tenancy.models import Organization, Program, Store

_numbers = itertools.count(1)


def next_id(prefix: str) -> str:
    return f"{prefix}-{next(_numbers)}"


def buy(
    program: Program, member: Member, cents: int, *, store: Store | None = None, occurred_at: dt.datetime | None = None,
    lines: list[LineInput] | None = None, external_id: str | None = None,
) -> PurchaseResult:
    return purchase_record(
        program=program, member=member, store=store, external_id=external_id or next_id("sale"), occurred_at=occurred_at or now(),
        total_minor=cents, currency="EUR", lines=lines, actor=STAFF,
    )


def refund(
    program: Program, result_or_purchase, *, amount: int | None = None, lines: list[RefundLineInput] | None = None,
    occurred_at: dt.datetime | None = None,
) -> RefundResult:
    purchase = getattr(result_or_purchase, "purchase", result_or_purchase)
    return purchase_refund(
        program=program, purchase=purchase, external_id=next_id("refund"), amount_minor=amount, lines=lines, occurred_at=occurred_at,
        actor=STAFF,
    )


def redeem(program: Program, member: Member, points: int, *, label: str = "Free coffee", occurred_at: dt.datetime | None = None):
    return points_redeem(
        program=program, member=member, amount=points, occurred_at=occurred_at,
        why=Why(reason="redemption", params={"label": label}, source_type="reward", actor=str(STAFF)),
    )


def balance(member: Member, unit: str = "PTS") -> Balance:
    return member_balance(member, unit)


def available(member: Member) -> int:
    return balance(member).available


def pending(member: Member) -> int:
    return balance(member).pending


def assert_ledger_consistent(org: Organization | None = None) -> None:
    drifts = ledger_verify(organization_id=org.id if org else None)
    assert drifts == [], [str(d) for d in drifts]


def sum_of_all_legs(org: Organization) -> dict[str, int]:
    """Per unit: every account's credits minus debits, member and system accounts alike."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.unit,
                   SUM(COALESCE((SELECT SUM(t.amount) FROM ledger_transfer t WHERE t.credit_id = a.id), 0)
                     - COALESCE((SELECT SUM(t.amount) FROM ledger_transfer t WHERE t.debit_id = a.id), 0))
            FROM ledger_account a WHERE a.organization_id = %s GROUP BY a.unit
            """,
            [org.id],
        )
        return {unit: int(total) for unit, total in cursor.fetchall()}


def sum_of_balances(org: Organization) -> dict[str, int]:
    """Per unit: cached member balances plus the balances system accounts derive from transfers."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.unit,
                   SUM(CASE WHEN a.member_id IS NOT NULL THEN a.balance ELSE
                       COALESCE((SELECT SUM(t.amount) FROM ledger_transfer t WHERE t.credit_id = a.id), 0)
                     - COALESCE((SELECT SUM(t.amount) FROM ledger_transfer t WHERE t.debit_id = a.id), 0) END)
            FROM ledger_account a WHERE a.organization_id = %s GROUP BY a.unit
            """,
            [org.id],
        )
        return {unit: int(total) for unit, total in cursor.fetchall()}


# --- concurrency --------------------------------------------------------------------------------


def all_at_once(count: int, work: Callable[[int], Any]) -> list[tuple[str, Any]]:
    """Run work(0) .. work(count - 1) in threads released together; ("ok", value) or ("error", exception)."""
    barrier = threading.Barrier(count)
    results: list[tuple[str, Any]] = [("missing", None)] * count

    def runner(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = ("ok", work(index))
        except Exception as error:  # noqa: BLE001 - reported to the test
            results[index] = ("error", error)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (deadlock?)"
    return results


def successes(results: list[tuple[str, Any]]) -> list[Any]:
    return [value for status, value in results if status == "ok"]


def errors_of(results: list[tuple[str, Any]]) -> list[Exception]:
    return [value for status, value in results if status == "error"]
