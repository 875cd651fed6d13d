"""Campaign offers, told as stories: a special price, offer tracking per campaign offer, and
every refusal with its own code and nothing changed."""

import datetime as dt
from collections.abc import Callable
from fractions import Fraction

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fidelo.conftest import STAFF, at, make_member, make_org, program_of
from fidelo.core.errors import DomainError
from fidelo.core.models import AuditEntry
from fidelo.ledger.tests.helpers import assert_ledger_consistent, available
from fidelo.rewards.campaign_selectors import (
    access_campaign,
    campaign_offer_counts,
    campaign_stats,
    current_campaigns,
    per_mille,
)
from fidelo.rewards.campaigns import (
    campaign_create,
    campaign_offer_remove,
    campaign_offer_seen,
    campaign_offer_set,
    campaign_update,
)
from fidelo.rewards.models import (
    Campaign,
    CampaignOffer,
    OfferEvent,
    OfferEventKind,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from fidelo.rewards.selectors import offer_stats
from fidelo.rewards.services import (
    redemption_apply_with_receipt,
    redemption_plan,
    reward_add_codes,
    reward_redeem,
    voucher_cancel,
    voucher_use,
)
from fidelo.rewards.tests.helpers import EUROS, give_points, make_reward, snapshot

pytestmark = pytest.mark.django_db

DAY = at(2025, 6, 10, 10)
START = at(2025, 6, 1, 0)
END = at(2025, 7, 1, 0)


def make_campaign(org, code="ete", *, starts_at=START, ends_at=END, **fields) -> Campaign:
    return campaign_create(organization=org, actor=STAFF, code=code, name_fr="Offres d'été", name_en="Summer offers",
                           starts_at=starts_at, ends_at=ends_at, **fields)


def campaign_rows() -> dict:
    return {
        "campaigns": sorted(Campaign.objects.values_list("pk", "code", "name_fr", "starts_at", "ends_at", "active")),
        "offers": sorted(CampaignOffer.objects.values_list("pk", "campaign_id", "reward_id", "cost_points", "position")),
        "audit": AuditEntry.objects.count(),
    }


def refused(code: str, attempt: Callable[[], object]) -> DomainError:
    """Run `attempt`, expect a refusal with `code`, and check that nothing changed."""
    before = (snapshot(), campaign_rows())
    with pytest.raises(DomainError) as caught:
        attempt()
    assert caught.value.code == code, (caught.value.code, caught.value.detail)
    assert (snapshot(), campaign_rows()) == before
    return caught.value


def events(member, kind, campaign=None):
    rows = OfferEvent.objects.filter(member=member, kind=kind)
    return rows.filter(campaign=campaign) if campaign is not None else rows


# --- worked examples -----------------------------------------------------------------------------


def test_a_campaign_offers_a_reward_at_a_special_price(org, program, member, store):
    # Given a 5 € voucher for 50 points in the catalog, offered at 30 points by the summer campaign
    reward = make_reward(program, RewardKind.VOUCHER_AMOUNT, cost=50, amount_minor=5 * EUROS, title_fr="Bon de 5 €")
    summer = make_campaign(org)
    offer = campaign_offer_set(campaign=summer, reward=reward, actor=STAFF, cost_points=30)
    assert offer.cost == 30
    give_points(program, member, 80, occurred_at=DAY - dt.timedelta(days=2))
    # When the member redeems it through the campaign
    voucher = reward_redeem(program=program, member=member, reward=reward, channel="portal", at=DAY, campaign=summer).voucher
    # Then 30 points are taken, not 50, and the voucher names the campaign
    assert available(member) == 50
    assert (voucher.points, voucher.campaign_id, voucher.status) == (30, summer.pk, VoucherStatus.ISSUED)
    assert Voucher.objects.get(pk=voucher.pk).campaign_id == summer.pk
    # And outside the campaign the same reward still costs 50
    outside = reward_redeem(program=program, member=member, reward=reward, at=DAY)
    assert (outside.voucher.points, outside.voucher.campaign_id) == (50, None)
    assert available(member) == 0
    # And cancelling the campaign voucher gives back the 30 points it cost
    voucher_cancel(voucher=voucher, program=program, actor=STAFF, at=DAY + dt.timedelta(hours=1))
    assert available(member) == 30
    assert_ledger_consistent(org)


def test_without_a_special_cost_the_offer_costs_what_the_reward_costs(org, program, member):
    reward = make_reward(program, cost=40)
    summer = make_campaign(org)
    assert campaign_offer_set(campaign=summer, reward=reward, actor=STAFF).cost == 40
    give_points(program, member, 40, occurred_at=DAY)
    assert reward_redeem(program=program, member=member, reward=reward, at=DAY, campaign=summer).voucher.points == 40
    assert available(member) == 0


def test_seen_requested_used_are_counted_per_campaign_offer(org, program, store):
    # Given a free coffee (30 points) offered by the campaign at 20 points, and a croissant at its own cost
    coffee = make_reward(program, RewardKind.FREE_PRODUCT, cost=30, product_sku="CAFE", title_fr="Café offert")
    croissant = make_reward(program, RewardKind.FREE_PRODUCT, cost=25, product_sku="CROISSANT", title_fr="Croissant offert")
    summer = make_campaign(org)
    campaign_offer_set(campaign=summer, reward=coffee, actor=STAFF, cost_points=20, position=1)
    campaign_offer_set(campaign=summer, reward=croissant, actor=STAFF, position=2)
    anne, bruno, chloe = (make_member(org, first_name=name) for name in ("Anne", "Bruno", "Chloé"))
    for person in (anne, bruno, chloe):
        give_points(program, person, 100, occurred_at=DAY - dt.timedelta(days=1))
    # When the three see the coffee offer (Anne twice), Anne and Bruno redeem it, and Anne uses hers
    for person in (anne, anne, bruno, chloe):
        campaign_offer_seen(campaign=summer, reward=coffee, member=person, at=DAY)
    anne_voucher = reward_redeem(program=program, member=anne, reward=coffee, at=DAY, campaign=summer).voucher
    reward_redeem(program=program, member=bruno, reward=coffee, at=DAY, campaign=summer)
    voucher_use(voucher=anne_voucher, store=store, basket_minor=380, lines=[("CAFE", 1, 380)], at=DAY + dt.timedelta(hours=2))
    # And Chloé redeems the same coffee from the catalog, outside the campaign, and uses it
    chloe_voucher = reward_redeem(program=program, member=chloe, reward=coffee, at=DAY).voucher
    voucher_use(voucher=chloe_voucher, store=store, basket_minor=380, lines=[("CAFE", 1, 380)], at=DAY + dt.timedelta(hours=3))
    # Then the campaign offer counts 3 members who saw it, 2 who redeemed, 1 who used
    coffee_stats, croissant_stats = campaign_stats(summer)
    assert (coffee_stats.reward_id, coffee_stats.cost_points, coffee_stats.special_cost) == (coffee.pk, 20, True)
    assert (coffee_stats.seen, coffee_stats.requested, coffee_stats.used) == (3, 2, 1)
    assert coffee_stats.penetration_rate == Fraction(2, 3) and coffee_stats.penetration_per_mille == 667
    assert coffee_stats.usage_rate == Fraction(1, 2) and coffee_stats.usage_per_mille == 500
    # And the croissant, offered but untouched, has no rates
    assert (croissant_stats.reward_id, croissant_stats.cost_points, croissant_stats.special_cost) == (croissant.pk, 25, False)
    assert (croissant_stats.seen, croissant_stats.requested, croissant_stats.used) == (0, 0, 0)
    assert croissant_stats.penetration_rate is None and croissant_stats.usage_per_mille is None
    # And the reward's own totals count every event, Chloé's catalog redemption included
    totals = offer_stats(coffee)
    assert (totals.seen, totals.requested, totals.used) == (3, 3, 2)
    # And the used events of the campaign vouchers name the campaign, Chloé's does not
    assert events(anne, OfferEventKind.USED).get().campaign_id == summer.pk
    assert events(chloe, OfferEventKind.USED).get().campaign_id is None
    assert events(bruno, OfferEventKind.REQUESTED).get().campaign_id == summer.pk
    assert campaign_offer_counts(org.id) == {(summer.pk, coffee.pk): {"seen": 3, "requested": 2, "used": 1}}


def test_rewards_delivered_at_once_record_the_campaign_on_their_used_event(org, program, member):
    cinema = make_reward(program, RewardKind.PARTNER_CODE, cost=40, title_fr="Place de cinéma")
    reward_add_codes(reward=cinema, codes=["CINE-1"], actor=STAFF)
    donation = make_reward(program, RewardKind.DONATION, cost=20)
    summer = make_campaign(org)
    campaign_offer_set(campaign=summer, reward=cinema, actor=STAFF, cost_points=35)
    campaign_offer_set(campaign=summer, reward=donation, actor=STAFF)
    give_points(program, member, 55, occurred_at=DAY)
    redemption = reward_redeem(program=program, member=member, reward=cinema, at=DAY, campaign=summer)
    reward_redeem(program=program, member=member, reward=donation, at=DAY, campaign=summer)
    assert redemption.partner_code == "CINE-1" and available(member) == 0
    used = events(member, OfferEventKind.USED)
    assert sorted(used.values_list("reward_id", "campaign_id")) == sorted([(cinema.pk, summer.pk), (donation.pk, summer.pk)])
    assert [(s.requested, s.used) for s in campaign_stats(summer)] == [(1, 1), (1, 1)]


def test_a_removed_offer_keeps_its_statistics_and_can_no_longer_be_redeemed(org, program, member):
    reward = make_reward(program, cost=10)
    summer = make_campaign(org)
    campaign_offer_set(campaign=summer, reward=reward, actor=STAFF)
    give_points(program, member, 30, occurred_at=DAY)
    reward_redeem(program=program, member=member, reward=reward, at=DAY, campaign=summer)
    campaign_offer_remove(campaign=summer, reward=reward, actor=STAFF)
    (stats,) = campaign_stats(summer)
    assert (stats.offered, stats.cost_points, stats.requested) == (False, None, 1)
    refused("offer_not_in_campaign", lambda: reward_redeem(program=program, member=member, reward=reward, at=DAY, campaign=summer))


def test_the_campaigns_on_now_and_their_redeemable_offers(org, program):
    coffee = make_reward(program, cost=30, title_fr="Café")
    cake = make_reward(program, cost=60, title_fr="Gâteau")
    gone = make_reward(program, cost=10, title_fr="Épuisé", stock=0)
    summer = make_campaign(org, "ete")
    campaign_offer_set(campaign=summer, reward=cake, actor=STAFF, cost_points=45, position=1)
    campaign_offer_set(campaign=summer, reward=coffee, actor=STAFF, position=2)
    campaign_offer_set(campaign=summer, reward=gone, actor=STAFF, position=0)
    for code, fields in {
        "eteinte": {"active": False},
        "plus-tard": {"starts_at": END, "ends_at": None},
        "finie": {"starts_at": at(2025, 5, 1), "ends_at": START},
    }.items():
        campaign_offer_set(campaign=make_campaign(org, code, **fields), reward=coffee, actor=STAFF)
    make_campaign(org, "vide")  # on now, but offers nothing
    other = make_org("autre-cafe")
    campaign_offer_set(campaign=make_campaign(other, "ete"), reward=make_reward(program_of(other), cost=5), actor=STAFF)

    (current,) = current_campaigns(org.id, at=DAY)
    assert current.campaign == summer
    assert [(offer.reward.title_fr, offer.cost) for offer in current.offers] == [("Gâteau", 45), ("Café", 30)]
    assert [c.campaign.code for c in current_campaigns(org.id, at=END)] == ["plus-tard"]  # the summer's end is excluded
    assert [c.campaign.code for c in current_campaigns(org.id, at=START)] == ["ete"]  # the start is included
    assert access_campaign(org.id, "ete") == summer
    refused("campaign_not_found", lambda: access_campaign(other.id, "eteinte"))


def test_staff_changes_leave_audit_rows(org, program):
    reward = make_reward(program, cost=10)
    summer = make_campaign(org)
    campaign_update(campaign=summer, actor=STAFF, name_en="Summer deals", ends_at=at(2025, 8, 1))
    campaign_offer_set(campaign=summer, reward=reward, actor=STAFF, cost_points=8)
    campaign_offer_set(campaign=summer, reward=reward, actor=STAFF, cost_points=None)
    campaign_offer_remove(campaign=summer, reward=reward, actor=STAFF)
    actions = list(AuditEntry.objects.filter(target_type="campaign").order_by("pk").values_list("action", flat=True))
    assert actions == ["campaign.create", "campaign.update", "campaign.offer_set", "campaign.offer_set", "campaign.offer_remove"]
    summer.refresh_from_db()
    assert (summer.name_en, summer.ends_at) == ("Summer deals", at(2025, 8, 1))
    assert not CampaignOffer.objects.exists()


def test_rates_are_rounded_half_up_in_integers():
    assert [per_mille(2, 3), per_mille(1, 3), per_mille(1, 2000), per_mille(1, 2001), per_mille(5, 4), per_mille(0, 7)] == [
        667, 333, 1, 0, 1250, 0,
    ]
    assert per_mille(3, 0) is None


# --- refusals: each its own code, nothing changed -------------------------------------------------


@pytest.fixture
def offered(org, program, member):
    """A 50-point reward offered at 30 by the summer campaign; the member has 40 points."""
    reward = make_reward(program, cost=50)
    summer = make_campaign(org)
    campaign_offer_set(campaign=summer, reward=reward, actor=STAFF, cost_points=30)
    give_points(program, member, 40, occurred_at=DAY - dt.timedelta(days=1))
    return summer, reward


def redeem_through(program, member, reward, campaign, when=DAY):
    return lambda: reward_redeem(program=program, member=member, reward=reward, at=when, campaign=campaign)


def test_a_switched_off_campaign_is_refused(org, program, member, offered):
    summer, reward = offered
    campaign_update(campaign=summer, actor=STAFF, active=False)
    summer.refresh_from_db()
    refused("campaign_not_active", redeem_through(program, member, reward, summer))


def test_before_the_start_and_from_the_end_the_campaign_is_refused(program, member, offered):
    summer, reward = offered
    assert refused("campaign_not_started", redeem_through(program, member, reward, summer, START - dt.timedelta(seconds=1))).status == 409
    assert refused("campaign_ended", redeem_through(program, member, reward, summer, END)).status == 409


def test_a_reward_the_campaign_does_not_offer_is_refused(program, member, offered):
    summer, _reward = offered
    other = make_reward(program, cost=10)
    assert refused("offer_not_in_campaign", redeem_through(program, member, other, summer)).status == 404


def test_a_campaign_of_another_organization_is_refused(program, member, offered):
    _summer, reward = offered
    other = make_org("autre-cafe")
    theirs = make_campaign(other, "ete")
    refused("campaign_not_found", redeem_through(program, member, reward, theirs))
    refused("campaign_not_found", lambda: campaign_offer_seen(campaign=theirs, reward=reward, member=member, at=DAY))


def test_the_special_cost_is_what_the_balance_must_cover(org, program, member, offered):
    summer, reward = offered
    campaign_offer_set(campaign=summer, reward=reward, actor=STAFF, cost_points=41)
    problem = refused("insufficient_points", redeem_through(program, member, reward, summer))
    assert problem.extra["requested"] == 41


def test_the_rewards_own_refusals_still_apply(program, member, offered):
    summer, reward = offered
    from fidelo.rewards.services import reward_update

    reward_update(reward=reward, program=program, actor=STAFF, active=False)
    reward.refresh_from_db()
    refused("reward_inactive", redeem_through(program, member, reward, summer))


def test_seen_needs_an_offer_of_the_campaign(program, member, offered):
    summer, _reward = offered
    elsewhere = make_reward(program, cost=5)
    refused("offer_not_in_campaign", lambda: campaign_offer_seen(campaign=summer, reward=elsewhere, member=member, at=DAY))


@pytest.mark.parametrize(
    "code, fields",
    [
        ("invalid_campaign", {"code": "Été 2025"}),
        ("invalid_campaign", {"code": ""}),
        ("invalid_campaign", {"code": "x" * 65}),
        ("invalid_campaign", {"name_fr": "  "}),
        ("invalid_campaign", {"name_en": "x" * 201}),
        ("campaign_dates_invalid", {"ends_at": START}),
        ("campaign_dates_invalid", {"ends_at": START - dt.timedelta(days=1)}),
        ("naive_datetime", {"starts_at": dt.datetime(2025, 6, 1)}),  # no time zone
        ("campaign_code_taken", {"code": "ete"}),
    ],
    ids=["code_not_a_slug", "code_empty", "code_too_long", "no_french_name", "english_name_too_long", "ends_at_start",
         "ends_before_start", "naive_start", "code_taken"],
)
def test_bad_campaigns_are_refused(org, offered, code, fields):
    values = {"code": "hiver", "name_fr": "Hiver", "starts_at": START, "ends_at": END, **fields}
    refused(code, lambda: campaign_create(organization=org, actor=STAFF, **values))


def test_the_same_code_is_free_in_another_organization(org, offered):
    assert make_campaign(make_org("autre-cafe"), "ete").code == "ete"


@pytest.mark.parametrize(
    "code, changes",
    [
        ("campaign_dates_invalid", {"ends_at": at(2025, 5, 1)}),
        ("campaign_dates_invalid", {"starts_at": END}),
        ("invalid_campaign", {"code": "autre"}),
        ("invalid_campaign", {"name_fr": ""}),
        ("invalid_campaign", {"active": "yes"}),
    ],
    ids=["ends_before_start", "starts_at_end", "code_read_only", "no_french_name", "active_not_bool"],
)
def test_bad_campaign_changes_are_refused(offered, code, changes):
    summer, _reward = offered
    refused(code, lambda: campaign_update(campaign=summer, actor=STAFF, **changes))


@pytest.mark.parametrize("cost", [0, -5, 10**9 + 1, True, "30"])
def test_a_bad_special_cost_is_refused(offered, cost):
    summer, reward = offered
    refused("invalid_campaign", lambda: campaign_offer_set(campaign=summer, reward=reward, actor=STAFF, cost_points=cost))


def test_a_bad_position_is_refused(offered):
    summer, reward = offered
    refused("invalid_campaign", lambda: campaign_offer_set(campaign=summer, reward=reward, actor=STAFF, position=-1))


def test_a_reward_of_another_organization_cannot_be_offered_or_removed(offered):
    summer, _reward = offered
    foreign = make_reward(program_of(make_org("autre-cafe")), cost=5)
    refused("reward_not_found", lambda: campaign_offer_set(campaign=summer, reward=foreign, actor=STAFF))
    refused("reward_not_found", lambda: campaign_offer_remove(campaign=summer, reward=foreign, actor=STAFF))


def test_removing_an_offer_the_campaign_does_not_have_is_refused(program, offered):
    summer, _reward = offered
    elsewhere = make_reward(program, cost=5)
    refused("offer_not_in_campaign", lambda: campaign_offer_remove(campaign=summer, reward=elsewhere, actor=STAFF))


# --- the fast path stays as it was ------------------------------------------------------------------


def test_a_redemption_without_a_campaign_reads_nothing_of_the_campaigns(org, program, member):
    from fidelo.core.idempotency import Receipt

    reward = make_reward(program, cost=10)
    give_points(program, member, 20, occurred_at=DAY)
    reward_redeem(program=program, member=member, reward=reward, at=DAY)  # the first opens the account of redeemed points
    plan = redemption_plan(program=program, member=member, reward=reward, at=DAY)
    receipt = Receipt(organization_id=org.id, key="k-1", operation="reward.redeem", fingerprint="h")
    with CaptureQueriesContext(connection) as queries:
        redemption_apply_with_receipt(plan, receipt=receipt, respond=lambda r: (201, {"code": r.voucher.code}))
    statements = [query["sql"] for query in queries.captured_queries]
    assert not any("rewards_campaign" in sql for sql in statements)
    if connection.vendor == "postgresql":  # one round trip: the voucher comes from the prepared function call
        assert not any("INSERT INTO rewards_voucher" in sql for sql in statements)
    assert [voucher.campaign_id for voucher in Voucher.objects.all()] == [None, None]
