"""The rewards catalog under concurrent writers: real threads, real connections, released together.

Runs on PostgreSQL (row locks, conditional updates) and on SQLite (writers queue on core.db's
lock). Each thread closes its own connection; the ledger is verified after each story.
"""

import datetime as dt

import pytest

from fidelo.conftest import STAFF, at, make_member
from fidelo.ledger.errors import InsufficientPoints
from fidelo.ledger.models import Transfer, TransferKind
from fidelo.ledger.tests.helpers import (
    all_at_once,
    assert_ledger_consistent,
    available,
    errors_of,
    successes,
)
from fidelo.rewards.errors import OutOfStock, VoucherAlreadyUsed, VoucherExpired
from fidelo.rewards.models import (
    PartnerCode,
    Reward,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from fidelo.rewards.services import (
    reward_add_codes,
    reward_redeem,
    voucher_cancel,
    voucher_use,
    vouchers_expire_due,
)
from fidelo.rewards.tests.helpers import (
    EUROS,
    give_points,
    make_reward,
)

pytestmark = pytest.mark.django_db(transaction=True)

DAY = at(2025, 3, 3, 10)


def test_the_last_unit_of_stock_redeemed_by_20_members_at_once_goes_to_exactly_one(org, program):
    # Given a reward with one unit left and 20 members with points enough
    reward = make_reward(program, cost=50, stock=1)
    members = [make_member(org) for _ in range(20)]
    for member in members:
        give_points(program, member, 80, occurred_at=DAY)
    # When all of them redeem it at the same moment
    results = all_at_once(20, lambda index: reward_redeem(program=program, member=members[index], reward=reward, at=DAY))
    # Then exactly one gets it, the 19 others are told it is out of stock
    assert len(successes(results)) == 1
    refused = errors_of(results)
    assert len(refused) == 19 and all(isinstance(error, OutOfStock) for error in refused), refused[:3]
    # And the stock is 0, one voucher exists, and only the winner paid
    assert Reward.objects.get(pk=reward.pk).stock == 0
    winner = successes(results)[0].voucher.member_id
    assert list(Voucher.objects.values_list("member_id", flat=True)) == [winner]
    assert sorted(available(member) for member in members) == [30] + [80] * 19
    assert Transfer.objects.filter(kind=TransferKind.REDEEM).count() == 1
    assert_ledger_consistent(org)


def test_one_voucher_used_from_two_tills_at_once_is_used_once(org, program, member, store):
    # Given a 5 € voucher both tills have looked up
    reward = make_reward(program, cost=50)
    give_points(program, member, 50, occurred_at=DAY)
    code = reward_redeem(program=program, member=member, reward=reward, at=DAY).voucher.code
    copies = [Voucher.objects.select_related("reward").get(code=code) for _ in range(2)]
    # When both tills apply it at the same moment
    results = all_at_once(
        2, lambda index: voucher_use(voucher=copies[index], store=store, basket_minor=30 * EUROS, purchase_external_id=f"T-{index}", at=DAY)
    )
    # Then one takes 5 € off, the other is told it was already used
    assert [valuation.value_minor for valuation in successes(results)] == [5 * EUROS]
    refused = errors_of(results)
    assert len(refused) == 1 and isinstance(refused[0], VoucherAlreadyUsed), refused
    voucher = Voucher.objects.get(code=code)
    assert voucher.status == VoucherStatus.USED
    assert voucher.used_purchase_external_id == f"T-{[status for status, _ in results].index('ok')}"
    assert_ledger_consistent(org)


def test_a_member_redeeming_twice_at_once_with_points_for_one_gets_one(org, program, member):
    # Given a member with 70 points and a reward of 50 (unlimited stock)
    reward = make_reward(program, cost=50)
    give_points(program, member, 70, occurred_at=DAY)
    # When the portal and the till redeem it for them at the same moment
    results = all_at_once(2, lambda index: reward_redeem(program=program, member=member, reward=reward, channel=("portal", "pos")[index], at=DAY))
    # Then one redemption goes through, the other is told there are not enough points
    assert len(successes(results)) == 1
    refused = errors_of(results)
    assert len(refused) == 1 and isinstance(refused[0], InsufficientPoints), refused
    assert refused[0].extra["balance"] == 20
    assert (available(member), Voucher.objects.count()) == (20, 1)
    assert_ledger_consistent(org)


def test_a_cancellation_racing_the_expiry_job_gives_the_points_back_once(org, program, member):
    # Given a voucher of a reward that refunds on expiry, at its expiry date
    reward = make_reward(program, cost=60, voucher_days=10, refund_points_on_expiry=True, stock=4)
    give_points(program, member, 100, occurred_at=DAY)
    voucher = reward_redeem(program=program, member=member, reward=reward, at=DAY).voucher
    later = DAY + dt.timedelta(days=10)

    # When the member cancels it while two expiry jobs run
    def work(index):
        if index == 0:
            return voucher_cancel(voucher=voucher, program=program, actor=STAFF, at=later)
        return vouchers_expire_due(at=later)

    results = all_at_once(3, work)
    # Then the voucher closed once, whichever came first, and the points came back once
    voucher.refresh_from_db()
    assert voucher.status in (VoucherStatus.CANCELLED, VoucherStatus.EXPIRED)
    cancelled = voucher.status == VoucherStatus.CANCELLED
    if cancelled:
        assert errors_of(results) == []
        assert [value for _, value in results[1:]] == [0, 0]
    else:
        refused = errors_of(results)
        assert len(refused) == 1 and isinstance(refused[0], VoucherExpired), refused
        assert sorted(value for _, value in results[1:]) == [0, 1]
    assert available(member) == 100
    assert Transfer.objects.filter(kind=TransferKind.RESTORE).count() == 1
    # And only a cancellation gives the unit of stock back
    assert Reward.objects.get(pk=reward.pk).stock == (4 if cancelled else 3)
    assert_ledger_consistent(org)


def test_partner_codes_claimed_at_once_go_to_one_member_each(org, program):
    # Given a partner reward with three codes and five members who want one
    reward = make_reward(program, RewardKind.PARTNER_CODE, cost=20)
    reward_add_codes(reward=reward, codes=["C-1", "C-2", "C-3"], actor=STAFF)
    members = [make_member(org) for _ in range(5)]
    for member in members:
        give_points(program, member, 20, occurred_at=DAY)
    # When they all redeem it at the same moment
    results = all_at_once(5, lambda index: reward_redeem(program=program, member=members[index], reward=reward, at=DAY))
    # Then three get three different codes, two are told the pool is empty, and only the three paid
    assert sorted(redemption.partner_code for redemption in successes(results)) == ["C-1", "C-2", "C-3"]
    refused = errors_of(results)
    assert len(refused) == 2 and all(error.code == "partner_codes_exhausted" for error in refused), refused
    assert PartnerCode.objects.filter(voucher__isnull=False).count() == 3
    assert sorted(available(member) for member in members) == [0, 0, 0, 20, 20]
    assert_ledger_consistent(org)
