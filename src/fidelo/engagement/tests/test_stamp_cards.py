"""Stamp cards, told as stories: a café's 10-stamp card, carry-over, rewards, reversals, refusals."""

import datetime as dt

import pytest

from fidelo.conftest import STAFF, at, make_member, make_org, program_of
from fidelo.core.errors import ValidationFailed
from fidelo.core.models import AuditEntry
from fidelo.engagement.errors import (
    InvalidStampCard,
    InvalidStamps,
    StampCardExists,
    StampCardNotFound,
)
from fidelo.engagement.models import (
    MemberStampCard,
    StampCompletion,
    StampEntry,
    StampEntryKind,
)
from fidelo.engagement.selectors import (
    member_stamp_cards,
    stamp_card_by_code,
    stamp_cards_of,
    stamp_stats,
)
from fidelo.engagement.services import stamp_card_update, stamps_add, stamps_reverse
from fidelo.engagement.tests.helpers import coffee_card, engagement_state, free_coffee
from fidelo.ledger.models import Transfer
from fidelo.members.errors import MemberClosed
from fidelo.members.models import Member, MemberStatus
from fidelo.rewards.models import (
    OfferEvent,
    OfferEventKind,
    Reward,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from fidelo.rewards.tests.helpers import make_reward, snapshot

pytestmark = pytest.mark.django_db

DAY = at(2025, 3, 3, 8, 30)


def stamp(program, member, count=1, *, card="cafe", source_type="visit", source_id=None, when=DAY):
    return stamps_add(program=program, member=member, card_code=card, count=count, occurred_at=when, source_type=source_type,
                      source_id=source_id)


def progress(member, code="cafe") -> tuple[int, int]:
    [view] = [v for v in member_stamp_cards(member) if v.card.code == code]
    return view.stamps, view.completed


def test_a_cafe_customer_fills_a_10_stamp_card_and_gets_a_free_coffee_with_the_extra_stamp_carried_over(program, member):
    # Given the café's card: 10 stamps, the 11th coffee free
    coffee = free_coffee(program)
    coffee_card(program, reward=coffee)
    # When the customer comes 9 mornings in a row
    for day in range(9):
        result = stamp(program, member, source_id=100 + day, when=DAY + dt.timedelta(days=day))
    # Then the card shows 9 of 10 and no coffee yet
    assert (result.stamps, result.stamps_required, result.completions, result.rewards) == (9, 10, 0, ())
    assert progress(member) == (9, 0)
    assert not Voucher.objects.exists()
    # When, on the 10th morning, they buy two coffees (a rule gives one stamp per coffee)
    result = stamp(program, member, 2, source_type="purchase", source_id=200, when=DAY + dt.timedelta(days=9))
    # Then the card is filled, the free coffee is issued and the extra stamp starts the next card
    assert (result.completions, result.completed, result.stamps) == (1, 1, 1)
    assert progress(member) == (1, 1)
    [redemption] = result.rewards
    voucher = Voucher.objects.get(pk=redemption.voucher.pk)
    assert (voucher.member_id, voucher.reward_id, voucher.status, voucher.points) == (member.pk, coffee.pk, VoucherStatus.ISSUED, 0)
    assert voucher.channel == "stamp_card"
    # And no point was spent, the offer counts as requested, the completion names the voucher
    assert Transfer.objects.count() == 0
    assert OfferEvent.objects.filter(reward=coffee, kind=OfferEventKind.REQUESTED).count() == 1
    [completion] = StampCompletion.objects.all()
    assert (completion.number, completion.voucher_id, completion.refused_code, completion.entry_id) == (1, voucher.pk, "", result.entry_id)
    # And the dashboard counts 11 stamps given and one card filled
    stats = stamp_stats(program.organization_id)
    assert (stats.stamps_given, stats.stamps_taken_back, stats.cards_completed) == (11, 0, 1)
    assert [(c.code, c.members, c.stamps_given, c.cards_completed) for c in stats.cards] == [("cafe", 1, 11, 1)]


def test_many_stamps_at_once_fill_as_many_cards_as_they_allow(program, member):
    coffee_card(program, reward=free_coffee(program), required=10)
    stamp(program, member, 7)
    result = stamp(program, member, 25, source_type="purchase", source_id=1)
    assert (result.completions, result.stamps, result.completed) == (3, 2, 3)  # 32 stamps: 3 cards and 2 on the 4th
    assert len(result.rewards) == 3 and Voucher.objects.filter(member=member).count() == 3
    assert list(StampCompletion.objects.order_by("number").values_list("number", flat=True)) == [1, 2, 3]


def test_a_card_without_a_reward_fills_and_starts_again(program, member):
    coffee_card(program, required=3)
    result = stamp(program, member, 4)
    assert (result.completions, result.stamps, result.rewards) == (1, 1, ())
    assert StampCompletion.objects.get().voucher_id is None and not Voucher.objects.exists()


def test_a_reward_out_of_stock_does_not_undo_the_stamps_the_refusal_is_recorded(program, member):
    # Given a card whose reward has one unit left
    coffee = free_coffee(program, stock=1)
    coffee_card(program, reward=coffee, required=2)
    # When the member fills two cards at once
    result = stamp(program, member, 4)
    # Then both cards are filled; the first got the coffee, the second is recorded as refused
    assert (result.completions, len(result.rewards), result.refused) == (2, 1, ("out_of_stock",))
    assert list(StampCompletion.objects.order_by("number").values_list("refused_code", flat=True)) == ["", "out_of_stock"]
    assert Reward.objects.get(pk=coffee.pk).stock == 0 and Voucher.objects.count() == 1
    assert progress(member) == (0, 2)


def test_an_empty_partner_pool_leaves_nothing_of_the_refused_reward(program, member):
    cinema = make_reward(program, RewardKind.PARTNER_CODE, title_fr="Place de cinéma", stock=3)
    coffee_card(program, reward=cinema, required=1)
    result = stamp(program, member, 1)
    assert result.refused == ("partner_codes_exhausted",)
    assert Reward.objects.get(pk=cinema.pk).stock == 3 and not Voucher.objects.exists() and not OfferEvent.objects.exists()
    assert progress(member) == (0, 1)


def test_a_refund_takes_back_the_stamps_of_its_purchase_once(program, member):
    coffee_card(program, reward=free_coffee(program))
    stamp(program, member, 2, source_type="visit", source_id=1)
    stamp(program, member, 3, source_type="purchase", source_id=42)
    # When purchase 42 is refunded
    taken = stamps_reverse(member=member, source_type="purchase", source_id=42, occurred_at=DAY + dt.timedelta(hours=2))
    # Then its 3 stamps go, the visit's 2 stay
    assert taken == 3 and progress(member) == (2, 0)
    reversal = StampEntry.objects.get(kind=StampEntryKind.REVERSE)
    assert (reversal.delta, reversal.forgiven, reversal.source_type, reversal.source_id) == (-3, 0, "purchase", 42)
    # And a second reversal of the same purchase takes nothing
    assert stamps_reverse(member=member, source_type="purchase", source_id=42, occurred_at=DAY + dt.timedelta(hours=3)) == 0
    assert progress(member) == (2, 0) and StampEntry.objects.filter(kind=StampEntryKind.REVERSE).count() == 1
    assert stamp_stats(program.organization_id).stamps_taken_back == 3


def test_a_filled_card_stays_filled_when_the_purchase_that_filled_it_is_refunded(program, member):
    # Given 8 stamps, then a purchase of 3 coffees that fills the card (1 carried over)
    coffee_card(program, reward=free_coffee(program))
    stamp(program, member, 8)
    stamp(program, member, 3, source_type="purchase", source_id=7)
    assert progress(member) == (1, 1)
    # When the purchase is refunded
    taken = stamps_reverse(member=member, source_type="purchase", source_id=7, occurred_at=DAY + dt.timedelta(days=1))
    # Then only the stamp on the current card is taken back (never below 0); the coffee stays issued
    assert taken == 1 and progress(member) == (0, 1)
    assert Voucher.objects.get().status == VoucherStatus.ISSUED
    reversal = StampEntry.objects.get(kind=StampEntryKind.REVERSE)
    assert (reversal.delta, reversal.forgiven) == (-1, 2)
    # And the 2 forgiven stamps are never taken later, even from new stamps
    stamp(program, member, 4)
    assert stamps_reverse(member=member, source_type="purchase", source_id=7, occurred_at=DAY + dt.timedelta(days=2)) == 0
    assert progress(member) == (4, 1)


def test_a_partial_reversal_takes_at_most_count_then_the_rest(program, member):
    coffee_card(program)
    stamp(program, member, 4, source_type="purchase", source_id=9)
    assert stamps_reverse(member=member, source_type="purchase", source_id=9, occurred_at=DAY, count=1) == 1
    assert progress(member) == (3, 0)
    assert stamps_reverse(member=member, source_type="purchase", source_id=9, occurred_at=DAY) == 3
    assert progress(member) == (0, 0)


def test_a_source_that_gave_no_stamps_reverses_nothing_and_writes_nothing(program, member):
    coffee_card(program)
    stamp(program, member, 2, source_type="purchase", source_id=1)
    before = engagement_state()
    assert stamps_reverse(member=member, source_type="purchase", source_id=2, occurred_at=DAY) == 0
    assert engagement_state() == before


def test_stamps_of_several_cards_from_one_purchase_are_all_taken_back(program, member):
    coffee_card(program, code="cafe")
    coffee_card(program, code="viennoiserie", required=5)
    stamp(program, member, 2, card="cafe", source_type="purchase", source_id=5)
    stamp(program, member, 1, card="viennoiserie", source_type="purchase", source_id=5)
    assert stamps_reverse(member=member, source_type="purchase", source_id=5, occurred_at=DAY) == 3
    assert progress(member, "cafe") == (0, 0) and progress(member, "viennoiserie") == (0, 0)


def test_an_inactive_card_adds_nothing_without_refusing_the_event(program, member):
    card = coffee_card(program)
    stamp_card_update(card=card, actor=STAFF, active=False)
    before = engagement_state()
    result = stamp(program, member, 2)
    assert (result.added, result.entry_id) == (0, None)
    assert engagement_state() == before
    assert member_stamp_cards(member) == []  # an inactive card without progress is not shown


@pytest.mark.parametrize("count", [0, -1, 10_001, True, "3", 2.0, None])
def test_a_bad_count_is_refused_and_nothing_written(program, member, count):
    coffee_card(program, reward=free_coffee(program))
    before = (engagement_state(), snapshot())
    with pytest.raises(InvalidStamps) as refused:
        stamp(program, member, count)
    assert refused.value.code == "invalid_stamps"
    assert (engagement_state(), snapshot()) == before


def test_unknown_cards_other_organizations_closed_members_and_naive_times_are_refused(program, member):
    coffee_card(program)
    other = make_org("autre-cafe")
    stranger = make_member(other)
    before = engagement_state()
    with pytest.raises(StampCardNotFound) as unknown:
        stamp(program, member, card="the")
    assert unknown.value.code == "stamp_card_not_found"
    with pytest.raises(StampCardNotFound):  # the card is this café's, not the other one's
        stamp(program_of(other), stranger)
    with pytest.raises(ValidationFailed) as naive:
        stamp(program, member, when=dt.datetime(2025, 3, 3, 8))
    assert naive.value.code == "naive_datetime"
    with pytest.raises(InvalidStamps) as bad_source:
        stamp(program, member, source_type="x" * 33)
    assert bad_source.value.code == "invalid_source"
    with pytest.raises(InvalidStamps):
        stamps_reverse(member=member, source_type="", source_id=1, occurred_at=DAY)
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.CLOSED)
    member.refresh_from_db()
    with pytest.raises(MemberClosed):
        stamp(program, member)
    assert engagement_state() == before


def test_a_card_is_created_and_changed_with_an_audit_row_and_the_cache_follows(program, member):
    card = coffee_card(program, required=10, description_fr="Le 11e café offert")
    assert stamp_cards_of(program.organization_id) == frozenset({"cafe"})
    assert stamp_card_by_code(program.organization_id, "cafe").stamps_required == 10
    coffee = free_coffee(program)
    stamp_card_update(card=card, actor=STAFF, stamps_required=5, reward=coffee, name_en="Coffee card")
    # The next stamp sees the new definition at once (same process)
    stamp(program, member, 5)
    assert progress(member) == (0, 1) and Voucher.objects.get().reward_id == coffee.pk
    actions = list(AuditEntry.objects.filter(target_type="stamp_card").order_by("pk").values_list("action", "target_id", "data"))
    assert actions == [
        ("stamp_card.create", "cafe", {}),
        ("stamp_card.update", "cafe", {"fields": ["name_en", "reward", "stamps_required"]}),
    ]


def test_lowering_the_stamps_required_fills_a_fuller_card_with_the_next_stamp(program, member):
    card = coffee_card(program, required=10)
    stamp(program, member, 8)
    stamp_card_update(card=card, actor=STAFF, stamps_required=5)
    result = stamp(program, member, 1)
    assert (result.completions, result.stamps) == (1, 4)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": ""}, "code"),
        ({"code": "café"}, "code"),
        ({"code": "a" * 65}, "code"),
        ({"code": "-x"}, "code"),
        ({"name_fr": "  "}, "name_fr"),
        ({"name_fr": "x" * 201}, "name_fr"),
        ({"name_en": None}, "name_en"),
        ({"description_fr": "a\x00b"}, "description_fr"),
        ({"required": 0}, "stamps_required"),
        ({"required": 1001}, "stamps_required"),
        ({"required": True}, "stamps_required"),
        ({"active": "yes"}, "active"),
    ],
)
def test_a_bad_card_definition_is_refused_and_nothing_written(program, fields, field):
    before = (engagement_state(), AuditEntry.objects.count())
    with pytest.raises(InvalidStampCard) as refused:
        coffee_card(program, **fields)
    assert (refused.value.code, refused.value.extra.get("field")) == ("invalid_stamp_card", field)
    assert (engagement_state(), AuditEntry.objects.count()) == before


def test_a_duplicate_code_or_a_foreign_reward_is_refused(program):
    coffee_card(program)
    foreign = free_coffee(program_of(make_org("autre-cafe")))
    before = (engagement_state(), AuditEntry.objects.count())
    with pytest.raises(StampCardExists) as duplicate:
        coffee_card(program)
    assert duplicate.value.code == "stamp_card_exists"
    with pytest.raises(InvalidStampCard) as wrong_reward:
        coffee_card(program, code="autre", reward=foreign)
    assert wrong_reward.value.code == "reward_not_found"
    assert (engagement_state(), AuditEntry.objects.count()) == before


def test_an_update_with_bad_or_read_only_fields_changes_nothing(program):
    card = coffee_card(program)
    before = (engagement_state(), AuditEntry.objects.count())
    for changes in ({"code": "autre"}, {"stamps_required": 0}, {"organization": None}, {"name_fr": ""}):
        with pytest.raises(InvalidStampCard):
            stamp_card_update(card=card, actor=STAFF, **changes)
    assert (engagement_state(), AuditEntry.objects.count()) == before
    assert stamp_card_by_code(program.organization_id, "cafe").stamps_required == 10


def test_the_member_view_lists_active_cards_and_retired_ones_with_progress(program, member):
    coffee_card(program, code="cafe")
    retired = coffee_card(program, code="ancienne", required=4)
    coffee_card(program, code="the", required=6)
    stamp(program, member, 2, card="ancienne")
    stamp_card_update(card=retired, actor=STAFF, active=False)
    views = member_stamp_cards(member)
    assert [(v.card.code, v.stamps, v.stamps_required, v.completed, v.stamps_left) for v in views] == [
        ("ancienne", 2, 4, 0, 2), ("cafe", 0, 10, 0, 10), ("the", 0, 6, 0, 6),
    ]
    assert MemberStampCard.objects.count() == 1  # a card without a stamp has no row yet
