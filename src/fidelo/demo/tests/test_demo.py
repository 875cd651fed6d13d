"""The demo seeding: two merchants, members, a short period of activity, through the services."""

import datetime as dt
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError

from fidelo.demo.seed import CAFE, DEMO_LOGINS, GYM, DemoAlreadySeeded, Planner, demo_is_seeded, seed_demo
from fidelo.ledger.models import Account, AccountKind, Transfer, TransferKind
from fidelo.ledger.selectors import ledger_verify
from fidelo.members.identifiers import is_valid_card_number
from fidelo.members.models import Consent, Member
from fidelo.purchases.models import Purchase, PurchaseLine, Refund, Visit
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
