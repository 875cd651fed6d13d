"""Worked examples of the points ledger, told as stories through the services.

Each test reads as given / when / then, and ends by checking that the ledger still adds up
(`ledger_verify()` finds no drift).
"""

import datetime as dt
import zoneinfo

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import translation

from fidelo.conftest import STAFF, at, make_member, make_org, program_of
from fidelo.core.actors import SYSTEM, Actor
from fidelo.core.clock import now
from fidelo.ledger import jobs
from fidelo.ledger.errors import (
    InsufficientPoints,
    InvalidAmount,
    ReasonRequired,
    TransferLimitReached,
    TransferRefused,
    TransfersNotAllowed,
)
from fidelo.ledger.models import (
    Account,
    AccountKind,
    Lot,
    LotStatus,
    Transfer,
    TransferKind,
)
from fidelo.ledger.selectors import ledger_verify, member_history
from fidelo.ledger.services import (
    Why,
    expiry_for,
    points_adjust,
    points_earn,
    points_transfer,
)
from fidelo.ledger.tests.helpers import (
    assert_ledger_consistent,
    available,
    balance,
    buy,
    pending,
    redeem,
    refund,
    sum_of_all_legs,
    sum_of_balances,
)
from fidelo.purchases.errors import RefundExceedsPurchase
from fidelo.purchases.models import PurchaseLine
from fidelo.purchases.services import LineInput, RefundLineInput

pytestmark = pytest.mark.django_db

EUROS = 100  # cents per euro: the default program earns 1 point per euro, rounded down


def bonus(program, member, points, *, occurred_at, expires_at=True):
    """Points given outside a purchase (a welcome bonus), with an optional explicit expiry."""
    return points_earn(
        program=program, member=member, amount=points, occurred_at=occurred_at, pending_days=0, expires_at=expires_at,
        why=Why(reason="bonus", params={"label": "welcome"}, source_type="bonus", actor="system"),
    )


def months_later(moment: dt.datetime, months: int) -> dt.datetime:
    return moment + dt.timedelta(days=31 * months)


# --- earn, redeem, expire ------------------------------------------------------------------


def test_earn_100_redeem_40_and_the_60_left_expire_leaving_a_balance_of_0():
    # Given a program whose points expire 12 months after they are earned
    org = make_org("expiring", expiry_policy="months", expiry_months=12)
    program = program_of(org)
    member = make_member(org)
    # When the member buys for 100 € and redeems 40 points
    bought = buy(program, member, 100 * EUROS)
    assert available(member) == 100
    redeem(program, member, 40)
    assert available(member) == 60
    # Then nothing expires before the 12 months are over
    assert jobs.expire_due(at=now() + dt.timedelta(days=300)).amount == 0
    assert available(member) == 60
    # And after them, the 60 points left expire and the balance is 0
    report = jobs.expire_due(at=months_later(bought.purchase.occurred_at, 13))
    assert (report.lots, report.amount) == (1, 60)
    assert balance(member).available == 0
    expiry = Transfer.objects.get(kind=TransferKind.EXPIRE, organization_id=org.id)
    assert expiry.amount == 60
    # And running the job again changes nothing (a lot expires once)
    assert jobs.expire_due(at=months_later(bought.purchase.occurred_at, 24)).amount == 0
    assert_ledger_consistent(org)


def test_lots_are_spent_earliest_expiry_first_whatever_order_they_were_earned_in(org, program, member):
    # Given three lots: one that never expires, one expiring in 2 months, then one in 1 month
    start = at(2025, 1, 10)
    never = bonus(program, member, 50, occurred_at=start, expires_at=None).lot
    later = bonus(program, member, 30, occurred_at=start, expires_at=at(2025, 3, 10)).lot
    sooner = bonus(program, member, 20, occurred_at=start, expires_at=at(2025, 2, 10)).lot
    # When the member redeems 35 points
    redeem(program, member, 35)
    # Then the lot expiring first is used up, the next one started, the lasting one untouched
    remaining = {lot.pk: (lot.remaining, lot.status) for lot in Lot.objects.filter(member=member)}
    assert remaining[sooner.pk] == (0, LotStatus.CLOSED)
    assert remaining[later.pk] == (15, LotStatus.AVAILABLE)
    assert remaining[never.pk] == (50, LotStatus.AVAILABLE)
    # And when the first expiry date passes, only what was left of that lot goes
    assert jobs.expire_due(at=at(2025, 2, 11)).amount == 0
    assert jobs.expire_due(at=at(2025, 3, 11)).amount == 15
    assert available(member) == 50
    assert_ledger_consistent(org)


def test_expiry_after_months_is_the_same_local_time_in_the_organizations_time_zone():
    # Given a Paris program expiring after 1 month
    org = make_org("paris-months", expiry_policy="months", expiry_months=1)
    program = program_of(org)
    # When points are earned at 00:30 on March 31 in Paris (still March 30 in UTC)
    earned = at(2025, 3, 31, 0, 30)
    assert earned.astimezone(dt.timezone.utc).day == 30
    # Then they expire at 00:30 on April 30 in Paris (the last day of the shorter month)
    assert expiry_for(program, earned) == at(2025, 4, 30, 0, 30)
    # And month ends are clamped: January 31 + 1 month is February 28
    assert expiry_for(program, at(2025, 1, 31, 18)) == at(2025, 2, 28, 18)


def test_expiry_at_end_of_year_is_the_end_of_the_local_calendar_year():
    # Given a New York merchant whose points expire at the end of the year they were earned
    org = make_org("new-york-eoy", expiry_policy="end_of_year", expiry_months=0)
    org.timezone = "America/New_York"
    org.save(update_fields=["timezone"])
    program = program_of(org)
    new_york = zoneinfo.ZoneInfo("America/New_York")
    # When points are earned at 23:30 on December 31 in New York (already January 1 in UTC)
    earned = dt.datetime(2024, 12, 31, 23, 30, tzinfo=new_york)
    assert earned.astimezone(dt.timezone.utc).year == 2025
    # Then they expire when 2024 ends in New York, not when 2025 ends
    assert expiry_for(program, earned) == dt.datetime(2025, 1, 1, tzinfo=new_york)
    # And with 12 months of grace, at the end of the following year
    program.expiry_months = 12
    assert expiry_for(program, earned) == dt.datetime(2026, 1, 1, tzinfo=new_york)


def test_end_of_year_expiry_moves_the_left_points_on_new_years_day():
    # Given a program expiring at the end of the year after the one the points were earned in
    org = make_org("eoy", expiry_policy="end_of_year", expiry_months=12)
    program = program_of(org)
    member = make_member(org)
    bonus(program, member, 70, occurred_at=at(2024, 5, 1))
    # When the year after ends
    assert jobs.expire_due(at=at(2025, 12, 31, 23, 59)).amount == 0
    report = jobs.expire_due(at=at(2026, 1, 1, 0, 0))
    # Then the 70 points expire at midnight, Paris time
    assert report.amount == 70
    assert Transfer.objects.get(kind=TransferKind.EXPIRE, organization_id=org.id).occurred_at == at(2026, 1, 1, 0, 0)
    assert available(member) == 0
    assert_ledger_consistent(org)


# --- refunds ---------------------------------------------------------------------------


def test_a_refund_after_a_redemption_puts_the_member_in_debt_under_allow_debt_and_later_earns_pay_it_first():
    # Given a program that takes refunded points back even into a negative balance
    org = make_org("debt", refund_policy="allow_debt")
    program = program_of(org)
    member = make_member(org)
    purchase = buy(program, member, 100 * EUROS)
    redeem(program, member, 80)
    # When half of the purchase is refunded
    result = refund(program, purchase, amount=50 * EUROS)
    # Then the 50 points it earned are taken back and the member owes 30
    assert (result.refund.points_reversed, result.refund.points_forgiven) == (50, 0)
    assert available(member) == -30
    # And a later purchase of 40 € pays the debt first: only 10 points are spendable
    later = buy(program, member, 40 * EUROS)
    assert available(member) == 10
    assert Lot.objects.get(transfer__source_type="purchase", transfer__source_id=later.purchase.pk).remaining == 10
    with pytest.raises(InsufficientPoints):
        redeem(program, member, 11)
    redeem(program, member, 10)
    assert available(member) == 0
    assert_ledger_consistent(org)


def test_a_refund_after_a_redemption_stops_at_zero_under_stop_at_zero_and_records_what_was_forgiven():
    # Given a program that never takes the balance below zero
    org = make_org("forgiving", refund_policy="stop_at_zero")
    program = program_of(org)
    member = make_member(org)
    purchase = buy(program, member, 100 * EUROS)
    redeem(program, member, 80)
    # When half of the purchase is refunded
    first = refund(program, purchase, amount=50 * EUROS)
    # Then only the 20 points left are taken back, the other 30 are forgiven
    assert (first.refund.points_reversed, first.refund.points_forgiven) == (20, 30)
    assert available(member) == 0
    # And the rest of the purchase refunded later takes nothing more (and claims nothing twice)
    rest = refund(program, purchase)
    assert (rest.refund.points_reversed, rest.refund.points_forgiven) == (0, 50)
    assert rest.purchase.points_reversed == rest.purchase.points_earned == 100
    # And a later purchase is fully spendable: there is no debt
    buy(program, member, 40 * EUROS)
    assert available(member) == 40
    assert_ledger_consistent(org)


def test_refund_by_amount_takes_back_the_points_in_proportion(org, program, member):
    # Given a purchase of 100 € that earned 100 points
    purchase = buy(program, member, 100 * EUROS)
    # When 25 € of it are refunded
    result = refund(program, purchase, amount=25 * EUROS)
    # Then 25 points are taken back
    assert result.refund.points_reversed == 25
    assert (result.purchase.refunded_minor, result.purchase.points_reversed) == (25 * EUROS, 25)
    assert available(member) == 75
    assert_ledger_consistent(org)


def test_cumulative_partial_refunds_never_exceed_what_was_earned_and_a_full_refund_takes_back_exactly_all(org, program, member):
    # Given a purchase of 10 € that earned 10 points
    purchase = buy(program, member, 10 * EUROS)
    # When it is refunded 3.33 € at a time, three times
    taken = [refund(program, purchase, amount=333).refund.points_reversed for _ in range(3)]
    # Then each refund takes its rounded-down share of the cumulative amount: 3, 6, 9
    assert taken == [3, 3, 3]
    # And the last cent takes back the last point, exactly 10 in all
    last = refund(program, purchase, amount=1)
    assert last.refund.points_reversed == 1
    assert last.purchase.points_reversed == last.purchase.points_earned == 10
    assert available(member) == 0
    # And nothing more can be refunded
    with pytest.raises(RefundExceedsPurchase):
        refund(program, purchase, amount=1)
    with pytest.raises(RefundExceedsPurchase):
        refund(program, purchase)
    assert_ledger_consistent(org)


def test_a_refund_larger_than_what_is_left_is_refused_and_changes_nothing(org, program, member):
    purchase = buy(program, member, 10 * EUROS)
    refund(program, purchase, amount=6 * EUROS)
    transfers = Transfer.objects.count()
    with pytest.raises(RefundExceedsPurchase):
        refund(program, purchase, amount=5 * EUROS)
    assert Transfer.objects.count() == transfers
    assert available(member) == 4
    assert_ledger_consistent(org)


def test_a_full_refund_after_partial_ones_takes_back_exactly_what_is_left(org, program, member):
    # Given a purchase of 9.99 € (9 points) partly refunded twice
    purchase = buy(program, member, 999)
    refund(program, purchase, amount=100)  # floor(9 * 100 / 999) = 0
    refund(program, purchase, amount=500)  # floor(9 * 600 / 999) = 5
    # When the rest is refunded without an amount
    last = refund(program, purchase)
    # Then exactly the 4 points left are taken back
    assert last.refund.amount_minor == 399
    assert last.refund.points_reversed == 4
    assert last.purchase.points_reversed == 9
    assert available(member) == 0
    assert_ledger_consistent(org)


def test_refunds_line_by_line_take_back_only_the_points_of_the_returned_units(org, program, member):
    # Given a purchase of a bag of coffee (12 €) and three mugs (3 × 9 €): 39 points
    purchase = buy(
        program, member, 39 * EUROS,
        lines=[LineInput(quantity=1, unit_price_minor=12 * EUROS, sku="COFFEE"), LineInput(quantity=3, unit_price_minor=9 * EUROS, sku="MUG")],
    )
    assert [line.points_earned for line in purchase.lines] == [12, 27]
    # When one of the three mugs is brought back
    first = refund(program, purchase, lines=[RefundLineInput(position=2, quantity=1)])
    # Then the refund is worth one mug, and takes back a third of the mugs' points only
    assert (first.refund.amount_minor, first.refund.points_reversed) == (9 * EUROS, 9)
    mugs, coffee = PurchaseLine.objects.get(purchase=purchase.purchase, position=2), PurchaseLine.objects.get(purchase=purchase.purchase, position=1)
    assert (mugs.refunded_quantity, mugs.points_reversed) == (1, 9)
    assert (coffee.refunded_quantity, coffee.points_reversed) == (0, 0)
    assert available(member) == 30
    # And returning everything else (by SKU) takes back exactly the rest
    rest = refund(program, purchase, lines=[RefundLineInput(sku="MUG", quantity=2), RefundLineInput(sku="COFFEE", quantity=1)])
    assert rest.refund.points_reversed == 30
    assert rest.purchase.points_reversed == 39
    assert available(member) == 0
    # And a fourth mug cannot be returned
    with pytest.raises(RefundExceedsPurchase):
        refund(program, purchase, lines=[RefundLineInput(position=2, quantity=1)])
    assert_ledger_consistent(org)


def test_line_refunds_unit_by_unit_round_down_and_the_last_unit_takes_the_remainder(org, program, member):
    # Given a line of 3 units sharing 10 points (3 × 3.34 € = 10.02 €)
    purchase = buy(program, member, 1002, lines=[LineInput(quantity=3, unit_price_minor=334)])
    assert purchase.lines[0].points_earned == 10
    # When the units come back one by one
    taken = [refund(program, purchase, lines=[RefundLineInput(position=1, quantity=1)]).refund.points_reversed for _ in range(3)]
    # Then each takes its rounded-down cumulative share and the last takes what is left
    assert taken == [3, 3, 4]
    assert available(member) == 0
    assert_ledger_consistent(org)


# --- pending points ------------------------------------------------------------------------


def test_pending_points_are_not_spendable_until_the_return_period_is_over():
    # Given a program with a 14-day return period
    org = make_org("pending", pending_days=14)
    program = program_of(org)
    member = make_member(org)
    # When the member buys for 100 €
    result = buy(program, member, 100 * EUROS)
    # Then the 100 points are pending, not available
    assert result.pending
    assert (available(member), pending(member)) == (0, 100)
    with pytest.raises(InsufficientPoints):
        redeem(program, member, 10)
    # And 13 days later they are still pending
    assert jobs.release_due(at=now() + dt.timedelta(days=13)).lots == 0
    # And once the period is over the release job makes them spendable, once
    report = jobs.release_due(at=now() + dt.timedelta(days=15))
    assert (report.lots, report.amount) == (1, 100)
    assert jobs.release_due(at=now() + dt.timedelta(days=16)).lots == 0
    assert (available(member), pending(member)) == (100, 0)
    redeem(program, member, 10)
    assert available(member) == 90
    assert_ledger_consistent(org)


def test_a_refund_while_the_points_are_pending_takes_them_from_the_pending_lot():
    # Given a purchase whose 100 points are pending
    org = make_org("pending-refund", pending_days=14)
    program = program_of(org)
    member = make_member(org)
    purchase = buy(program, member, 100 * EUROS)
    # When 30 € of it are refunded during the return period
    result = refund(program, purchase, amount=30 * EUROS)
    # Then the 30 points leave the pending balance and nothing is owed
    assert result.refund.points_reversed == 30
    assert (available(member), pending(member)) == (0, 70)
    assert Transfer.objects.get(kind=TransferKind.REVERSE, organization_id=org.id).debit.kind == AccountKind.PENDING
    # And when the period ends, only the 70 points left become available
    assert jobs.release_due(at=now() + dt.timedelta(days=15)).amount == 70
    assert (available(member), pending(member)) == (70, 0)
    assert_ledger_consistent(org)


def test_a_fully_refunded_pending_purchase_releases_nothing():
    org = make_org("pending-full-refund", pending_days=14)
    program = program_of(org)
    member = make_member(org)
    purchase = buy(program, member, 100 * EUROS)
    refund(program, purchase)
    assert (available(member), pending(member)) == (0, 0)
    assert jobs.release_due(at=now() + dt.timedelta(days=15)).lots == 0
    assert Lot.objects.get(member=member).status == LotStatus.CLOSED
    assert_ledger_consistent(org)


# --- transfers between members -------------------------------------------------------------


def test_transfers_are_refused_when_the_program_does_not_allow_them(org, program, member):
    friend = make_member(org)
    bonus(program, member, 100, occurred_at=at(2025, 6, 1))
    with pytest.raises(TransfersNotAllowed):
        points_transfer(program=program, sender=member, recipient=friend, amount=10, actor=STAFF)
    assert (available(member), available(friend)) == (100, 0)


def test_transfers_respect_the_minimum_and_the_daily_maximum_in_local_time():
    # Given a program allowing transfers of at least 10 and at most 100 points a day
    org = make_org("sharing", transfers_allowed=True, transfer_min=10, transfer_max_per_day=100)
    program = program_of(org)
    sender, recipient = make_member(org), make_member(org)
    bonus(program, sender, 500, occurred_at=at(2025, 6, 1, 8))
    # When the sender gives less than the minimum, it is refused
    with pytest.raises(TransferRefused) as below:
        points_transfer(program=program, sender=sender, recipient=recipient, amount=5, actor=STAFF, occurred_at=at(2025, 6, 1, 10))
    assert below.value.code == "transfer_below_minimum"
    # And 60 then 40 the same day are accepted, but one more point that day is not
    points_transfer(program=program, sender=sender, recipient=recipient, amount=60, actor=STAFF, occurred_at=at(2025, 6, 1, 10))
    points_transfer(program=program, sender=sender, recipient=recipient, amount=40, actor=STAFF, occurred_at=at(2025, 6, 1, 23, 30))
    with pytest.raises(TransferLimitReached):
        points_transfer(program=program, sender=sender, recipient=recipient, amount=10, actor=STAFF, occurred_at=at(2025, 6, 1, 23, 45))
    # And the next day in Paris (still June 1 in UTC) the limit starts again
    next_day = at(2025, 6, 2, 0, 30)
    assert next_day.astimezone(dt.timezone.utc).day == 1
    points_transfer(program=program, sender=sender, recipient=recipient, amount=100, actor=STAFF, occurred_at=next_day)
    assert (available(sender), available(recipient)) == (300, 200)
    # And a member cannot give points to themselves, nor more than they have
    with pytest.raises(TransferRefused):
        points_transfer(program=program, sender=sender, recipient=sender, amount=10, actor=STAFF, occurred_at=at(2025, 6, 3))
    newcomer = make_member(org)
    with pytest.raises(InsufficientPoints):
        points_transfer(program=program, sender=newcomer, recipient=sender, amount=10, actor=STAFF, occurred_at=at(2025, 6, 3))
    assert_ledger_consistent(org)


def test_the_recipient_of_a_transfer_keeps_the_senders_expiry_dates():
    # Given a sender with 20 points expiring in March and 50 expiring in June
    org = make_org("sharing-expiry", transfers_allowed=True)
    program = program_of(org)
    sender, recipient = make_member(org), make_member(org)
    bonus(program, sender, 50, occurred_at=at(2025, 1, 1), expires_at=at(2025, 6, 30))
    bonus(program, sender, 20, occurred_at=at(2025, 1, 1), expires_at=at(2025, 3, 31))
    # When the sender gives 30 points
    points_transfer(program=program, sender=sender, recipient=recipient, amount=30, actor=STAFF, occurred_at=at(2025, 2, 1))
    # Then the recipient holds 20 points expiring in March and 10 in June, like the sender did
    received = sorted((lot.expires_at, lot.remaining) for lot in Lot.objects.filter(member=recipient))
    assert received == [(at(2025, 3, 31), 20), (at(2025, 6, 30), 10)]
    assert sorted((lot.expires_at, lot.remaining) for lot in Lot.objects.filter(member=sender, remaining__gt=0)) == [(at(2025, 6, 30), 40)]
    # And those points expire on the same dates
    assert jobs.expire_due(at=at(2025, 4, 1)).amount == 20
    assert (available(sender), available(recipient)) == (40, 10)
    assert_ledger_consistent(org)


def test_a_transfer_to_a_member_in_debt_pays_the_debt_first():
    org = make_org("sharing-debt", transfers_allowed=True, refund_policy="allow_debt")
    program = program_of(org)
    sender, recipient = make_member(org), make_member(org)
    bonus(program, sender, 50, occurred_at=at(2025, 1, 1))
    purchase = buy(program, recipient, 20 * EUROS)
    redeem(program, recipient, 20)
    refund(program, purchase)
    assert available(recipient) == -20
    points_transfer(program=program, sender=sender, recipient=recipient, amount=30, actor=STAFF, occurred_at=at(2025, 2, 1))
    assert (available(sender), available(recipient)) == (20, 10)
    assert_ledger_consistent(org)


# --- manual adjustments --------------------------------------------------------------------


def test_a_manual_adjustment_needs_a_reason_and_a_person(org, program, member):
    with pytest.raises(ReasonRequired):
        points_adjust(program=program, member=member, delta=10, note="  ", actor=STAFF)
    with pytest.raises(ReasonRequired) as no_person:
        points_adjust(program=program, member=member, delta=10, note="goodwill", actor=SYSTEM)
    assert no_person.value.code == "actor_required"
    with pytest.raises(ReasonRequired):
        points_adjust(program=program, member=member, delta=10, note="goodwill", actor=None)
    with pytest.raises(InvalidAmount):
        points_adjust(program=program, member=member, delta=0, note="goodwill", actor=STAFF)
    assert available(member) == 0
    assert not Transfer.objects.filter(organization_id=org.id).exists()


def test_a_positive_adjustment_adds_points_and_a_negative_one_cannot_go_below_zero(org, program, member):
    # Given a member credited 25 points by the manager as a goodwill gesture
    points_adjust(program=program, member=member, delta=25, note="Coffee machine broken", actor=STAFF)
    assert available(member) == 25
    # When the manager takes back more than that, it is refused
    with pytest.raises(InsufficientPoints):
        points_adjust(program=program, member=member, delta=-26, note="Entered twice", actor=STAFF)
    # Then taking back 25 is fine and leaves 0
    points_adjust(program=program, member=member, delta=-25, note="Entered twice", actor=STAFF)
    assert available(member) == 0
    kinds = list(Transfer.objects.filter(organization_id=org.id).order_by("id").values_list("kind", "actor"))
    assert kinds == [(TransferKind.ADJUST, str(STAFF)), (TransferKind.ADJUST, str(STAFF))]
    assert_ledger_consistent(org)


# --- history in words ----------------------------------------------------------------------


def test_the_member_history_says_why_in_words_in_french_and_english():
    # Given a member who bought, redeemed, was refunded, adjusted, received a transfer, and had points expire
    org = make_org("history", expiry_policy="months", expiry_months=1, transfers_allowed=True)
    program = program_of(org)
    from fidelo.tenancy.services import store_create

    shop = store_create(organization=org, code="lyon", name="Lyon Part-Dieu")
    member, friend = make_member(org), make_member(org, first_name="Paul", last_name="Martin")
    purchase = buy(program, member, 100 * EUROS, store=shop, occurred_at=at(2025, 1, 15))
    redeem(program, member, 10, label="Free coffee")
    refund(program, purchase, amount=20 * EUROS)
    points_adjust(program=program, member=member, delta=5, note="Birthday", actor=Actor(kind="staff", id=7, label="Camille"))
    bonus(program, friend, 30, occurred_at=at(2025, 1, 15))
    points_transfer(program=program, sender=friend, recipient=member, amount=30, actor=STAFF, occurred_at=at(2025, 1, 20))
    jobs.expire_due(at=at(2025, 3, 1))
    # When the history is read in English
    with translation.override("en"):
        english = [entry.reason for entry in reversed(member_history(member).entries)]
    # Then each entry says why, in words
    assert english[0] == "Purchase of €100.00 at Lyon Part-Dieu"
    assert english[1] == "Redeemed: Free coffee"
    assert english[2] == "Refund of €20.00 on your purchase of 2025-01-15"
    assert english[3] == "Adjustment by Camille: Birthday"
    assert english[4] == "Transfer from Paul Martin"
    assert all("expired" in reason for reason in english[5:]) and len(english) > 5
    with translation.override("en"):
        sender_side = member_history(friend).entries[0].reason
    assert sender_side == f"Transfer to {member.full_name}"
    # And in French every entry has a reason too (the amounts formatted the French way)
    with translation.override("fr"):
        french = [entry.reason for entry in reversed(member_history(member).entries)]
    assert len(french) == len(english)
    assert all(reason.strip() for reason in french)
    assert "100,00\u00a0€" in french[0]
    assert_ledger_consistent(org)


def test_a_refund_names_the_purchase_day_as_the_member_lived_it_in_the_organizations_time_zone(org, program, member):
    # Given a purchase at 00:30 on January 15 in Paris (still January 14 in UTC)
    purchase = buy(program, member, 20 * EUROS, occurred_at=at(2025, 1, 15, 0, 30))
    # When it is refunded
    refund(program, purchase)
    # Then the history speaks of the purchase of January 15
    with translation.override("en"):
        assert member_history(member).entries[0].reason == "Refund of €20.00 on your purchase of 2025-01-15"


def test_history_shows_signed_changes_of_available_and_pending_points():
    org = make_org("history-pending", pending_days=14)
    program = program_of(org)
    member = make_member(org)
    buy(program, member, 50 * EUROS)
    jobs.release_due(at=now() + dt.timedelta(days=15))
    release, earn = member_history(member).entries
    assert (earn.kind, earn.available_change, earn.pending_change) == (TransferKind.EARN, 0, 50)
    assert (release.kind, release.available_change, release.pending_change) == (TransferKind.RELEASE, 50, -50)
    with translation.override("en"):
        assert "now available" in member_history(member).entries[0].reason


# --- the ledger checks itself ----------------------------------------------------------------


def test_ledger_verify_finds_nothing_after_a_busy_day_and_all_balances_sum_to_zero():
    org = make_org("busy", transfers_allowed=True, expiry_policy="months", expiry_months=1)
    program = program_of(org)
    anne, paul = make_member(org), make_member(org)
    first = buy(program, anne, 120 * EUROS, occurred_at=at(2025, 1, 2))
    buy(program, paul, 30 * EUROS, occurred_at=at(2025, 1, 3))
    redeem(program, anne, 50)
    points_transfer(program=program, sender=anne, recipient=paul, amount=20, actor=STAFF, occurred_at=at(2025, 1, 4))
    refund(program, first, amount=60 * EUROS)
    points_adjust(program=program, member=paul, delta=-5, note="Typo", actor=STAFF)
    jobs.expire_due(at=at(2025, 3, 1))
    assert ledger_verify() == []
    assert sum_of_all_legs(org) == {"PTS": 0}
    assert sum_of_balances(org) == {"PTS": 0}


def test_ledger_verify_detects_a_cached_balance_changed_behind_its_back(org, program, member):
    # Given a consistent ledger
    buy(program, member, 40 * EUROS)
    assert ledger_verify() == []
    # When someone changes a cached balance with raw SQL
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_account SET balance = balance + 7 WHERE member_id = %s AND kind = %s", [member.pk, AccountKind.AVAILABLE]
        )
    # Then the verification reports the drift, with what it expected and what it found
    drifts = ledger_verify()
    assert drifts
    account = Account.objects.get(member=member, kind=AccountKind.AVAILABLE)
    balance_drift = next(d for d in drifts if d.account_id == account.pk)
    assert (balance_drift.expected, balance_drift.found) == (40, 47)
    assert ledger_verify(organization_id=org.id)
    # And the balances no longer sum to zero
    assert sum_of_balances(org) == {"PTS": 7}
    assert any(d.what == "balances of PTS do not sum to zero" and d.found == 7 for d in drifts)


def test_ledger_verify_detects_a_lot_that_no_longer_matches_the_balance(org, program, member):
    buy(program, member, 40 * EUROS)
    Lot.objects.filter(member=member).update(remaining=39)
    assert any("lots" in d.what for d in ledger_verify())


def test_transfers_cannot_be_updated_with_sql_nor_updated_or_deleted_through_the_orm(org, program, member):
    buy(program, member, 40 * EUROS)
    transfer = Transfer.objects.get(organization_id=org.id)
    # Raw SQL UPDATE is refused by the database itself
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE ledger_transfer SET amount = 1000 WHERE id = %s", [transfer.pk])
    # The ORM refuses to update or delete, one row or a queryset
    with pytest.raises(PermissionError):
        transfer.delete()
    with pytest.raises(PermissionError):
        Transfer.objects.filter(pk=transfer.pk).delete()
    with pytest.raises(PermissionError):
        Transfer.objects.filter(pk=transfer.pk).update(amount=1000)
    transfer.amount = 1000
    with pytest.raises(PermissionError):
        transfer.save()
    assert Transfer.objects.get(pk=transfer.pk).amount == 40
    assert_ledger_consistent(org)


def test_transfers_cannot_be_deleted_with_sql_on_postgresql(org, program, member):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite flushes test tables with DELETE, so only UPDATE has a trigger there")
    buy(program, member, 40 * EUROS)
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM ledger_transfer WHERE organization_id = %s", [org.id])
    assert Transfer.objects.filter(organization_id=org.id).count() == 1


def test_a_failed_operation_leaves_the_ledger_exactly_as_it_was(org, program, member):
    buy(program, member, 10 * EUROS)
    before = (list(Transfer.objects.values_list("id", flat=True)), list(Lot.objects.values_list("id", "remaining", "status")))
    with pytest.raises(InsufficientPoints):
        redeem(program, member, 11)
    with pytest.raises(InvalidAmount):
        redeem(program, member, 0)
    after = (list(Transfer.objects.values_list("id", flat=True)), list(Lot.objects.values_list("id", "remaining", "status")))
    assert before == after
    assert available(member) == 10


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plan")
def test_a_spending_reads_the_first_lots_in_index_order_not_all_of_them():
    """A regular customer holds hundreds of lots: the first one to spend is read from the index in
    spending order (lots that expire, then those that never do), not found by sorting them all."""
    from fidelo.ledger import sql

    first = sql._in_spend_order("id, expires_at, earned_at", "member_id = %s AND unit = %s AND status = 'available'", "1")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN SELECT id FROM (" + first.replace("%s", "?") + ") AS lots", [1, "PTS", 1, "PTS"])
        plan = " | ".join(row[-1] for row in cursor.fetchall())
    assert plan.count("USING INDEX lot_member_spend_order_idx") == 2 and "TEMP B-TREE" not in plan, plan
