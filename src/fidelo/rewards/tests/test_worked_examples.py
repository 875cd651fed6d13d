"""Worked examples of the rewards catalog, told as stories through the services.

Each test reads as given / when / then, and ends by checking that the ledger still adds up
(`ledger_verify()` finds no drift).
"""

import datetime as dt

import pytest

from fidelo.conftest import STAFF, at, make_member, program_of
from fidelo.core.clock import travel_to
from fidelo.ledger import jobs
from fidelo.ledger.models import Lot, LotStatus, Transfer, TransferKind
from fidelo.ledger.selectors import member_balance
from fidelo.ledger.tests.helpers import (
    assert_ledger_consistent,
    available,
    buy,
    refund,
    sum_of_all_legs,
    sum_of_balances,
)
from fidelo.rewards.errors import (
    MinimumBasketNotMet,
    OutOfStock,
    VoucherAlreadyUsed,
    VoucherCancelled,
    WalletEmpty,
)
from fidelo.rewards.models import (
    PartnerCode,
    Reward,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from fidelo.rewards.selectors import access_voucher, charity_totals
from fidelo.rewards.services import (
    CODE_ALPHABET,
    reward_add_codes,
    reward_redeem,
    voucher_cancel,
    voucher_use,
    voucher_value,
    vouchers_expire_due,
    wallet_spend,
)
from fidelo.rewards.tests.helpers import EUROS, give_points, make_reward, snapshot
from fidelo.tenancy.services import program_update

pytestmark = pytest.mark.django_db

DAY = at(2025, 3, 3, 10)  # the day of the redemptions, unless a story says otherwise


def redeem(program, member, reward, *, when=DAY, channel="portal"):
    return reward_redeem(program=program, member=member, reward=reward, channel=channel, at=when)


# --- each kind of reward ---------------------------------------------------------------------


def test_a_fixed_amount_voucher_needs_its_minimum_basket_and_takes_its_amount_off(org, program, member, store):
    # Given a 5 € voucher for 50 points, valid 30 days, from a basket of 20 €
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=50, amount_minor=5 * EUROS, min_basket_minor=20 * EUROS, voucher_days=30)
    buy(program, member, 80 * EUROS, occurred_at=at(2025, 3, 1))
    # When the member redeems it
    voucher = redeem(program, member, reward).voucher
    # Then 50 of the 80 points are taken and a voucher valid 30 days is issued
    assert available(member) == 30
    assert (voucher.status, voucher.points, voucher.channel) == (VoucherStatus.ISSUED, 50, "portal")
    assert voucher.expires_at == DAY + dt.timedelta(days=30)
    # And at the till a basket of 19.99 € is refused, saying what the minimum is
    with pytest.raises(MinimumBasketNotMet) as refused:
        voucher_value(voucher, store=store, basket_minor=1999, at=DAY)
    assert refused.value.extra == {"minimum_basket_cents": 20 * EUROS}
    # And a basket of 20 € gets 5 € off, once
    used = voucher_use(voucher=voucher, store=store, basket_minor=20 * EUROS, purchase_external_id="T-1", at=DAY + dt.timedelta(days=1))
    assert used.value_minor == 5 * EUROS
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_store_id, voucher.used_value_minor, voucher.used_purchase_external_id) == (
        VoucherStatus.USED, store.pk, 5 * EUROS, "T-1",
    )
    assert available(member) == 30  # using a voucher moves no points
    assert_ledger_consistent(org)


def test_a_fixed_amount_voucher_never_takes_more_than_the_basket(org, program, member, store):
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=10, amount_minor=5 * EUROS)
    give_points(program, member, 10, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    assert voucher_value(voucher, store=store, basket_minor=320, at=DAY).value_minor == 320


def test_a_percentage_voucher_is_rounded_down_to_the_cent(org, program, member, store):
    # Given a 15 % voucher
    reward = make_reward(program, RewardKind.VOUCHER_PERCENT, cost=40, percent_bp=1500)
    give_points(program, member, 40, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    # Then 15 % of 19.99 € (2.9985 €) is 2.99 €, and of 6 cents is 0
    assert voucher_value(voucher, store=store, basket_minor=1999, at=DAY).value_minor == 299
    assert voucher_value(voucher, store=store, basket_minor=6, at=DAY).value_minor == 0
    # And using it on 19.99 € records 2.99 € off
    assert voucher_use(voucher=voucher, store=store, basket_minor=1999, at=DAY).value_minor == 299
    assert Voucher.objects.get(pk=voucher.pk).used_value_minor == 299
    assert_ledger_consistent(org)


def test_a_free_product_is_worth_the_price_of_its_line_in_the_basket_up_to_its_cap(org, program, member, store):
    # Given a free coffee (SKU CAFE) that covers at most 4.50 €
    reward = make_reward(program, RewardKind.FREE_PRODUCT, cost=30, product_sku="CAFE", amount_minor=450)
    give_points(program, member, 30, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher

    def value(lines, basket):
        return voucher_value(voucher, store=store, basket_minor=basket, lines=lines, at=DAY).value_minor

    # Then it is worth the price of one coffee of the basket (not of two, not of the croissant)
    assert value([("CAFE", 2, 380), ("CROISSANT", 1, 150)], 910) == 380
    # And a large coffee at 5.20 € is covered up to 4.50 €
    assert value([("CAFE", 1, 520)], 520) == 450
    # And a basket without coffee gets nothing off
    assert value([("CROISSANT", 1, 150)], 150) == 0
    assert value(None, 150) == 0
    # And using it records the value of the coffee
    used = voucher_use(voucher=voucher, store=store, basket_minor=910, lines=[("CAFE", 2, 380), ("CROISSANT", 1, 150)], at=DAY)
    assert used.value_minor == 380
    assert_ledger_consistent(org)


def test_an_experience_is_presented_once_and_takes_nothing_off_the_basket(org, program, member, store):
    reward = make_reward(program, RewardKind.EXPERIENCE, cost=200, title_fr="Atelier dégustation")
    give_points(program, member, 250, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    assert available(member) == 50
    used = voucher_use(voucher=voucher, store=store, basket_minor=0, at=DAY + dt.timedelta(days=3))
    assert used.value_minor == 0
    assert Voucher.objects.get(pk=voucher.pk).status == VoucherStatus.USED
    with pytest.raises(VoucherAlreadyUsed):
        voucher_use(voucher=Voucher.objects.get(pk=voucher.pk), store=store, basket_minor=0, at=DAY + dt.timedelta(days=4))
    assert_ledger_consistent(org)


def test_donations_add_up_per_association_across_members(org, program):
    # Given two associations: 5 € for 100 points, 2 € for 40 points
    restos = make_reward(program, RewardKind.DONATION, cost=100, charity_name="Les Restos du Cœur", amount_minor=5 * EUROS)
    spa = make_reward(program, RewardKind.DONATION, cost=40, charity_name="SPA", amount_minor=2 * EUROS)
    anne, paul, lea = (make_member(org) for _ in range(3))
    for member in (anne, paul, lea):
        give_points(program, member, 250, occurred_at=DAY)
    # When Anne gives twice to the Restos, Paul once to each, Léa once to the SPA
    for member, reward in ((anne, restos), (anne, restos), (paul, restos), (paul, spa), (lea, spa)):
        donation = redeem(program, member, reward).voucher
        # Then each donation is done at once: nothing to present, no expiry
        assert (donation.status, donation.expires_at, donation.used_value_minor) == (VoucherStatus.USED, None, reward.amount_minor)
    # And the running totals per association count every member's gifts
    assert charity_totals(org.id) == [
        {"association": "Les Restos du Cœur", "donations": 3, "points": 300, "amount_cents": 15 * EUROS},
        {"association": "SPA", "donations": 2, "points": 80, "amount_cents": 4 * EUROS},
    ]
    assert (available(anne), available(paul), available(lea)) == (50, 110, 210)
    # And a donation cannot be taken back
    with pytest.raises(VoucherAlreadyUsed):
        voucher_cancel(voucher=Voucher.objects.filter(member=lea).get(), program=program, actor=STAFF, at=DAY)
    assert_ledger_consistent(org)


def test_wallet_credit_turns_points_into_euros_spent_over_two_purchases(org, program, member, store):
    # Given 3 € of wallet credit for 300 points
    reward = make_reward(program, RewardKind.WALLET_CREDIT, cost=300, amount_minor=3 * EUROS)
    give_points(program, member, 350, occurred_at=DAY)
    # When the member redeems it
    credit = redeem(program, member, reward).voucher
    # Then the points are gone, the wallet holds 3 €, and the redemption is done
    assert available(member) == 50
    assert member_balance(member, "EUR").available == 3 * EUROS
    assert (credit.status, credit.used_value_minor) == (VoucherStatus.USED, 3 * EUROS)
    # When a first basket of 2 € is paid with the wallet, it uses 2 €
    first = wallet_spend(program=program, member=member, basket_minor=2 * EUROS, store=store, at=DAY)
    assert (first.applied_minor, first.balance_minor) == (2 * EUROS, 1 * EUROS)
    # And a second basket of 5 € uses the last 1 €
    second = wallet_spend(program=program, member=member, basket_minor=5 * EUROS, store=store, at=DAY)
    assert (second.applied_minor, second.balance_minor) == (1 * EUROS, 0)
    assert member_balance(member, "EUR").available == 0
    # And a third finds the wallet empty
    with pytest.raises(WalletEmpty):
        wallet_spend(program=program, member=member, basket_minor=5 * EUROS, store=store, at=DAY)
    assert available(member) == 50
    # And both ledgers add up: points and euros each sum to zero, every leg counted
    assert sum_of_balances(org) == sum_of_all_legs(org) == {"EUR": 0, "PTS": 0}
    assert [lot.remaining for lot in Lot.objects.filter(member=member, unit="EUR")] == [0]


def test_ledger_verify_finds_nothing_after_a_wallet_credit(org, program, member):
    reward = make_reward(program, RewardKind.WALLET_CREDIT, cost=300, amount_minor=3 * EUROS)
    give_points(program, member, 350, occurred_at=DAY)
    redeem(program, member, reward)
    wallet_spend(program=program, member=member, basket_minor=2 * EUROS, at=DAY)
    assert_ledger_consistent(org)


def test_a_partner_reward_hands_out_distinct_codes_until_the_pool_is_empty(org, program):
    # Given a partner reward with two codes (a duplicate upload is ignored)
    reward = make_reward(program, RewardKind.PARTNER_CODE, cost=20, title_fr="Place de cinéma")
    assert reward_add_codes(reward=reward, codes=["CINE-AAA", "CINE-BBB", " CINE-AAA ", ""], actor=STAFF) == 2
    assert reward_add_codes(reward=reward, codes=["CINE-BBB"], actor=STAFF) == 0
    anne, paul, lea = (make_member(org) for _ in range(3))
    for member in (anne, paul, lea):
        give_points(program, member, 20, occurred_at=DAY)
    # When two members redeem it, each gets a code of their own, tied to their voucher
    first, second = redeem(program, anne, reward), redeem(program, paul, reward)
    assert {first.partner_code, second.partner_code} == {"CINE-AAA", "CINE-BBB"}
    assert PartnerCode.objects.get(code=first.partner_code).voucher_id == first.voucher.pk
    # When a third member tries, the pool is empty: refused, and nothing is spent
    before = snapshot()
    with pytest.raises(OutOfStock) as refused:
        redeem(program, lea, reward)
    assert refused.value.code == "partner_codes_exhausted"
    assert snapshot() == before
    assert available(lea) == 20
    assert_ledger_consistent(org)


# --- how points are taken --------------------------------------------------------------------


def test_points_are_taken_at_once_from_the_lots_that_expire_first(org, member):
    # Given a program whose points expire 6 months after they are earned
    program_update(organization=org, actor=STAFF, expiry_policy="months", expiry_months=6)
    program = program_of(org)
    # And 100 points earned in March, then 100 earned in January (expiring first)
    buy(program, member, 100 * EUROS, occurred_at=at(2025, 3, 10))
    buy(program, member, 100 * EUROS, occurred_at=at(2025, 1, 10))
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=150)
    # When the member redeems 150 points on April 1
    voucher = redeem(program, member, reward, when=at(2025, 4, 1)).voucher
    # Then January's lot is used up and 50 of March's are left
    lots = {lot.expires_at: (lot.remaining, lot.status) for lot in Lot.objects.filter(member=member)}
    assert lots == {at(2025, 7, 10): (0, LotStatus.CLOSED), at(2025, 9, 10): (50, LotStatus.AVAILABLE)}
    # And the voucher remembers where its points came from, with their expiry dates
    assert [(part["amount"], dt.datetime.fromisoformat(part["expires_at"])) for part in voucher.spent_lots] == [
        (100, at(2025, 7, 10)), (50, at(2025, 9, 10)),
    ]
    # And one transfer took the 150 points
    spent = Transfer.objects.get(pk=voucher.redeem_transfer_id)
    assert (spent.kind, spent.amount, spent.source_type, spent.source_id) == (TransferKind.REDEEM, 150, "reward", reward.pk)
    assert available(member) == 50
    assert_ledger_consistent(org)


def test_voucher_codes_are_16_unique_characters_of_crockfords_alphabet(org, program, member):
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=1)
    give_points(program, member, 40, occurred_at=DAY)
    codes = [redeem(program, member, reward).voucher.code for _ in range(40)]
    assert len(set(codes)) == 40
    assert all(len(code) == 16 and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert not set("ILOU") & set(CODE_ALPHABET)
    # And a code typed at the till in lower case, in groups, finds its voucher
    typed = "-".join(codes[0][i : i + 4] for i in range(0, 16, 4)).lower()
    assert access_voucher(org.id, f" {typed} ").code == codes[0]


# --- cancellation and expiry give points back exactly once ------------------------------------


def test_a_cancelled_voucher_gives_its_points_and_its_unit_of_stock_back_once(org, program, member):
    # Given a voucher from a reward with 5 in stock
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=60, stock=5)
    give_points(program, member, 100, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    assert (available(member), Reward.objects.get(pk=reward.pk).stock) == (40, 4)
    # When the member cancels it
    with travel_to(DAY + dt.timedelta(days=2)):
        cancelled = voucher_cancel(voucher=voucher, program=program, actor=STAFF)
    # Then the points and the unit of stock come back
    assert (cancelled.status, cancelled.closed_at) == (VoucherStatus.CANCELLED, DAY + dt.timedelta(days=2))
    assert (available(member), Reward.objects.get(pk=reward.pk).stock) == (100, 5)
    restore = Transfer.objects.get(kind=TransferKind.RESTORE)
    assert (restore.amount, restore.source_type, restore.source_id) == (60, "voucher", voucher.pk)
    # And cancelling again is refused and gives nothing more
    before = snapshot()
    with pytest.raises(VoucherCancelled):
        voucher_cancel(voucher=voucher, program=program, actor=STAFF, at=DAY + dt.timedelta(days=3))
    with pytest.raises(VoucherCancelled):  # even from a copy read before the cancellation
        voucher_cancel(voucher=Voucher.objects.get(pk=voucher.pk), program=program, actor=STAFF, at=DAY + dt.timedelta(days=3))
    assert snapshot() == before
    # And a used voucher cannot be cancelled
    used = redeem(program, member, reward).voucher
    voucher_use(voucher=used, store=None, basket_minor=10 * EUROS, at=DAY)
    with pytest.raises(VoucherAlreadyUsed):
        voucher_cancel(voucher=used, program=program, actor=STAFF, at=DAY)
    assert_ledger_consistent(org)


def test_restored_points_keep_their_own_expiry_dates(org, member):
    # Given points expiring 6 months after they are earned: 30 in January, 50 in February
    program_update(organization=org, actor=STAFF, expiry_policy="months", expiry_months=6)
    program = program_of(org)
    give_points(program, member, 30, occurred_at=at(2025, 1, 10))
    give_points(program, member, 50, occurred_at=at(2025, 2, 10))
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=60, voucher_days=365)
    voucher = redeem(program, member, reward, when=at(2025, 3, 1)).voucher
    # When the voucher is cancelled in May
    voucher_cancel(voucher=voucher, program=program, actor=STAFF, at=at(2025, 5, 1))
    # Then the 60 points come back in lots with the dates they had: 30 of July 10, 30 of August 10
    restored = Lot.objects.filter(member=member, transfer__kind=TransferKind.RESTORE)
    assert sorted((lot.remaining, lot.expires_at) for lot in restored) == [(30, at(2025, 7, 10)), (30, at(2025, 8, 10))]
    assert available(member) == 80
    # And they expire on those dates, not later
    assert jobs.expire_due(at=at(2025, 7, 10, 12)).amount == 30
    assert jobs.expire_due(at=at(2025, 8, 10, 12)).amount == 50
    assert available(member) == 0
    assert_ledger_consistent(org)


def test_a_cancellation_after_the_points_expiry_date_gives_them_back_already_expired(org, member):
    # Given 100 points earned on January 10 that expire a month later, 60 of them on a voucher
    program_update(organization=org, actor=STAFF, expiry_policy="months", expiry_months=1)
    program = program_of(org)
    give_points(program, member, 100, occurred_at=at(2025, 1, 10))
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=60, voucher_days=90)
    voucher = redeem(program, member, reward, when=at(2025, 1, 20)).voucher
    # And the 40 left expire on February 10
    assert jobs.expire_due(at=at(2025, 2, 11)).amount == 40
    # When the voucher is cancelled on February 20
    voucher_cancel(voucher=voucher, program=program, actor=STAFF, at=at(2025, 2, 20))
    # Then the 60 points come back in a lot that expired on February 10
    lot = Lot.objects.get(member=member, transfer__kind=TransferKind.RESTORE)
    assert (lot.remaining, lot.expires_at) == (60, at(2025, 2, 10))
    # And the next expiry run takes them: the cancellation did not extend their life
    assert jobs.expire_due(at=at(2025, 2, 20, 13)).amount == 60
    assert available(member) == 0
    assert_ledger_consistent(org)


def test_an_expired_voucher_gives_the_points_back_once_when_the_reward_says_so(org, program, member):
    # Given a voucher of a reward that refunds on expiry, valid 10 days
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=60, voucher_days=10, refund_points_on_expiry=True, stock=3)
    give_points(program, member, 100, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    # When the expiry job runs the day before, nothing happens
    assert vouchers_expire_due(at=DAY + dt.timedelta(days=9)) == 0
    # When it runs after the 10 days, the voucher expires and the points come back
    assert vouchers_expire_due(at=DAY + dt.timedelta(days=10)) == 1
    voucher.refresh_from_db()
    assert (voucher.status, voucher.closed_at) == (VoucherStatus.EXPIRED, DAY + dt.timedelta(days=10))
    assert available(member) == 100
    # And running it again gives nothing more; cancelling the expired voucher is refused
    before = snapshot()
    assert vouchers_expire_due(at=DAY + dt.timedelta(days=20)) == 0
    with pytest.raises(Exception) as refused:
        voucher_cancel(voucher=voucher, program=program, actor=STAFF, at=DAY + dt.timedelta(days=20))
    assert refused.value.code == "voucher_expired"
    assert snapshot() == before
    assert Transfer.objects.filter(kind=TransferKind.RESTORE).count() == 1
    assert_ledger_consistent(org)


def test_an_expired_voucher_keeps_the_points_when_the_reward_says_so(org, program, member):
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=60, voucher_days=10, refund_points_on_expiry=False)
    give_points(program, member, 100, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    assert vouchers_expire_due(at=DAY + dt.timedelta(days=11)) == 1
    assert Voucher.objects.get(pk=voucher.pk).status == VoucherStatus.EXPIRED
    assert available(member) == 40
    assert not Transfer.objects.filter(kind=TransferKind.RESTORE).exists()
    assert_ledger_consistent(org)


# --- a purchase paid with a voucher, refunded ---------------------------------------------------


def test_refunding_a_purchase_paid_with_a_voucher_leaves_the_voucher_used_and_takes_back_the_purchase_points(org, program, member, store):
    # Given a member who turned 50 of 100 points into a 5 € voucher
    give_points(program, member, 100, occurred_at=DAY)
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=50, amount_minor=5 * EUROS)
    voucher = redeem(program, member, reward).voucher
    # And used it on a 30 € basket, paying 25 € (25 points earned)
    purchase = buy(program, member, 25 * EUROS, store=store, occurred_at=DAY, external_id="T-77")
    voucher_use(voucher=voucher, store=store, basket_minor=30 * EUROS, purchase_external_id="T-77", at=DAY)
    assert available(member) == 75
    # When the purchase is refunded in full
    refund(program, purchase)
    # Then its 25 points are taken back, as for any refund
    assert available(member) == 50
    # And the voucher stays used: it is not reinstated and its 50 points do not come back
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_purchase_external_id) == (VoucherStatus.USED, "T-77")
    assert not Transfer.objects.filter(kind=TransferKind.RESTORE).exists()
    assert_ledger_consistent(org)
