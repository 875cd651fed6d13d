"""Recording purchases and refunds: what is refused, and that a refusal writes nothing."""

import datetime as dt

import pytest

from fidelo.conftest import at, make_member, make_org, program_of
from fidelo.core.clock import now
from fidelo.ledger.models import Lot, Transfer
from fidelo.ledger.tests.helpers import assert_ledger_consistent, available, buy, refund
from fidelo.purchases.errors import (
    CurrencyMismatch,
    InvalidPurchase,
    InvalidRefund,
    RefundExceedsPurchase,
)
from fidelo.purchases.models import Purchase, Refund
from fidelo.purchases.services import (
    LineInput,
    RefundLineInput,
    purchase_record,
    purchase_refund,
)

pytestmark = pytest.mark.django_db


def nothing_written(org) -> bool:
    return not (
        Purchase.objects.filter(organization_id=org.id).exists()
        or Transfer.objects.filter(organization_id=org.id).exists()
        or Lot.objects.filter(organization_id=org.id).exists()
    )


def record(program, member, **overrides):
    fields = dict(program=program, member=member, store=None, external_id="T-1", occurred_at=now(), total_minor=1000, currency="EUR")
    fields.update(overrides)
    return purchase_record(**fields)


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        ({"currency": "USD"}, CurrencyMismatch, "currency_mismatch"),
        ({"occurred_at": now() + dt.timedelta(hours=1)}, InvalidPurchase, "occurred_in_future"),
        ({"total_minor": -1}, InvalidPurchase, "invalid_amount"),
        ({"external_id": ""}, InvalidPurchase, "invalid_purchase"),
        ({"channel": "phone"}, InvalidPurchase, "invalid_purchase"),
        ({"lines": [LineInput(quantity=2, unit_price_minor=400)]}, InvalidPurchase, "lines_total_mismatch"),
        ({"lines": [LineInput(quantity=0, unit_price_minor=1000)]}, InvalidPurchase, "invalid_line"),
        ({"lines": [LineInput(quantity=1, unit_price_minor=1000, discount_minor=1001)]}, InvalidPurchase, "invalid_line"),
    ],
)
def test_a_bad_purchase_is_refused_with_a_stable_code_and_writes_nothing(org, program, member, overrides, error, code):
    with pytest.raises(error) as refused:
        record(program, member, **overrides)
    assert refused.value.code == code
    assert nothing_written(org)


def test_a_purchase_a_few_minutes_ahead_is_accepted_for_tills_with_a_fast_clock(org, program, member):
    result = record(program, member, occurred_at=now() + dt.timedelta(minutes=5))
    assert result.purchase.points_earned == 10


def test_a_purchase_from_another_organizations_store_is_refused(org, program, member):
    from fidelo.tenancy.services import store_create

    other = make_org("elsewhere")
    foreign = store_create(organization=other, code="away", name="Away")
    with pytest.raises(InvalidPurchase):
        record(program, member, store=foreign)
    assert nothing_written(org)


def test_the_same_external_id_twice_is_refused_by_the_database_and_the_first_stays(org, program, member):
    from django.db import IntegrityError, transaction

    record(program, member)
    with pytest.raises(IntegrityError), transaction.atomic():
        record(program, member)
    assert Purchase.objects.filter(organization_id=org.id).count() == 1
    assert available(member) == 10


def test_a_purchase_too_small_to_earn_is_recorded_without_a_transfer(org, program, member):
    result = record(program, member, total_minor=99)
    assert result.purchase.points_earned == 0
    assert not result.pending
    assert not Transfer.objects.filter(organization_id=org.id).exists()
    # and refunding it takes nothing back
    assert refund(program, result, amount=99).refund.points_reversed == 0
    assert_ledger_consistent(org)


def test_rounding_up_is_applied_to_the_purchase_total():
    org = make_org("round-up", rounding="up")
    program = program_of(org)
    member = make_member(org)
    assert buy(program, member, 1201).purchase.points_earned == 13


def test_a_refund_by_amount_and_lines_at_once_is_refused(org, program, member):
    bought = buy(program, member, 2000, lines=[LineInput(quantity=2, unit_price_minor=1000)])
    with pytest.raises(InvalidRefund) as refused:
        purchase_refund(program=program, purchase=bought.purchase, external_id="R-1", amount_minor=1000, lines=[RefundLineInput(position=1, quantity=1)])
    assert refused.value.code == "refund_amount_and_lines"
    assert not Refund.objects.exists()


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([RefundLineInput(position=9, quantity=1)], "unknown_line"),
        ([RefundLineInput(sku="NOPE", quantity=1)], "unknown_line"),
        ([RefundLineInput(position=1, quantity=0)], "invalid_line"),
    ],
)
def test_a_refund_of_unknown_or_empty_lines_is_refused(org, program, member, lines, code):
    bought = buy(program, member, 2000, lines=[LineInput(quantity=2, unit_price_minor=1000, sku="MUG")])
    with pytest.raises(InvalidRefund) as refused:
        refund(program, bought, lines=lines)
    assert refused.value.code == code
    assert available(member) == 20


def test_lines_with_the_same_sku_must_be_refunded_by_position(org, program, member):
    bought = buy(
        program, member, 3000, lines=[LineInput(quantity=1, unit_price_minor=1000, sku="MUG"), LineInput(quantity=1, unit_price_minor=2000, sku="MUG")]
    )
    with pytest.raises(InvalidRefund) as refused:
        refund(program, bought, lines=[RefundLineInput(sku="MUG", quantity=1)])
    assert refused.value.code == "ambiguous_line"
    assert refund(program, bought, lines=[RefundLineInput(position=2, quantity=1)]).refund.points_reversed == 20


def test_a_purchase_without_lines_cannot_be_refunded_by_line(org, program, member):
    bought = buy(program, member, 2000)
    with pytest.raises(InvalidRefund) as refused:
        refund(program, bought, lines=[RefundLineInput(position=1, quantity=1)])
    assert refused.value.code == "purchase_has_no_lines"


def test_a_refund_in_another_currency_or_in_the_future_is_refused(org, program, member):
    bought = buy(program, member, 2000)
    with pytest.raises(CurrencyMismatch):
        purchase_refund(program=program, purchase=bought.purchase, external_id="R-1", currency="GBP")
    with pytest.raises(InvalidRefund):
        purchase_refund(program=program, purchase=bought.purchase, external_id="R-2", occurred_at=now() + dt.timedelta(hours=2))
    with pytest.raises(InvalidRefund):
        purchase_refund(program=program, purchase=bought.purchase, external_id="R-3", amount_minor=0)
    assert available(member) == 20
    assert not Refund.objects.exists()


def test_a_refund_of_more_than_is_left_by_line_is_refused(org, program, member):
    bought = buy(program, member, 2000, lines=[LineInput(quantity=2, unit_price_minor=1000)])
    with pytest.raises(RefundExceedsPurchase):
        refund(program, bought, lines=[RefundLineInput(position=1, quantity=3)])
    assert available(member) == 20


def test_an_old_purchase_earns_available_points_at_once_even_with_a_return_period():
    # Given a 14-day return period, a purchase sent a month late is past its return period
    org = make_org("late-sync", pending_days=14)
    program = program_of(org)
    member = make_member(org)
    result = buy(program, member, 2000, occurred_at=at(2024, 1, 10))
    assert not result.pending
    assert available(member) == 20
    assert_ledger_consistent(org)


def test_the_ids_a_purchase_hands_back_are_its_rows_ids(org, program, member):
    """On SQLite the rows of one INSERT get their ids from the last one inserted (no RETURNING):
    the purchase, its lines, its transfer and lot must still point at each other."""
    from fidelo.purchases.models import PurchaseLine

    record(program, member, external_id="T-0", total_minor=500)  # ids no longer start at 1
    lines = [LineInput(quantity=1, unit_price_minor=price, sku=f"S{price}") for price in (300, 200, 500)]
    result = record(program, member, external_id="T-2", total_minor=1000, lines=lines)
    stored = list(PurchaseLine.objects.filter(purchase_id=result.purchase.id).order_by("position").values_list("id", "position", "sku"))
    assert [(line.id, line.position, line.sku) for line in result.lines] == stored
    lot = Lot.objects.select_related("transfer").get(transfer__source_type="purchase", transfer__source_id=result.purchase.id)
    assert (lot.amount, lot.transfer.amount, lot.member_id) == (10, 10, member.id)
    assert_ledger_consistent()
