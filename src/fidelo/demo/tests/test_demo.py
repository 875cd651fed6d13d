"""The demo seeding: two merchants, members, a short period of activity, through the services."""

import datetime as dt
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.db.models import Count
from django.core.management import call_command
from django.core.management.base import CommandError

from fidelo.demo.seed import CAFE, DEMO_LOGINS, GYM, MERCHANTS, DemoAlreadySeeded, Planner, demo_is_seeded, seed_demo
from fidelo.ledger.models import Account, AccountKind, Transfer, TransferKind
from fidelo.ledger.selectors import ledger_verify
from fidelo.members.identifiers import is_valid_card_number
from fidelo.members.models import Consent, Member
from fidelo.purchases.models import Purchase, PurchaseLine, Refund, Visit
from fidelo.rewards.models import AutoRedemption, OfferEvent, PartnerCode, Reward, Voucher, VoucherStatus
from fidelo.rewards.selectors import charity_totals, offer_stats
from fidelo.tenancy.models import Organization, Program, StaffMembership, Store

MEMBERS = 30
MONTHS = 2


@pytest.fixture
def seeded(db):
    return seed_demo(members_per_org=MEMBERS, months=MONTHS, seed=7)


def kinds(org: Organization) -> set[str]:
    return set(Transfer.objects.filter(organization=org).values_list("kind", flat=True))


def test_nothing_is_seeded_at_first(db):
    assert demo_is_seeded() is False


def test_the_demo_holds_two_merchants_with_stores_staff_and_programs(seeded):
    gym, cafe = Organization.objects.get(slug=GYM), Organization.objects.get(slug=CAFE)
    for org in (gym, cafe):
        assert (org.timezone, org.currency, org.locale) == ("Europe/Paris", "EUR", "fr")
        assert Store.objects.filter(organization=org).count() == 2
    assert set(Store.objects.filter(organization=cafe).values_list("city", flat=True)) == {"Paris", "Lyon"}
    gym_program, cafe_program = Program.objects.get(organization=gym), Program.objects.get(organization=cafe)
    assert (gym_program.pending_days, gym_program.expiry_months, gym_program.transfers_allowed) == (14, 12, False)
    assert (cafe_program.pending_days, cafe_program.transfers_allowed) == (0, True)
    for login in DEMO_LOGINS:
        user = authenticate(username=login["email"], password=login["password"])
        assert user is not None, login["email"]
        assert StaffMembership.objects.get(user=user).organization.slug == login["slug"]
    assert authenticate(username=DEMO_LOGINS[0]["email"], password="wrong") is None
    assert all(org.api_key.startswith("fid_") for org in seeded.organizations)
    assert seeded.clock_moved


def test_members_have_cards_unique_contacts_and_a_store(seeded):
    for slug in (GYM, CAFE):
        members = list(Member.objects.filter(organization__slug=slug))
        assert len(members) == MEMBERS
        assert all(is_valid_card_number(m.card_number) for m in members)
        assert all(m.enrolled_store_id is not None and m.enrolled_store.organization.slug == slug for m in members)
        assert all(m.first_name and m.last_name for m in members)
        emails = [m.email for m in members if m.email]
        phones = [m.phone for m in members if m.phone]
        assert len(emails) == len(set(emails)) > MEMBERS // 2
        assert len(phones) == len(set(phones)) > MEMBERS // 3
        assert all(phone.startswith(("+3363998", "+3319900")) for phone in phones)  # numbers reserved for fiction
        assert sum(1 for m in members if m.birthday) > MEMBERS // 2
        oldest = min(m.enrolled_at for m in members)
        assert oldest >= seeded_start(MONTHS)
    assert Consent.objects.filter(member__organization__slug=CAFE).exists()


def seeded_start(months: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=round(months * 365.25 / 12) + 2)


def test_activity_is_recorded_through_the_services_and_the_ledger_verifies(seeded):
    gym, cafe = Organization.objects.get(slug=GYM), Organization.objects.get(slug=CAFE)
    assert Purchase.objects.filter(organization=cafe).count() > MEMBERS
    assert PurchaseLine.objects.filter(purchase__organization=cafe, sku="CDA-ESP").exists() or PurchaseLine.objects.filter(
        purchase__organization=cafe, category="boissons chaudes"
    ).exists()
    assert Purchase.objects.filter(organization=gym, channel="online").exists()  # subscriptions
    assert Purchase.objects.filter(organization=gym, channel="offline").exists()  # cards and the shop
    assert Visit.objects.filter(organization=gym).count() > MEMBERS
    assert Refund.objects.filter(organization=gym).exists() and Refund.objects.filter(organization=cafe).exists()
    refunds = Refund.objects.all()
    assert any(r.lines for r in refunds)  # by lines
    assert any(not r.lines and r.amount_minor < r.purchase.total_minor for r in refunds) or any(
        not r.lines and r.amount_minor == r.purchase.total_minor for r in refunds
    )
    assert TransferKind.REDEEM in kinds(cafe)
    redemption = Transfer.objects.filter(organization=cafe, kind=TransferKind.REDEEM).first()
    assert redemption.reason == "redemption" and redemption.reason_params["label"]
    assert TransferKind.RELEASE in kinds(gym)  # 14-day pending period, released by the nightly job
    assert Transfer.objects.filter(kind=TransferKind.ADJUST, reason="adjustment").exclude(note="").exists()
    assert ledger_verify() == []
    assert not Account.objects.filter(member__isnull=False, kind=AccountKind.PENDING, balance__lt=0).exists()
    assert demo_is_seeded() is True
    counts = {org.slug: org.counts for org in seeded.organizations}
    assert counts[CAFE]["purchases"] == Purchase.objects.filter(organization=cafe).count()


def test_a_second_run_refuses_cleanly_and_changes_nothing(seeded):
    before = (Transfer.objects.count(), Member.objects.count(), Purchase.objects.count())
    with pytest.raises(DemoAlreadySeeded):
        seed_demo(members_per_org=5, months=1)
    out = StringIO()
    call_command("demo", "--no-migrate", "--members", "5", "--months", "1", stdout=out)
    assert "already present" in out.getvalue()
    with pytest.raises(CommandError, match="append-only"):
        call_command("demo", "--reset", "--no-migrate")
    assert (Transfer.objects.count(), Member.objects.count(), Purchase.objects.count()) == before
    assert ledger_verify() == []


def test_the_command_seeds_and_prints_the_logins_and_keys(db):
    out = StringIO()
    call_command("demo", "--no-migrate", "--members", "8", "--months", "1", stdout=out)
    text = out.getvalue()
    for login in DEMO_LOGINS:
        assert login["email"] in text and login["password"] in text
    assert text.count("fid_") == 2
    assert "Ledger verified" in text
    assert Member.objects.count() == 16


def test_the_same_seed_tells_the_same_story():
    end = dt.datetime(2026, 6, 15, 10, 30, tzinfo=dt.UTC)

    def story(seed: int, hour_shift: int = 0) -> tuple[list, list]:
        planner = Planner(members_per_org=20, months=3, seed=seed, end=end + dt.timedelta(minutes=hour_shift))
        events = planner.plan()
        names = [(m.org, m.identity["first_name"], m.identity["last_name"], m.identity.get("email")) for m in planner.members]
        return names, [(e.at, e.kind, e.member) for e in events if e.at < dt.datetime(2026, 6, 14, tzinfo=dt.UTC)]

    assert story(1) == story(1)
    assert story(1) == story(1, hour_shift=60)  # the hour of the run changes nothing before the last day
    assert story(1)[0] != story(2)[0]


# --- the rewards catalog -------------------------------------------------------------------
# A little more activity than above (40 members, 5 months), so that every state of a voucher
# shows up whatever the day the test runs.


@pytest.fixture
def story(db):
    return seed_demo(members_per_org=40, months=5, seed=7)


def test_each_merchant_has_a_french_catalog_created_through_the_services(story):
    expected = {
        CAFE: {"free_product", "voucher_percent", "voucher_amount", "donation", "partner_code"},
        GYM: {"free_product", "wallet_credit", "experience", "voucher_amount", "donation"},
    }
    for spec in MERCHANTS:
        rewards = list(Reward.objects.filter(organization__slug=spec.slug))
        assert len(rewards) == len(spec.catalog)
        assert {r.kind for r in rewards} == expected[spec.slug]
        assert all(r.title_fr and r.title_en and r.description_fr and r.description_en for r in rewards)
        assert any(r.limit_per_member for r in rewards) and any(r.stock is not None for r in rewards)
    cafe = {r.title_fr: r for r in Reward.objects.filter(organization__slug=CAFE)}
    assert (cafe["Café offert"].product_sku, cafe["Café offert"].amount_minor) == ("CDA-ESP", 180)  # capped at an espresso
    assert (cafe["Bon de 5 €"].amount_minor, cafe["Bon de 5 €"].min_basket_minor) == (500, 1500)
    assert cafe["-10 % sur l'addition"].valid_from and cafe["-10 % sur l'addition"].valid_until
    assert cafe["Don aux Restos du Cœur"].charity_name == "Les Restos du Cœur"
    partner = next(r for r in cafe.values() if r.kind == "partner_code")
    assert PartnerCode.objects.filter(reward=partner).count() >= Voucher.objects.filter(reward=partner).count() > 0
    coaching = Reward.objects.get(organization__slug=GYM, kind="experience")
    assert list(coaching.stores.values_list("code", flat=True)) == ["bordeaux-chartrons"]


def test_redemptions_are_vouchers_used_cancelled_or_expired_and_the_ledger_verifies(story):
    # Every points redemption is a voucher of the catalog (no bare points_redeem any more); the
    # other vouchers are free coffees of full stamp cards, given without points.
    redeemed = Transfer.objects.filter(kind=TransferKind.REDEEM, unit="PTS")
    assert redeemed.count() == Voucher.objects.filter(points__gt=0).count() > 0
    granted = Voucher.objects.filter(points=0)
    assert granted.exists() and set(granted.values_list("reward__kind", flat=True)) == {"free_product"}
    assert set(redeemed.values_list("source_type", flat=True)) == {"reward"}
    vouchers = Voucher.objects.select_related("reward")
    assert len({v.reward.kind for v in vouchers}) >= 5
    states = {v.status for v in vouchers if v.reward.kind in ("free_product", "voucher_amount", "voucher_percent", "experience")}
    assert states == {VoucherStatus.ISSUED, VoucherStatus.USED, VoucherStatus.CANCELLED, VoucherStatus.EXPIRED}
    for voucher in vouchers:
        assert voucher.issued_at <= (voucher.used_at or voucher.closed_at or voucher.issued_at)
        if voucher.status == VoucherStatus.USED and voucher.reward.kind not in ("donation", "wallet_credit", "partner_code"):
            assert voucher.used_store_id is not None and voucher.used_at > voucher.issued_at  # at the till, later
        if voucher.status == VoucherStatus.EXPIRED:
            assert voucher.expires_at <= voucher.closed_at
    # Used on a purchase: the purchase is the member's, and its ticket shows the discount.
    tied = [v for v in vouchers if v.used_purchase_external_id]
    assert tied
    for voucher in tied:
        purchase = Purchase.objects.get(organization_id=voucher.organization_id, external_id=voucher.used_purchase_external_id)
        assert purchase.member_id == voucher.member_id and purchase.store_id == voucher.used_store_id
        discount = sum(purchase.lines.values_list("discount_minor", flat=True))
        assert discount >= voucher.used_value_minor > 0
    # A cancelled voucher gives its points back.
    cancelled = vouchers.filter(status=VoucherStatus.CANCELLED).count()
    assert Transfer.objects.filter(kind=TransferKind.RESTORE, source_type="voucher").count() >= cancelled > 0
    # Limits per member hold.
    for reward in Reward.objects.exclude(limit_per_member=None):
        taken = Voucher.objects.filter(reward=reward).exclude(status=VoucherStatus.CANCELLED).values("member").annotate(n=Count("id"))
        assert all(row["n"] <= reward.limit_per_member for row in taken)
    assert ledger_verify() == []


def test_donations_wallet_credit_offers_and_auto_redemption(story):
    for slug in (GYM, CAFE):
        org = Organization.objects.get(slug=slug)
        totals = charity_totals(org.id)
        assert totals and all(row["amount_cents"] > 0 and row["points"] > 0 for row in totals)
        assert AutoRedemption.objects.filter(member__organization=org).exists()
    # Wallet credit (gym): never more spent than credited, in euros.
    gym = Organization.objects.get(slug=GYM)
    credited = sum(Transfer.objects.filter(organization=gym, unit="EUR", kind=TransferKind.CREDIT).values_list("amount", flat=True))
    spent = sum(Transfer.objects.filter(organization=gym, unit="EUR", kind=TransferKind.REDEEM).values_list("amount", flat=True))
    assert credited >= spent >= 0
    # Offer take-up of the most popular reward: seen by more members than asked for it, used by fewer.
    coffee = Reward.objects.get(organization__slug=CAFE, title_fr="Café offert")
    stats = offer_stats(coffee)
    assert stats.seen > stats.requested >= stats.used > 0
    assert OfferEvent.objects.filter(kind="seen").count() > Voucher.objects.filter(points__gt=0).count()
    # The summary adds up.
    for result in story.organizations:
        c = result.counts
        assert c["vouchers issued"] == c["vouchers used"] + c["vouchers cancelled"] + c["vouchers expired"] + c["vouchers open"]
        assert c["rewards in the catalog"] == 6
        assert result.money["wallet credit issued"] >= result.money["wallet credit spent"]
        assert result.charity == charity_totals(Organization.objects.get(slug=result.slug).id)


def test_the_merchants_rules_tiers_stamp_cards_and_referrals_are_at_work(story):
    from fidelo.awards.models import Award
    from fidelo.engagement.models import MemberAchievement
    from fidelo.referrals.models import Referral

    cafe, gym = Organization.objects.get(slug=CAFE), Organization.objects.get(slug=GYM)
    assert Transfer.objects.filter(organization=cafe, reason="bonus").exists()  # double points on weekends
    assert Award.objects.filter(organization=cafe, kind="stamps").exists()
    assert Award.objects.filter(organization=gym, source_type="visit").exists()  # the third session of the week
    assert Member.objects.exclude(tier="").exists()
    assert MemberAchievement.objects.filter(badge__code="habitue").exists()
    assert Referral.objects.filter(status="completed").exists()
    assert ledger_verify() == []


def test_each_merchant_runs_a_campaign_whose_offer_is_seen_redeemed_and_used(story):
    from fidelo.rewards.campaign_selectors import campaign_stats, current_campaigns
    from fidelo.rewards.models import Campaign

    for result in story.organizations:
        org = Organization.objects.get(slug=result.slug)
        campaign = Campaign.objects.get(organization=org, code="offres-du-moment")
        assert [c.campaign.code for c in current_campaigns(org.id)] == ["offres-du-moment"]  # on now: the portal shows it
        (offer,) = campaign_stats(campaign)
        assert offer.seen >= offer.requested > 0
        assert Voucher.objects.filter(campaign=campaign, points=campaign.offers.get().cost_points).count() > 0
