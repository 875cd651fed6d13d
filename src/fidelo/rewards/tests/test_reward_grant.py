"""reward_grant: a reward given without taking points (a stamp card filled, a rule's reward effect).

Given / when / then; each story checks that the ledger still adds up.
"""

import datetime as dt

import pytest

from fidelo.conftest import STAFF, at, make_member, make_org, program_of
from fidelo.core.errors import ValidationFailed
from fidelo.ledger.models import Transfer, TransferKind
from fidelo.ledger.selectors import ledger_verify, member_balance
from fidelo.members.errors import MemberClosed
from fidelo.members.models import Member, MemberStatus
from fidelo.rewards.errors import (
    OutOfStock,
    RewardExpired,
    RewardInactive,
    RewardNotFound,
    RewardNotYetValid,
)
from fidelo.rewards.models import (
    OfferEvent,
    OfferEventKind,
    PartnerCode,
    Reward,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from fidelo.rewards.services import (
    reward_add_codes,
    reward_grant,
    reward_redeem,
    voucher_cancel,
    voucher_use,
    vouchers_expire_due,
)
from fidelo.rewards.tests.helpers import EUROS, give_points, make_reward, snapshot

pytestmark = pytest.mark.django_db

DAY = at(2025, 3, 3, 10)


def grant(program, member, reward, *, when=DAY, **kwargs):
    return reward_grant(program=program, member=member, reward=reward, at=when, why_label="Carte café", source_type="stamp_card",
                        source_id=7, **kwargs)


def available(member) -> int:
    return member_balance(member, "PTS").available


def assert_ledger_consistent(org) -> None:
    assert ledger_verify(organization_id=org.id) == []


def requested(reward) -> int:
    return OfferEvent.objects.filter(reward=reward, kind=OfferEventKind.REQUESTED).count()


@pytest.mark.parametrize("kind", [RewardKind.VOUCHER_AMOUNT, RewardKind.VOUCHER_PERCENT, RewardKind.FREE_PRODUCT, RewardKind.EXPERIENCE])
def test_a_voucher_reward_is_given_without_taking_points(program, member, kind):
    # Given a member without a single point and a reward that costs 50 points, 3 left in stock
    reward = make_reward(program, kind, cost=50, stock=3, voucher_days=15)
    # When it is given to the member
    redemption = grant(program, member, reward)
    # Then a voucher is issued, valid 15 days, worth no points, and nothing was spent
    voucher = Voucher.objects.get(pk=redemption.voucher.pk)
    assert (voucher.member_id, voucher.reward_id, voucher.status) == (member.pk, reward.pk, VoucherStatus.ISSUED)
    assert (voucher.points, voucher.spent_lots, voucher.redeem_transfer_id) == (0, [], 0)
    assert voucher.issued_at == DAY and voucher.expires_at == DAY + dt.timedelta(days=15)
    assert voucher.channel == "stamp_card"
    assert available(member) == 0 and Transfer.objects.count() == 0
    # And one unit of stock was taken, and the offer counts as requested once
    assert Reward.objects.get(pk=reward.pk).stock == 2
    assert requested(reward) == 1
    assert_ledger_consistent(program.organization)


def test_a_given_free_coffee_is_used_at_the_till_like_a_bought_one(program, member, store):
    reward = make_reward(program, RewardKind.FREE_PRODUCT, product_sku="CAFE")
    voucher = grant(program, member, reward).voucher
    used = voucher_use(voucher=voucher, store=store, basket_minor=650, lines=[("CAFE", 2, 250), ("CROISSANT", 1, 150)], at=DAY)
    assert used.value_minor == 250
    assert Voucher.objects.get(pk=voucher.pk).status == VoucherStatus.USED


def test_a_donation_is_given_and_counted_at_once(program, member):
    reward = make_reward(program, RewardKind.DONATION, charity_name="Les Restos du Cœur", amount_minor=2 * EUROS)
    voucher = grant(program, member, reward).voucher
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_value_minor, voucher.points) == (VoucherStatus.USED, 2 * EUROS, 0)
    assert list(OfferEvent.objects.filter(reward=reward).values_list("kind", flat=True).order_by("kind")) == [OfferEventKind.REQUESTED, OfferEventKind.USED]
    assert Transfer.objects.count() == 0


def test_wallet_credit_is_given_into_the_wallet_with_its_reason(program, member):
    # Given a wallet credit of 3 € on offer
    reward = make_reward(program, RewardKind.WALLET_CREDIT, amount_minor=3 * EUROS, title_fr="3 € offerts")
    # When it is given
    voucher = grant(program, member, reward).voucher
    # Then the wallet holds 3 €, the points are untouched, and the entry says why
    assert member_balance(member, "EUR").available == 3 * EUROS
    assert available(member) == 0
    credit = Transfer.objects.get(kind=TransferKind.CREDIT)
    assert (credit.unit, credit.amount, credit.reason, credit.source_type, credit.source_id) == ("EUR", 300, "wallet_credit", "voucher", voucher.pk)
    assert credit.reason_params["label"] == "3 € offerts (Carte café)"
    assert (credit.reason_params["source_type"], credit.reason_params["source_id"]) == ("stamp_card", 7)
    assert Voucher.objects.get(pk=voucher.pk).status == VoucherStatus.USED
    assert Transfer.objects.filter(kind=TransferKind.REDEEM).count() == 0
    assert_ledger_consistent(program.organization)


def test_a_partner_code_is_handed_out(program, member):
    reward = make_reward(program, RewardKind.PARTNER_CODE, title_fr="Place de cinéma")
    reward_add_codes(reward=reward, codes=["CINE-1", "CINE-2"], actor=STAFF)
    redemption = grant(program, member, reward)
    assert redemption.partner_code == "CINE-1"
    assert PartnerCode.objects.get(code="CINE-1").voucher_id == redemption.voucher.pk
    assert Voucher.objects.get(pk=redemption.voucher.pk).status == VoucherStatus.USED


def test_the_last_unit_is_given_once_then_out_of_stock_is_refused_and_nothing_written(program, member):
    reward = make_reward(program, RewardKind.FREE_PRODUCT, stock=1)
    grant(program, member, reward)
    before = snapshot()
    with pytest.raises(OutOfStock) as refused:
        grant(program, member, reward)
    assert refused.value.code == "out_of_stock"
    assert snapshot() == before


def test_an_empty_partner_pool_is_refused_and_leaves_the_stock_as_it_was(program, member):
    reward = make_reward(program, RewardKind.PARTNER_CODE, stock=5)
    before = snapshot()
    with pytest.raises(OutOfStock) as refused:
        grant(program, member, reward)
    assert refused.value.code == "partner_codes_exhausted"
    assert snapshot() == before and Reward.objects.get(pk=reward.pk).stock == 5


@pytest.mark.parametrize(
    ("fields", "error", "code"),
    [
        ({"active": False}, RewardInactive, "reward_inactive"),
        ({"valid_from": DAY + dt.timedelta(days=1)}, RewardNotYetValid, "reward_not_yet_valid"),
        ({"valid_from": DAY - dt.timedelta(days=9), "valid_until": DAY}, RewardExpired, "reward_expired"),
    ],
)
def test_a_reward_not_on_offer_is_refused_and_nothing_written(program, member, fields, error, code):
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, stock=4, **fields)
    before = snapshot()
    with pytest.raises(error) as refused:
        grant(program, member, reward)
    assert refused.value.code == code
    assert snapshot() == before


def test_a_reward_of_another_organization_a_closed_member_or_a_naive_time_are_refused(program, member):
    other = program_of(make_org("autre-cafe"))
    foreign = make_reward(other, RewardKind.VOUCHER_AMOUNT)
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT)
    before = snapshot()
    with pytest.raises(RewardNotFound):
        grant(program, member, foreign)
    with pytest.raises(ValidationFailed) as naive:
        grant(program, member, reward, when=dt.datetime(2025, 3, 3, 10))
    assert naive.value.code == "naive_datetime"
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.CLOSED)
    member.refresh_from_db()
    with pytest.raises(MemberClosed):
        grant(program, member, reward)
    assert snapshot() == before


def test_tiers_and_the_limit_per_member_apply_to_redemptions_with_points_only(program, member):
    # Given a reward reserved for gold members, once per member
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, allowed_tiers=["gold"], limit_per_member=1)
    # When it is given twice to a member without a tier: the merchant chose to give it
    first, second = grant(program, member, reward), grant(program, member, reward)
    assert first.voucher.pk != second.voucher.pk
    assert requested(reward) == 2


def test_a_given_voucher_cancelled_gives_back_no_points_but_its_stock(program, member):
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, stock=2)
    voucher = grant(program, member, reward).voucher
    voucher_cancel(voucher=voucher, program=program, actor=STAFF, at=DAY)
    assert Voucher.objects.get(pk=voucher.pk).status == VoucherStatus.CANCELLED
    assert available(member) == 0 and Transfer.objects.count() == 0
    assert Reward.objects.get(pk=reward.pk).stock == 2


def test_a_given_voucher_expires_without_giving_points_back(program, member):
    # Given a reward whose points come back on expiry, given (not bought) to one member and bought by another
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=40, refund_points_on_expiry=True, voucher_days=10)
    buyer = make_member(program.organization)
    give_points(program, buyer, 40, occurred_at=DAY)
    given = grant(program, member, reward).voucher
    bought = reward_redeem(program=program, member=buyer, reward=reward, at=DAY).voucher
    # When the expiry job runs after their date
    assert vouchers_expire_due(at=DAY + dt.timedelta(days=11)) == 2
    # Then both expired; the buyer has the points back, the member who got it for free has none
    assert set(Voucher.objects.filter(pk__in=[given.pk, bought.pk]).values_list("status", flat=True)) == {VoucherStatus.EXPIRED}
    assert (available(buyer), available(member)) == (40, 0)
    assert_ledger_consistent(program.organization)
