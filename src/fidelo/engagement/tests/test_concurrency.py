"""Stamps and badges under concurrent writers: real threads and connections, released together.

PostgreSQL: the member's card row is locked; SQLite: writers queue on core.db's lock.
"""

import pytest

from fidelo.conftest import at
from fidelo.engagement.models import (
    MemberAchievement,
    MemberStampCard,
    StampCompletion,
    StampEntry,
    StampEntryKind,
)
from fidelo.engagement.services import achievement_grant, stamps_add, stamps_reverse
from fidelo.engagement.tests.helpers import badge, coffee_card, free_coffee
from fidelo.ledger.tests.helpers import all_at_once, errors_of, successes
from fidelo.rewards.models import Voucher

pytestmark = pytest.mark.django_db(transaction=True)

DAY = at(2025, 3, 3, 8, 30)


def stamp(program, member, count, source_id):
    return stamps_add(program=program, member=member, card_code="cafe", count=count, occurred_at=DAY, source_type="purchase", source_id=source_id)


@pytest.mark.parametrize(
    ("before", "each", "completions", "left"),
    [
        (8, 1, 1, 0),  # 8 + 1 + 1 = 10: one card, not two
        (8, 2, 1, 2),  # 12: one card, 2 carried over
        (9, 10, 2, 9),  # 29: two cards, because the stamps allow two
        (0, 1, 0, 2),  # 2: none
    ],
)
def test_two_purchases_at_once_fill_the_card_only_as_often_as_the_stamps_allow(program, member, before, each, completions, left):
    coffee_card(program, reward=free_coffee(program))
    if before:
        stamp(program, member, before, 0)
    results = all_at_once(2, lambda index: stamp(program, member, each, index + 1))
    assert errors_of(results) == []
    assert sum(result.completions for result in successes(results)) == completions
    row = MemberStampCard.objects.get()
    assert (row.stamps, row.completed, row.stamps_earned) == (left, completions, before + 2 * each)
    assert StampCompletion.objects.count() == completions == Voucher.objects.count()
    assert sorted(StampCompletion.objects.values_list("number", flat=True)) == list(range(1, completions + 1))


def test_ten_first_stamps_at_once_open_one_card_row(program, member):
    coffee_card(program, required=100)
    results = all_at_once(10, lambda index: stamp(program, member, 1, index))
    assert errors_of(results) == []
    assert MemberStampCard.objects.get().stamps == 10


def test_a_refund_reversed_twice_at_once_takes_its_stamps_back_once(program, member):
    coffee_card(program)
    stamp(program, member, 3, 1)
    stamp(program, member, 4, 2)
    results = all_at_once(2, lambda index: stamps_reverse(member=member, source_type="purchase", source_id=2, occurred_at=DAY))
    assert sorted(successes(results)) == [0, 4]
    assert MemberStampCard.objects.get().stamps == 3
    assert StampEntry.objects.filter(kind=StampEntryKind.REVERSE).count() == 1


def test_a_badge_granted_by_ten_events_at_once_is_earned_once(program, member):
    badge(program)
    results = all_at_once(
        10, lambda index: achievement_grant(member=member, badge_code="first-visit", occurred_at=DAY, source_type="visit", source_id=index)
    )
    assert errors_of(results) == []
    granted = [value for value in successes(results) if value is not None]
    assert len(granted) == 1 and len(successes(results)) == 10
    assert MemberAchievement.objects.get().pk == granted[0].pk
