"""The ledger against a plain-integer model, driven by hypothesis (DESIGN.md, Testing).

The model keeps, per member, an available and a pending balance, and the lots with what is
left of each, all as plain integers; it knows the rules (earliest expiry first, debt paid
first, refunds in proportion, stop-at-zero or debt). Hypothesis runs random sequences of
earn, release, redeem, refund, expire, transfer, adjust and idempotent retries on a moving
clock, and after every step every ledger invariant is checked against the database.

Each example runs in its own savepoint, rolled back at the end, with a fresh organization.
"""

import copy
import datetime as dt
import itertools
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from fidelo.conftest import STAFF, make_member, make_org, program_of
from fidelo.core.clock import now
from fidelo.core.idempotency import Outcome, run_idempotent
from fidelo.core.shares import proportional_to_date
from fidelo.ledger import jobs
from fidelo.ledger import services as ledger_services
from fidelo.ledger.errors import (
    InsufficientPoints,
    TransferLimitReached,
    TransferRefused,
)
from fidelo.ledger.models import Account, AccountKind, Lot, LotStatus, Transfer
from fidelo.ledger.selectors import ledger_verify
from fidelo.ledger.services import expiry_for, points_adjust, points_transfer
from fidelo.ledger.tests.helpers import (
    buy,
    redeem,
    refund,
    sum_of_all_legs,
    sum_of_balances,
)
from fidelo.tenancy import selectors as tenancy_selectors

PENDING_DAYS = 10
TRANSFER_MIN = 5
TRANSFER_MAX_PER_DAY = 150
_slugs = itertools.count(1)


@dataclass
class ModelLot:
    member: int  # index in machine.members
    amount: int
    remaining: int
    status: str
    earned_at: dt.datetime
    available_at: dt.datetime
    expires_at: dt.datetime | None
    seq: int  # creation order, which is also primary-key order


@dataclass
class ModelPurchase:
    purchase: object  # the Purchase row, to refund it
    member: int
    total: int
    earned: int
    lot: ModelLot | None
    refunded: int = 0
    reversed: int = 0


@dataclass
class IdempotentCall:
    key: str
    operation: str
    payload: dict
    outcome: Outcome


@dataclass
class Model:
    available: list[int] = field(default_factory=lambda: [0, 0])
    pending: list[int] = field(default_factory=lambda: [0, 0])
    lots: list[ModelLot] = field(default_factory=list)
    transfers: int = 0
    in_debt_by_refund: list[bool] = field(default_factory=lambda: [False, False])
    sent_today: list[int] = field(default_factory=lambda: [0, 0])

    def new_lot(self, **fields) -> ModelLot:
        lot = ModelLot(seq=len(self.lots), **fields)
        self.lots.append(lot)
        return lot

    def credit_available(self, member: int, amount: int, **lot_fields) -> ModelLot:
        """An earn or adjustment into the available balance: a debt is paid first."""
        self.available[member] += amount
        remaining = min(amount, max(self.available[member], 0))
        return self.new_lot(
            member=member, amount=amount, remaining=remaining, status=LotStatus.AVAILABLE if remaining else LotStatus.CLOSED, **lot_fields
        )

    def consume(self, member: int, amount: int, first: ModelLot | None = None) -> list[tuple[int, ModelLot]]:
        """Take `amount` from the member's lots: `first`, then earliest expiry first."""
        spendable = [lot for lot in self.lots if lot.member == member and lot.status == LotStatus.AVAILABLE and lot.remaining > 0]
        ordered = sorted(
            spendable, key=lambda lot: (lot is not first, lot.expires_at is None, lot.expires_at or lot.earned_at, lot.earned_at, lot.seq)
        )
        taken = []
        for lot in ordered:
            if amount <= 0:
                break
            take = min(lot.remaining, amount)
            amount -= take
            lot.remaining -= take
            if lot.remaining == 0:
                lot.status = LotStatus.CLOSED
            taken.append((take, lot))
        assert amount == 0, "the model's lots do not cover its balance"
        return taken

    def spend(self, member: int, amount: int, first: ModelLot | None = None) -> list[tuple[int, ModelLot]]:
        spendable = min(amount, max(self.available[member], 0))
        self.available[member] -= amount
        self.transfers += 1
        return self.consume(member, spendable, first) if spendable else []


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Every example starts from a clean database: a savepoint rolled back in teardown.
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        tenancy_selectors.clear_caches()
        ledger_services.clear_caches()
        self.model = Model()
        self.purchases: list[ModelPurchase] = []
        self.calls: list[IdempotentCall] = []
        self.keys = itertools.count(1)

    def teardown(self):
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)
        tenancy_selectors.clear_caches()
        ledger_services.clear_caches()

    # --- set-up ------------------------------------------------------------------------

    @initialize(policy=st.sampled_from(["allow_debt", "stop_at_zero"]), opening=st.lists(st.integers(0, 20_000), min_size=2, max_size=2))
    def open_program(self, policy, opening):
        self.org = make_org(
            f"state-machine-{next(_slugs)}", refund_policy=policy, pending_days=PENDING_DAYS, expiry_policy="months", expiry_months=1,
            transfers_allowed=True, transfer_min=TRANSFER_MIN, transfer_max_per_day=TRANSFER_MAX_PER_DAY,
        )
        self.program = program_of(self.org)
        self.no_wait = copy.copy(self.program)  # the same program, without a return period
        self.no_wait.pending_days = 0
        self.members = [make_member(self.org), make_member(self.org)]
        self.clock = now()  # jobs run at this moving time; earns happen at the real time
        self.transfer_day = self.clock  # every transfer is dated on the same local day
        for member, cents in enumerate(opening):  # something to spend from the start
            if cents:
                self.earn(member, cents, wait=False)

    # --- rules -----------------------------------------------------------------------------

    def _earn(self, member: int, cents: int, wait: bool, purchase) -> None:
        """Update the model for a purchase just recorded."""
        points = cents // 100
        occurred_at = purchase.occurred_at
        lot = None
        if points:
            self.model.transfers += 1
            lot_fields = dict(earned_at=occurred_at, expires_at=expiry_for(self.program, occurred_at))
            if wait:
                self.model.pending[member] += points
                lot = self.model.new_lot(
                    member=member, amount=points, remaining=points, status=LotStatus.PENDING,
                    available_at=occurred_at + dt.timedelta(days=PENDING_DAYS), **lot_fields,
                )
            else:
                lot = self.model.credit_available(member, points, available_at=occurred_at, **lot_fields)
        self.purchases.append(ModelPurchase(purchase=purchase, member=member, total=cents, earned=points, lot=lot))

    @rule(member=st.integers(0, 1), cents=st.integers(1, 15_000), wait=st.booleans())
    def earn(self, member, cents, wait):
        result = buy(self.program if wait else self.no_wait, self.members[member], cents)
        assert result.pending == (wait and cents >= 100)
        self._earn(member, cents, wait, result.purchase)

    @rule(days=st.integers(0, 20))
    def release(self, days):
        self.clock += dt.timedelta(days=days)
        jobs.release_due(at=self.clock)
        due = [lot for lot in self.model.lots if lot.status == LotStatus.PENDING and lot.available_at <= self.clock]
        for lot in sorted(due, key=lambda lot: (lot.available_at, lot.seq)):
            if lot.remaining == 0:
                lot.status = LotStatus.CLOSED
                continue
            event("pending lot released")
            self.model.transfers += 1
            self.model.pending[lot.member] -= lot.remaining
            self.model.available[lot.member] += lot.remaining
            lot.remaining = min(lot.remaining, max(self.model.available[lot.member], 0))
            lot.status = LotStatus.AVAILABLE if lot.remaining else LotStatus.CLOSED

    @rule(days=st.integers(0, 40))
    def expire(self, days):
        self.clock += dt.timedelta(days=days)
        jobs.expire_due(at=self.clock)
        for lot in self.model.lots:
            if lot.status == LotStatus.AVAILABLE and lot.expires_at is not None and lot.expires_at <= self.clock:
                event("lot expired")
                self.model.transfers += 1
                self.model.available[lot.member] -= lot.remaining
                lot.remaining, lot.status = 0, LotStatus.CLOSED

    @rule(member=st.integers(0, 1), amount=st.integers(1, 80))
    def redeem(self, member, amount):
        if amount > self.model.available[member]:
            event("redeem refused: not enough points")
            with pytest.raises(InsufficientPoints):
                redeem(self.program, self.members[member], amount)
            return
        redeem(self.program, self.members[member], amount)
        self.model.spend(member, amount)

    @precondition(lambda self: any(p.refunded < p.total for p in self.purchases))
    @rule(data=st.data())
    def refund(self, data):
        open_purchases = [p for p in self.purchases if p.refunded < p.total]
        bought = data.draw(st.sampled_from(open_purchases), label="purchase")
        left = bought.total - bought.refunded
        amount = data.draw(st.one_of(st.none(), st.integers(1, left)), label="amount")  # None: all that is left
        result = refund(self.program, bought.purchase, amount=amount)
        amount = left if amount is None else amount
        target = proportional_to_date(bought.earned, bought.refunded + amount, bought.total)
        back = min(max(0, target - bought.reversed), bought.earned - bought.reversed)
        bought.refunded += amount
        bought.reversed += back
        taken = 0
        lot, member = bought.lot, bought.member
        if back and lot is not None:
            if lot.status == LotStatus.PENDING:
                event("refund of pending points")
                taken = min(back, lot.remaining)
                if taken:
                    self.model.transfers += 1
                    self.model.pending[member] -= taken
                    lot.remaining -= taken
            else:
                balance = self.model.available[member]
                taken = back if self.program.refund_policy == "allow_debt" else min(back, max(balance, 0))
                if taken:
                    self.model.spend(member, taken, first=lot)
                    if self.model.available[member] < 0:
                        event("refund into debt")
                        self.model.in_debt_by_refund[member] = True
                if taken < back:
                    event("refund stopped at zero")
        assert (result.refund.points_reversed, result.refund.points_forgiven) == (taken, back - taken)
        assert (result.purchase.refunded_minor, result.purchase.points_reversed) == (bought.refunded, bought.reversed)
        assert result.purchase.points_reversed <= result.purchase.points_earned

    @rule(sender=st.integers(0, 1), amount=st.integers(1, 80))
    def transfer(self, sender, amount):
        recipient = 1 - sender
        call = lambda: points_transfer(  # noqa: E731
            program=self.program, sender=self.members[sender], recipient=self.members[recipient], amount=amount, actor=STAFF,
            occurred_at=self.transfer_day,
        )
        if amount < TRANSFER_MIN:
            with pytest.raises(TransferRefused):
                call()
            return
        if self.model.sent_today[sender] + amount > TRANSFER_MAX_PER_DAY:
            event("transfer refused: daily maximum")
            with pytest.raises(TransferLimitReached):
                call()
            return
        if self.model.available[sender] < amount:
            with pytest.raises(InsufficientPoints):
                call()
            return
        call()
        event("transfer done")
        self.model.sent_today[sender] += amount
        parts = self.model.spend(sender, amount)
        self.model.available[recipient] += amount
        skip = amount - min(amount, max(self.model.available[recipient], 0))  # what pays the recipient's debt
        for taken, source in parts:
            use = taken - min(skip, taken)
            skip -= taken - use
            self.model.new_lot(
                member=recipient, amount=taken, remaining=use, status=LotStatus.AVAILABLE if use else LotStatus.CLOSED,
                earned_at=source.earned_at, available_at=self.transfer_day, expires_at=source.expires_at,
            )

    @rule(member=st.integers(0, 1), delta=st.integers(-100, 100).filter(bool))
    def adjust(self, member, delta):
        call = lambda occurred_at: points_adjust(  # noqa: E731
            program=self.program, member=self.members[member], delta=delta, note="Counted by hand", actor=STAFF, occurred_at=occurred_at,
        )
        if delta < 0 and -delta > self.model.available[member]:
            with pytest.raises(InsufficientPoints):
                call(now())
            return
        occurred_at = now()
        call(occurred_at)
        if delta > 0:
            self.model.transfers += 1
            self.model.credit_available(
                member, delta, earned_at=occurred_at, available_at=occurred_at, expires_at=expiry_for(self.program, occurred_at)
            )
        else:
            self.model.spend(member, -delta)

    # --- idempotency -------------------------------------------------------------------------

    def _idempotent(self, key: str, operation: str, payload: dict) -> Outcome:
        member = self.members[payload["member"]]
        if operation == "redeem":
            def execute():
                transfer = redeem(self.program, member, payload["amount"])
                return 201, {"transfer": transfer.id, "amount": transfer.amount}
        else:
            def execute():
                result = buy(self.no_wait, member, payload["cents"], external_id=f"idem-{key}")
                return 201, {"purchase": result.purchase.id, "points": result.purchase.points_earned}
        return run_idempotent(organization_id=self.org.id, key=key, operation=operation, payload=payload, execute=execute)

    @rule(member=st.integers(0, 1), operation=st.sampled_from(["redeem", "purchase"]), amount=st.integers(1, 80))
    def idempotent_write(self, member, operation, amount):
        key = f"key-{next(self.keys)}"
        payload = {"member": member, "amount": amount} if operation == "redeem" else {"member": member, "cents": amount * 100}
        short = operation == "redeem" and amount > self.model.available[member]
        outcome = self._idempotent(key, operation, payload)
        assert not outcome.replayed
        if short:
            assert (outcome.status, outcome.body["code"]) == (409, "insufficient_points")
        elif operation == "redeem":
            assert outcome.status == 201
            self.model.spend(member, amount)
        else:
            assert outcome.status == 201
            from fidelo.purchases.models import Purchase

            self._earn(member, amount * 100, False, Purchase.objects.get(pk=outcome.body["purchase"]))
        self.calls.append(IdempotentCall(key, operation, payload, outcome))

    @precondition(lambda self: self.calls)
    @rule(data=st.data())
    def retry_with_the_same_key(self, data):
        call = data.draw(st.sampled_from(self.calls), label="call")
        event(f"retry of a {call.operation} answered {call.outcome.status}")
        transfers = Transfer.objects.filter(organization_id=self.org.id).count()
        # The same request again: the first answer, stored, even if the balance changed since
        again = self._idempotent(call.key, call.operation, call.payload)
        assert (again.status, again.body, again.replayed) == (call.outcome.status, call.outcome.body, True)
        # The same key with another payload: a 409, and nothing done
        other = dict(call.payload, member=1 - call.payload["member"])
        clash = self._idempotent(call.key, call.operation, other)
        assert (clash.status, clash.body["code"]) == (409, "idempotency_key_reused")
        assert Transfer.objects.filter(organization_id=self.org.id).count() == transfers

    # --- invariants, after every step ---------------------------------------------------------

    @invariant()
    def ledger_verifies(self):
        drifts = ledger_verify(organization_id=self.org.id)
        assert drifts == [], [str(d) for d in drifts]

    @invariant()
    def balances_match_the_model(self):
        cached = {
            (member_id, kind): balance
            for member_id, kind, balance in Account.objects.filter(member__in=self.members).values_list("member_id", "kind", "balance")
        }
        for index, member in enumerate(self.members):
            found = (cached.get((member.id, AccountKind.AVAILABLE), 0), cached.get((member.id, AccountKind.PENDING), 0))
            assert found == (self.model.available[index], self.model.pending[index])

    @invariant()
    def no_balance_below_zero_except_a_refund_debt(self):
        for index in range(len(self.members)):
            if self.model.available[index] < 0:
                assert self.program.refund_policy == "allow_debt" and self.model.in_debt_by_refund[index]
            assert self.model.pending[index] >= 0

    @invariant()
    def all_legs_and_balances_sum_to_zero(self):
        assert set(sum_of_all_legs(self.org).values()) <= {0}
        assert set(sum_of_balances(self.org).values()) <= {0}

    @invariant()
    def lots_and_transfers_match_the_model(self):
        rows = list(Lot.objects.filter(organization_id=self.org.id).order_by("pk").values_list("member_id", "amount", "remaining", "status", "expires_at"))
        expected = [(self.members[lot.member].id, lot.amount, lot.remaining, lot.status, lot.expires_at) for lot in self.model.lots]
        assert rows == expected
        assert Transfer.objects.filter(organization_id=self.org.id).count() == self.model.transfers


@pytest.mark.django_db
def test_the_ledger_behaves_like_its_plain_integer_model():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25, stateful_step_count=25, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        ),
    )
