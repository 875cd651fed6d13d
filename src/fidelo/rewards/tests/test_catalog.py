"""The catalog as members see it, auto-redemption, and offer tracking."""

import datetime as dt

import pytest

from fidelo.conftest import STAFF, at, make_member, make_org, program_of
from fidelo.core.clock import travel_to
from fidelo.ledger.tests.helpers import assert_ledger_consistent, available
from fidelo.rewards.errors import RewardNotFound
from fidelo.rewards.jobs import auto_redeem_due
from fidelo.rewards.models import (
    AutoRedemption,
    OfferEvent,
    Reward,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from fidelo.rewards.selectors import (
    OfferStats,
    access_reward,
    catalog,
    member_vouchers,
    offer_stats,
)
from fidelo.rewards.services import (
    auto_redeem,
    auto_redemption_set,
    offer_seen,
    reward_add_codes,
    reward_redeem,
    reward_update,
    voucher_cancel,
    voucher_use,
)
from fidelo.rewards.tests.helpers import EUROS, give_points, make_reward

pytestmark = pytest.mark.django_db

DAY = at(2025, 3, 3, 10)


# --- the catalog ---------------------------------------------------------------------------------


def test_the_catalog_lists_what_is_on_offer_now_cheapest_first(org, program):
    # Given rewards on offer, and others inactive, not yet or no longer valid, out of stock, elsewhere
    cheap = make_reward(program, cost=20, title_fr="Café")
    dear = make_reward(program, cost=200, title_fr="Brunch", stock=3, valid_from=DAY - dt.timedelta(days=1), valid_until=DAY + dt.timedelta(days=1))
    middle = make_reward(program, cost=80, title_fr="Gâteau")
    hidden = [
        make_reward(program, cost=10, active=False),
        make_reward(program, cost=10, valid_from=DAY + dt.timedelta(hours=1)),
        make_reward(program, cost=10, valid_until=DAY),
        make_reward(program, cost=10, stock=0),
    ]
    make_reward(program_of(make_org("autre-cafe")), cost=5)
    # Then the members see the three on offer, cheapest first
    assert list(catalog(org.id, at=DAY)) == [cheap, middle, dear]
    # And the back office sees the whole catalog of this organization
    assert set(catalog(org.id, at=DAY, include_inactive=True)) == {cheap, middle, dear, *hidden}
    # And the catalog follows the clock
    with travel_to(DAY + dt.timedelta(days=2)):
        assert list(catalog(org.id)) == [hidden[1], cheap, middle]  # the brunch is over, the new one has begun


def test_a_partner_reward_is_on_offer_while_its_pool_has_a_free_code(org, program, member):
    reward = make_reward(program, RewardKind.PARTNER_CODE, cost=10)
    assert list(catalog(org.id, at=DAY)) == []  # no code uploaded yet
    reward_add_codes(reward=reward, codes=["P-1"], actor=STAFF)
    assert list(catalog(org.id, at=DAY)) == [reward]
    give_points(program, member, 10, occurred_at=DAY)
    reward_redeem(program=program, member=member, reward=reward, at=DAY)
    assert list(catalog(org.id, at=DAY)) == []  # the last code is taken
    assert list(catalog(org.id, at=DAY, include_inactive=True)) == [reward]


def test_a_reward_is_found_only_in_its_own_organization(org, program):
    reward = make_reward(program, cost=10)
    assert access_reward(org.id, reward.pk) == reward
    other = make_org("autre-cafe")
    for organization_id, reward_id in ((other.id, reward.pk), (org.id, 0), (org.id, 2**63)):
        with pytest.raises(RewardNotFound):
            access_reward(organization_id, reward_id)


def test_a_members_vouchers_newest_first_by_status(org, program, member, store):
    reward = make_reward(program, cost=10)
    give_points(program, member, 30, occurred_at=DAY)
    first, second, third = (reward_redeem(program=program, member=member, reward=reward, at=DAY + dt.timedelta(hours=n)).voucher for n in range(3))
    voucher_use(voucher=first, store=store, basket_minor=10 * EUROS, at=DAY + dt.timedelta(hours=5))
    voucher_cancel(voucher=second, program=program, actor=STAFF, at=DAY + dt.timedelta(hours=5))
    assert list(member_vouchers(member)) == [third, second, first]
    assert list(member_vouchers(member, status=VoucherStatus.ISSUED)) == [third]
    assert list(member_vouchers(member, status=VoucherStatus.USED)) == [first]
    assert list(member_vouchers(make_member(org))) == []


def test_an_update_changes_what_the_catalog_offers(org, program):
    reward = make_reward(program, cost=10, stock=1)
    reward_update(reward=reward, program=program, actor=STAFF, stock=0)
    assert list(catalog(org.id, at=DAY)) == []
    reward_update(reward=reward, program=program, actor=STAFF, stock=None, title_en="Coffee")
    assert list(catalog(org.id, at=DAY)) == [reward]
    assert Reward.objects.get(pk=reward.pk).title("en") == "Coffee"


# --- auto-redemption -------------------------------------------------------------------------------


def test_auto_redemption_issues_the_chosen_reward_only_when_the_balance_allows_it(org, program, member):
    # Given a member who chose to get a 50-point voucher as soon as they can, with 40 points
    reward = make_reward(program, cost=50)
    give_points(program, member, 40, occurred_at=DAY)
    auto_redemption_set(member=member, reward=reward)
    # Then nothing is issued yet
    assert auto_redeem(program=program, member=member, at=DAY) == []
    assert Voucher.objects.count() == 0
    # When they earn 130 more (170 in all)
    give_points(program, member, 130, occurred_at=DAY)
    # Then three vouchers are issued at once, and 20 points are left
    issued = auto_redeem(program=program, member=member, at=DAY)
    assert len(issued) == 3 and all(voucher.channel == "auto" for voucher in issued)
    assert available(member) == 20
    # And again nothing while the balance is short
    assert auto_redeem(program=program, member=member, at=DAY) == []
    # And once they opt out, nothing more is issued
    give_points(program, member, 100, occurred_at=DAY)
    assert auto_redemption_set(member=member, reward=None) is None
    assert auto_redeem(program=program, member=member, at=DAY) == []
    assert (Voucher.objects.count(), available(member)) == (3, 120)
    assert_ledger_consistent(org)


def test_auto_redemption_stops_when_the_stock_runs_out(org, program, member):
    reward = make_reward(program, cost=50, stock=2)
    give_points(program, member, 500, occurred_at=DAY)
    auto_redemption_set(member=member, reward=reward)
    assert len(auto_redeem(program=program, member=member, at=DAY)) == 2
    assert (Reward.objects.get(pk=reward.pk).stock, available(member)) == (0, 400)
    assert auto_redeem(program=program, member=member, at=DAY) == []
    assert_ledger_consistent(org)


def test_choosing_another_reward_replaces_the_choice(org, program, member):
    first, second = make_reward(program, cost=50), make_reward(program, cost=30)
    auto_redemption_set(member=member, reward=first)
    auto_redemption_set(member=member, reward=second)
    assert AutoRedemption.objects.get(member=member).reward == second
    with pytest.raises(RewardNotFound):
        auto_redemption_set(member=member, reward=make_reward(program_of(make_org("autre-cafe")), cost=5))
    assert AutoRedemption.objects.get(member=member).reward == second


def test_the_auto_redemption_job_serves_every_member_whose_balance_allows_it(org, program):
    reward = make_reward(program, cost=50)
    rich, poor, undecided = make_member(org), make_member(org), make_member(org)
    give_points(program, rich, 120, occurred_at=DAY)
    give_points(program, poor, 30, occurred_at=DAY)
    give_points(program, undecided, 500, occurred_at=DAY)
    auto_redemption_set(member=rich, reward=reward)
    auto_redemption_set(member=poor, reward=reward)
    assert auto_redeem_due(at=DAY) == 2
    assert (available(rich), available(poor), available(undecided)) == (20, 30, 500)
    assert auto_redeem_due(at=DAY) == 0
    assert_ledger_consistent(org)


# --- offer tracking ----------------------------------------------------------------------------------


def test_offer_stats_count_distinct_members_who_saw_requested_and_used_an_offer(org, program, store):
    reward = make_reward(program, cost=10)
    assert offer_stats(reward) == OfferStats(reward_id=reward.pk, seen=0, requested=0, used=0, penetration_rate=None, usage_rate=None)
    anne, paul, lea, marc = (make_member(org) for _ in range(4))
    # Given four members who saw the offer (Anne three times)
    for member in (anne, anne, anne, paul, lea, marc):
        offer_seen(reward=reward, member=member, at=DAY)
    # And Anne redeemed it twice and Paul once; only Anne used a voucher
    for member in (anne, paul):
        give_points(program, member, 20, occurred_at=DAY)
    vouchers = [reward_redeem(program=program, member=member, reward=reward, at=DAY).voucher for member in (anne, anne, paul)]
    voucher_use(voucher=vouchers[0], store=store, basket_minor=10 * EUROS, at=DAY)
    voucher_use(voucher=vouchers[1], store=store, basket_minor=10 * EUROS, at=DAY)
    # Then 4 saw it, 2 requested it (50 % penetration), 1 used it (50 % usage)
    assert offer_stats(reward) == OfferStats(reward_id=reward.pk, seen=4, requested=2, used=1, penetration_rate=0.5, usage_rate=0.5)
    # And another reward's tracking is its own
    other = make_reward(program, cost=10)
    offer_seen(reward=other, member=lea, at=DAY)
    assert offer_stats(other).seen == 1 and offer_stats(reward).seen == 4


def test_an_offer_seen_in_another_organization_is_refused(org, program, member):
    reward = make_reward(program_of(make_org("autre-cafe")), cost=10)
    with pytest.raises(RewardNotFound):
        offer_seen(reward=reward, member=member, at=DAY)
    assert OfferEvent.objects.count() == 0
