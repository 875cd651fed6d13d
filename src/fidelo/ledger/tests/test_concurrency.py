"""The ledger under concurrent writers: real threads, real connections, released together.

Runs on PostgreSQL (row locks, select_for_update in primary-key order) and on SQLite (the
test database is a file the threads share; writers queue on core.db's lock and take the
write lock when their transaction begins). Each thread closes its own connection.
"""

import datetime as dt

import pytest

from fidelo.conftest import STAFF, at, make_member, make_org, program_of
from fidelo.core.clock import now
from fidelo.core.idempotency import run_idempotent
from fidelo.ledger import jobs
from fidelo.ledger.errors import InsufficientPoints
from fidelo.ledger.models import Lot, LotStatus, Transfer, TransferKind
from fidelo.ledger.services import points_transfer
from fidelo.ledger.tests.helpers import (
    all_at_once,
    assert_ledger_consistent,
    available,
    buy,
    errors_of,
    pending,
    redeem,
    refund,
)
from fidelo.purchases.errors import RefundExceedsPurchase
from fidelo.purchases.models import Purchase, Refund
from fidelo.purchases.services import purchase_record

pytestmark = pytest.mark.django_db(transaction=True)

EUROS = 100


def test_50_members_of_staff_redeeming_10_points_from_100_at_once_leave_exactly_0(org, program, member):
    # Given a member with 100 points
    buy(program, member, 100 * EUROS)
    # When 50 tills try to redeem 10 points each at the same moment
    results = all_at_once(50, lambda _: redeem(program, member, 10))
    # Then exactly 10 succeed, the 40 others are told there are not enough points
    assert sum(1 for status, _ in results if status == "ok") == 10
    refused = errors_of(results)
    assert len(refused) == 40 and all(isinstance(error, InsufficientPoints) for error in refused), refused[:3]
    # And the balance is 0, never below
    assert available(member) == 0
    assert Transfer.objects.filter(kind=TransferKind.REDEEM).count() == 10
    assert_ledger_consistent()


def test_20_purchases_at_once_on_one_new_member_lose_no_update(org, program, member):
    # Given a member who has never earned (no accounts yet)
    # When 20 tills record a purchase for them at the same moment
    results = all_at_once(20, lambda index: buy(program, member, (index + 1) * EUROS, external_id=f"till-{index}"))
    # Then every purchase is recorded and every point counted
    assert errors_of(results) == []
    assert available(member) == sum(range(1, 21))
    assert Lot.objects.filter(member=member).count() == 20
    assert_ledger_consistent()


def test_the_same_idempotency_key_sent_twice_at_once_makes_one_purchase(org, program, member):
    # Given one request, sent twice at the same moment with the same key (a retry racing the original)
    payload = {"member": member.card_number, "total_cents": 4200, "external_id": "T-42"}

    def send(_):
        def execute():
            result = purchase_record(
                program=program, member=member, store=None, external_id="T-42", occurred_at=now(), total_minor=4200, currency="EUR", actor=STAFF,
            )
            return 201, {"purchase": result.purchase.id, "points": result.purchase.points_earned}

        return run_idempotent(organization_id=org.id, key="till-7:T-42", operation="purchase.create", payload=payload, execute=execute)

    results = all_at_once(2, send)
    # Then there is one purchase, one transfer, and both callers get the same answer
    assert errors_of(results) == []
    (_, first), (_, second) = results
    assert (first.status, first.body) == (second.status, second.body)
    assert first.status == 201
    assert sorted([first.replayed, second.replayed]) == [False, True]
    assert Purchase.objects.count() == 1
    assert Transfer.objects.count() == 1
    assert available(member) == 42
    assert_ledger_consistent()


def test_two_full_refunds_of_one_purchase_at_once_reverse_its_points_once(org, program, member):
    # Given a purchase of 80 € (80 points)
    purchase = buy(program, member, 80 * EUROS)
    # When the shop and the web shop both refund all of it at the same moment
    results = all_at_once(2, lambda _: refund(program, purchase))
    # Then one refund goes through, the other is told nothing is left
    errors = errors_of(results)
    assert len(errors) == 1 and isinstance(errors[0], RefundExceedsPurchase), errors
    purchase.purchase.refresh_from_db()
    assert (purchase.purchase.refunded_minor, purchase.purchase.points_reversed) == (80 * EUROS, 80)
    assert available(member) == 0
    assert Transfer.objects.filter(kind=TransferKind.REVERSE).count() == 1
    assert_ledger_consistent()


def test_many_partial_refunds_at_once_never_reverse_more_than_was_earned(org, program, member):
    # Given a purchase of 99.99 € (99 points)
    purchase = buy(program, member, 9999)
    # When eight partial refunds of 15 € arrive at once (120 € asked, 99.99 € refundable)
    results = all_at_once(8, lambda _: refund(program, purchase, amount=15 * EUROS))
    # Then six go through and two are refused, and the points taken back never exceed 99
    assert sum(1 for status, _ in results if status == "ok") == 6
    assert all(isinstance(error, RefundExceedsPurchase) for error in errors_of(results))
    purchase.purchase.refresh_from_db()
    assert purchase.purchase.refunded_minor == 90 * EUROS
    assert purchase.purchase.points_reversed == sum(Refund.objects.values_list("points_reversed", flat=True)) == 99 * 9000 // 9999  # 89
    assert available(member) == 99 - purchase.purchase.points_reversed
    assert_ledger_consistent()


def test_transfers_both_ways_at_once_do_not_deadlock_and_add_up():
    # Given two members with 500 points each, allowed to share
    org = make_org("crossing", transfers_allowed=True)
    program = program_of(org)
    anne, paul = make_member(org), make_member(org)
    buy(program, anne, 500 * EUROS)
    buy(program, paul, 500 * EUROS)

    # When each sends the other 10 points, ten times, all at the same moment
    def send(index):
        sender, recipient = (anne, paul) if index % 2 else (paul, anne)
        return points_transfer(program=program, sender=sender, recipient=recipient, amount=10, actor=STAFF, occurred_at=at(2025, 6, 1))

    results = all_at_once(20, send)
    # Then no transfer fails and the balances are back where they were
    assert errors_of(results) == []
    assert (available(anne), available(paul)) == (500, 500)
    assert Transfer.objects.filter(kind=TransferKind.TRANSFER).count() == 20
    assert_ledger_consistent()


def test_a_release_racing_a_refund_of_the_same_pending_points_resolves_them_once():
    # Given a purchase whose 60 points are pending
    org = make_org("racing-release", pending_days=14)
    program = program_of(org)
    member = make_member(org)
    purchase = buy(program, member, 60 * EUROS)
    later = now() + dt.timedelta(days=15)

    # When the release job (twice) and a full refund run at the same moment
    def work(index):
        return refund(program, purchase) if index == 0 else jobs.release_due(at=later)

    results = all_at_once(3, work)
    # Then the points were taken back exactly once, whichever came first, and released at most once
    assert errors_of(results) == []
    assert (available(member), pending(member)) == (0, 0)
    assert Transfer.objects.filter(kind=TransferKind.RELEASE).count() <= 1
    assert Transfer.objects.filter(kind=TransferKind.REVERSE).count() == 1
    assert Lot.objects.get(member=member).status == LotStatus.CLOSED
    assert_ledger_consistent()


def test_two_expiry_jobs_at_once_expire_each_lot_once():
    org = make_org("racing-expiry", expiry_policy="months", expiry_months=1)
    program = program_of(org)
    members = [make_member(org) for _ in range(5)]
    for member in members:
        buy(program, member, 30 * EUROS)
    results = all_at_once(2, lambda _: jobs.expire_due(at=now() + dt.timedelta(days=40)))
    assert errors_of(results) == []
    assert sum(report.amount for _, report in results) == 150
    assert Transfer.objects.filter(kind=TransferKind.EXPIRE).count() == 5
    assert all(available(member) == 0 for member in members)
    assert_ledger_consistent()


def test_purchases_and_refunds_for_one_member_at_once_neither_deadlock_nor_lose_points(org, program, member):
    # Given a member with five purchases of 20 € each
    bought = [buy(program, member, 20 * EUROS, external_id=f"old-{index}") for index in range(5)]

    # When, at the same moment, each is refunded and five new purchases of 10 € are recorded
    def work(index):
        if index < 5:
            return refund(program, bought[index])
        return buy(program, member, 10 * EUROS, external_id=f"new-{index}")

    results = all_at_once(10, work)
    # Then everything goes through and only the new purchases' points remain
    assert errors_of(results) == []
    assert available(member) == 50
    assert_ledger_consistent()
