"""Every refusal of the rewards catalog: its own error code, and nothing changed.

Each refusal is checked against a snapshot of vouchers, offer events, ledger transfers, lots,
balances, stock and partner codes taken just before it.
"""

import datetime as dt
from collections.abc import Callable

import pytest

from fidelo.conftest import STAFF, at, make_member, make_org, program_of
from fidelo.core.errors import DomainError
from fidelo.ledger.tests.helpers import assert_ledger_consistent, available
from fidelo.rewards.models import Reward, RewardKind, Voucher, VoucherStatus
from fidelo.rewards.services import (
    reward_add_codes,
    reward_create,
    reward_redeem,
    reward_update,
    voucher_cancel,
    voucher_use,
    vouchers_expire_due,
    wallet_spend,
)
from fidelo.rewards.tests.helpers import EUROS, give_points, make_reward, snapshot
from fidelo.tenancy.services import store_create

pytestmark = pytest.mark.django_db

DAY = at(2025, 3, 3, 10)


def refused(code: str, attempt: Callable[[], object]) -> DomainError:
    """Run `attempt`, expect a refusal with `code`, and check that nothing changed."""
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        attempt()
    assert caught.value.code == code, (caught.value.code, caught.value.detail)
    assert snapshot() == before
    return caught.value


def redeem(program, member, reward, *, when=DAY):
    return reward_redeem(program=program, member=member, reward=reward, at=when)


# --- redeeming ---------------------------------------------------------------------------------


def test_not_enough_points_is_refused_with_the_balance_and_takes_no_stock(org, program, member):
    reward = make_reward(program, cost=50, stock=3)
    give_points(program, member, 40, occurred_at=DAY)
    error = refused("insufficient_points", lambda: redeem(program, member, reward))
    assert (error.extra["balance"], error.extra["requested"]) == (40, 50)
    assert (available(member), Reward.objects.get(pk=reward.pk).stock, Voucher.objects.count()) == (40, 3, 0)
    assert_ledger_consistent(org)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"stock": 0}, "out_of_stock"),
        ({"valid_from": DAY + dt.timedelta(seconds=1)}, "reward_not_yet_valid"),
        ({"valid_until": DAY}, "reward_expired"),  # valid until: that moment is already too late
        ({"active": False}, "reward_inactive"),
        ({"allowed_tiers": ["gold"]}, "tier_not_allowed"),
    ],
)
def test_a_reward_not_on_offer_to_this_member_is_refused(org, program, member, fields, code):
    reward = make_reward(program, cost=10, **fields)
    give_points(program, member, 100, occurred_at=DAY)
    refused(code, lambda: redeem(program, member, reward))
    assert available(member) == 100


def test_the_validity_window_includes_its_start(org, program, member):
    reward = make_reward(program, cost=10, valid_from=DAY, valid_until=DAY + dt.timedelta(days=1))
    give_points(program, member, 10, occurred_at=DAY)
    assert redeem(program, member, reward).voucher.status == VoucherStatus.ISSUED


def test_the_limit_per_member_counts_every_voucher_but_the_cancelled_ones(org, program, member):
    # Given a reward limited to 2 per member and a member with points for 4
    reward = make_reward(program, cost=10, limit_per_member=2)
    give_points(program, member, 40, occurred_at=DAY)
    first = redeem(program, member, reward).voucher
    redeem(program, member, reward)
    # Then a third is refused
    error = refused("limit_per_member_reached", lambda: redeem(program, member, reward))
    assert error.extra == {"limit": 2}
    # And once one is cancelled, the member may redeem again
    voucher_cancel(voucher=first, program=program, actor=STAFF, at=DAY)
    redeem(program, member, reward)
    refused("limit_per_member_reached", lambda: redeem(program, member, reward))
    # And another member has a limit of their own
    other = make_member(org)
    give_points(program, other, 10, occurred_at=DAY)
    redeem(program, other, reward)
    assert_ledger_consistent(org)


def test_a_reward_of_another_organization_is_unknown(org, program, member):
    other_program = program_of(make_org("autre-cafe"))
    reward = make_reward(other_program, cost=10)
    give_points(program, member, 10, occurred_at=DAY)
    refused("reward_not_found", lambda: redeem(program, member, reward))


# --- at the till -------------------------------------------------------------------------------


@pytest.fixture
def other_store(org):
    return store_create(organization=org, code="lyon-2", name="Lyon 2e", city="Lyon")


def test_a_voucher_for_some_stores_is_refused_elsewhere(org, program, member, store, other_store):
    reward = make_reward(program, cost=10, stores=[store])
    give_points(program, member, 10, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    refused("voucher_store_not_allowed", lambda: voucher_use(voucher=voucher, store=other_store, basket_minor=10 * EUROS, at=DAY))
    refused("voucher_store_not_allowed", lambda: voucher_use(voucher=voucher, store=None, basket_minor=10 * EUROS, at=DAY))
    assert voucher_use(voucher=voucher, store=store, basket_minor=10 * EUROS, at=DAY).value_minor == 5 * EUROS


def test_a_voucher_past_its_date_is_refused_even_before_the_expiry_job_runs(org, program, member, store):
    reward = make_reward(program, cost=10, voucher_days=7)
    give_points(program, member, 10, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    error = refused("voucher_expired", lambda: voucher_use(voucher=voucher, store=store, basket_minor=10 * EUROS, at=DAY + dt.timedelta(days=7)))
    assert error.extra == {"expired_at": voucher.expires_at.isoformat()}
    assert voucher_use(voucher=voucher, store=store, basket_minor=10 * EUROS, at=DAY + dt.timedelta(days=7, seconds=-1)).value_minor == 500


def test_a_basket_below_the_minimum_is_refused(org, program, member, store):
    reward = make_reward(program, cost=10, min_basket_minor=15 * EUROS)
    give_points(program, member, 10, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    refused("minimum_basket_not_met", lambda: voucher_use(voucher=voucher, store=store, basket_minor=15 * EUROS - 1, at=DAY))


def test_a_used_voucher_is_refused_the_second_time(org, program, member, store):
    reward = make_reward(program, cost=10)
    give_points(program, member, 10, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    stale = Voucher.objects.get(pk=voucher.pk)
    voucher_use(voucher=voucher, store=store, basket_minor=10 * EUROS, at=DAY)
    refused("voucher_used", lambda: voucher_use(voucher=voucher, store=store, basket_minor=10 * EUROS, at=DAY))
    # Even from a copy read before it was used (a second till with an old screen)
    refused("voucher_used", lambda: voucher_use(voucher=stale, store=store, basket_minor=10 * EUROS, at=DAY))


def test_a_cancelled_voucher_is_refused_at_the_till(org, program, member, store):
    reward = make_reward(program, cost=10)
    give_points(program, member, 10, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    stale = Voucher.objects.get(pk=voucher.pk)
    voucher_cancel(voucher=voucher, program=program, actor=STAFF, at=DAY)
    refused("voucher_cancelled", lambda: voucher_use(voucher=voucher, store=store, basket_minor=10 * EUROS, at=DAY))
    with pytest.raises(DomainError) as caught:  # a copy read before the cancellation loses the race cleanly
        voucher_use(voucher=stale, store=store, basket_minor=10 * EUROS, at=DAY)
    assert caught.value.code in {"voucher_cancelled", "voucher_used"}
    assert Voucher.objects.get(pk=voucher.pk).status == VoucherStatus.CANCELLED


def test_a_partner_code_is_not_used_at_the_till(org, program, member, store):
    reward = make_reward(program, RewardKind.PARTNER_CODE, cost=10)
    reward_add_codes(reward=reward, codes=["P-1"], actor=STAFF)
    give_points(program, member, 10, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    refused("voucher_not_usable_at_till", lambda: voucher_use(voucher=voucher, store=store, basket_minor=10 * EUROS, at=DAY))


def test_an_empty_wallet_is_refused(org, program, member, store):
    give_points(program, member, 10, occurred_at=DAY)
    refused("wallet_empty", lambda: wallet_spend(program=program, member=member, basket_minor=10 * EUROS, store=store, at=DAY))
    refused("invalid_amount", lambda: wallet_spend(program=program, member=member, basket_minor=0, store=store, at=DAY))


def test_a_basket_out_of_range_is_refused(org, program, member, store):
    reward = make_reward(program, cost=10)
    give_points(program, member, 10, occurred_at=DAY)
    voucher = redeem(program, member, reward).voucher
    refused("invalid_amount", lambda: voucher_use(voucher=voucher, store=store, basket_minor=-1, at=DAY))


# --- bad catalog input ---------------------------------------------------------------------------

NAIVE = dt.datetime(2025, 3, 1, 12)


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"kind": "lottery"}, "invalid_reward", "kind"),
        ({"title_fr": "  "}, "invalid_reward", "title_fr"),
        ({"cost_points": 0}, "invalid_reward", "cost_points"),
        ({"cost_points": 10**9 + 1}, "invalid_reward", "cost_points"),
        ({"cost_points": "50"}, "invalid_reward", "cost_points"),
        ({"stock": -1}, "invalid_reward", "stock"),
        ({"stock": 10**9 + 1}, "invalid_reward", "stock"),
        ({"limit_per_member": 0}, "invalid_reward", "limit_per_member"),
        ({"amount_minor": -1}, "invalid_reward", "amount_minor"),
        ({"amount_minor": 10**11 + 1}, "invalid_reward", "amount_minor"),
        ({"min_basket_minor": -1}, "invalid_reward", "min_basket_minor"),
        ({"percent_bp": 10001}, "invalid_reward", "percent_bp"),
        ({"percent_bp": -1}, "invalid_reward", "percent_bp"),
        ({"voucher_days": 0}, "invalid_reward", "voucher_days"),
        ({"voucher_days": 3651}, "invalid_reward", "voucher_days"),
        ({"valid_from": NAIVE}, "naive_datetime", "valid_from"),
        ({"valid_until": NAIVE}, "naive_datetime", "valid_until"),
        ({"valid_from": at(2025, 3, 1), "valid_until": at(2025, 3, 1)}, "invalid_reward", "valid_until"),
        ({"allowed_tiers": "gold"}, "invalid_reward", "allowed_tiers"),
        ({"allowed_tiers": ["gold", ""]}, "invalid_reward", "allowed_tiers"),
        ({"kind": RewardKind.VOUCHER_AMOUNT, "amount_minor": 0}, "invalid_reward", "amount_minor"),
        ({"kind": RewardKind.VOUCHER_PERCENT, "percent_bp": 0}, "invalid_reward", "percent_bp"),
        ({"kind": RewardKind.WALLET_CREDIT, "amount_minor": 0}, "invalid_reward", "amount_minor"),
        ({"kind": RewardKind.DONATION, "charity_name": ""}, "invalid_reward", "charity_name"),
        ({"colour": "red"}, "invalid_reward", None),
    ],
)
def test_bad_catalog_input_is_refused_field_by_field(org, program, fields, code, field):
    values = {"kind": RewardKind.VOUCHER_AMOUNT, "title_fr": "Bon de 5 €", "cost_points": 50, "amount_minor": 500, **fields}
    error = refused(code, lambda: reward_create(organization=org, program=program, actor=STAFF, **values))
    if field:
        assert error.extra["field"] == field
    assert Reward.objects.count() == 0


def test_wallet_credit_is_refused_in_a_cashback_program():
    program = program_of(make_org("cashback-cafe", currency_mode="cashback"))
    error = refused(
        "reward_kind_not_in_cashback",
        lambda: reward_create(organization=program.organization, program=program, actor=STAFF, kind=RewardKind.WALLET_CREDIT,
                              title_fr="3 € offerts", cost_points=300, amount_minor=300),
    )
    assert error.status == 422
    assert Reward.objects.count() == 0


def test_a_store_of_another_organization_is_refused(org, program):
    foreign = store_create(organization=make_org("autre-cafe"), code="x", name="Ailleurs")
    refused("invalid_reward", lambda: make_reward(program, cost=10, stores=[foreign]))
    reward = make_reward(program, cost=10)
    refused("invalid_reward", lambda: reward_update(reward=reward, program=program, actor=STAFF, stores=[foreign]))


def test_a_bad_update_leaves_the_reward_as_it_was(org, program):
    reward = make_reward(program, cost=10, stock=5)
    stored = Reward.objects.filter(pk=reward.pk).values().get()
    refused("invalid_reward", lambda: reward_update(reward=reward, program=program, actor=STAFF, cost_points=20, percent_bp=20000))
    refused("invalid_reward", lambda: reward_update(reward=reward, program=program, actor=STAFF, kind=RewardKind.DONATION))
    refused("invalid_reward", lambda: reward_update(reward=reward, program=program, actor=STAFF, amount_minor=0))
    assert Reward.objects.filter(pk=reward.pk).values().get() == stored
    # And a good one changes only what it names
    reward_update(reward=reward, program=program, actor=STAFF, cost_points=20)
    assert Reward.objects.filter(pk=reward.pk).values().get() == {**stored, "cost_points": 20}


def test_codes_are_only_for_a_partner_reward_and_must_be_given(org, program):
    voucher_reward = make_reward(program, cost=10)
    refused("reward_has_no_codes", lambda: reward_add_codes(reward=voucher_reward, codes=["A"], actor=STAFF))
    partner = make_reward(program, RewardKind.PARTNER_CODE, cost=10)
    refused("invalid_reward", lambda: reward_add_codes(reward=partner, codes=["", "  "], actor=STAFF))
    refused("invalid_reward", lambda: reward_add_codes(reward=partner, codes=["A" * 201], actor=STAFF))


# --- cancelling ------------------------------------------------------------------------------------


def test_cancelling_a_copy_read_before_the_voucher_closed_says_what_closed_it(org, program, member, store):
    # Given two vouchers, each looked up before it was closed elsewhere
    reward = make_reward(program, cost=10, voucher_days=7, refund_points_on_expiry=True)
    give_points(program, member, 20, occurred_at=DAY)
    expiring, used = (redeem(program, member, reward).voucher for _ in range(2))
    stale_expiring, stale_used = Voucher.objects.get(pk=expiring.pk), Voucher.objects.get(pk=used.pk)
    voucher_use(voucher=used, store=store, basket_minor=10 * EUROS, at=DAY)
    assert vouchers_expire_due(at=DAY + dt.timedelta(days=7)) == 1
    assert available(member) == 10  # the expired voucher's points are back, once
    # When they are cancelled from those copies, each refusal names what happened
    refused("voucher_expired", lambda: voucher_cancel(voucher=stale_expiring, program=program, actor=STAFF, at=DAY + dt.timedelta(days=8)))
    refused("voucher_used", lambda: voucher_cancel(voucher=stale_used, program=program, actor=STAFF, at=DAY + dt.timedelta(days=8)))
    assert available(member) == 10
    assert_ledger_consistent(org)
