"""Upgrades at once, downgrades after the window and grace, rolling and calendar windows,
reversals, and the point balance that never decides the tier."""

import itertools

import pytest

from fidelo.conftest import STAFF, make_member
from fidelo.core.clock import travel_to
from fidelo.core.db import all_or_nothing
from fidelo.ledger.selectors import member_balance
from fidelo.ledger.services import Why, points_earn, points_redeem
from fidelo.rewards.services import member_tier_code
from fidelo.tiers.models import TierActivity, TierHistory, TierStatus
from fidelo.tiers.selectors import (
    access_tier_level,
    member_tier_history,
    member_tier_status,
    members_by_tier,
    tier_terms,
)
from fidelo.tiers.services import (
    tier_activity_record,
    tier_level_update,
    tiers_review_due,
)
from fidelo.tiers.tests.helpers import earn, ladder, paris, tier_of
from fidelo.tiers.windows import add_months, year_bounds

pytestmark = pytest.mark.django_db


def test_a_member_crosses_the_gold_threshold_and_is_gold_at_once(org, program, member):
    ladder(org)
    assert earn(program, member, paris(2025, 3, 1), points=400) is None
    assert tier_of(member) == ""

    change = earn(program, member, paris(2025, 3, 2), points=200)
    assert (change.from_code, change.to_code, change.reason) == ("", "silver", "upgrade")
    assert tier_of(member) == "silver"

    change = earn(program, member, paris(2025, 4, 5), points=450)  # 1050 this year
    assert (change.from_code, change.to_code) == ("silver", "gold")
    assert tier_of(member) == "gold"
    assert member.tier == "gold"  # the caller's instance follows
    assert member_tier_code(member) == "gold"  # rewards restricted to gold now let this member in
    assert [(h.from_code, h.to_code, h.reason) for h in member_tier_history(member)] == [("silver", "gold", "upgrade"), ("", "silver", "upgrade")]
    assert tier_terms(org.id).multiplier_percent(member.tier) == 150


def test_skipping_a_level_writes_one_change(org, program, member):
    ladder(org)
    change = earn(program, member, paris(2025, 3, 1), points=2500)
    assert (change.from_code, change.to_code) == ("", "platinum")
    assert TierHistory.objects.filter(member=member).count() == 1


def test_without_tier_levels_nothing_is_recorded_and_no_query_is_made(org, program, member, django_assert_num_queries):
    assert tier_terms(org.id) is None  # read once, then cached
    with django_assert_num_queries(0):
        assert earn(program, member, paris(2025, 3, 1), points=5000) is None
    assert not TierActivity.objects.exists()
    assert member_tier_status(member) is None


def test_an_event_costs_an_insert_and_one_read_unless_it_upgrades(org, program, member, django_assert_num_queries):
    ladder(org)
    earn(program, member, paris(2025, 3, 1), points=1200)  # gold
    with all_or_nothing():  # as inside the awards' transaction: no savepoints
        with django_assert_num_queries(2), travel_to(paris(2025, 3, 2)):
            assert tier_activity_record(program=program, member=member, occurred_at=paris(2025, 3, 2), tier_points=10, source_type="purchase", source_id=1) is None
        with django_assert_num_queries(1), travel_to(paris(2025, 3, 2)):  # a reversal never upgrades: no read
            assert tier_activity_record(program=program, member=member, occurred_at=paris(2025, 3, 2), tier_points=-10, source_type="refund", source_id=1) is None


def test_only_the_organization_metric_counts(org, program, member):
    ladder(org, metric="visits")
    for day in range(1, 10):
        assert earn(program, member, paris(2025, 3, day), visits=1, points=1000, spend=100_000) is None
    assert tier_of(member) == ""
    # the thresholds count visits now: silver at 10 visits
    tier_level_update(level=access_tier_level(org.id, "silver"), actor=STAFF, threshold=10)
    change = earn(program, member, paris(2025, 3, 10), visits=1)
    assert change.to_code == "silver"


def test_spend_in_cents_can_be_the_metric(org, program, member):
    ladder(org, metric="spend")
    assert earn(program, member, paris(2025, 3, 1), spend=499) is None
    assert earn(program, member, paris(2025, 3, 1), points=5000) is None
    assert earn(program, member, paris(2025, 3, 2), spend=1).to_code == "silver"  # 500 cents


def test_spending_points_does_not_change_the_tier(org, program, member):
    ladder(org)
    when = paris(2025, 3, 1)
    with travel_to(when):
        points_earn(program=program, member=member, amount=1200, occurred_at=when, pending_days=0, why=Why(reason="purchase"))
    earn(program, member, when, points=1200)
    assert tier_of(member) == "gold"
    with travel_to(paris(2025, 3, 2)):
        points_redeem(program=program, member=member, amount=1200, why=Why(reason="redemption"))
        assert member_balance(member, "PTS").available == 0
        status = member_tier_status(member)
    assert tier_of(member) == "gold"
    assert status.tier.code == "gold" and status.progress.value == 1200
    with travel_to(paris(2026, 6, 1)):
        assert tiers_review_due() == 0  # 2025 supports gold: kept through 2026
    assert tier_of(member) == "gold"


def test_downgrade_only_after_the_window_end_and_the_grace_period(org, program, member):
    ladder(org, grace_days=30)
    earn(program, member, paris(2024, 3, 1), points=1100)  # gold in 2024
    with travel_to(paris(2025, 1, 31, 1)):
        assert tiers_review_due() == 0  # 2024 supports gold: kept through 2025
    earn(program, member, paris(2025, 5, 1), points=600)  # 2025: only silver's worth
    with travel_to(paris(2025, 6, 1)):
        status = member_tier_status(member)
    assert status.tier.code == "gold"
    assert status.review_at == paris(2026, 1, 31, 0)  # 1 January 2026 + 30 days, Paris time
    assert status.downgrade_at == paris(2026, 1, 31, 0) and status.falls_to.code == "silver"
    assert (status.requalify_value, status.requalify_missing) == (600, 400)

    for moment in (paris(2025, 12, 31, 23, 59), paris(2026, 1, 1, 0, 1), paris(2026, 1, 30, 23, 59)):
        with travel_to(moment):
            assert tiers_review_due() == 0
        assert tier_of(member) == "gold"
    with travel_to(paris(2026, 1, 31, 0, 1)):
        assert tiers_review_due() == 1
    assert tier_of(member) == "silver"
    last = member_tier_history(member)[0]
    assert (last.from_code, last.to_code, last.reason) == ("gold", "silver", "downgrade")
    with travel_to(paris(2026, 2, 1)):
        assert tiers_review_due() == 0  # reviewed once per window


def test_what_is_earned_during_the_grace_period_counts(org, program, member):
    ladder(org, grace_days=30)
    earn(program, member, paris(2024, 3, 1), points=1100)
    with travel_to(paris(2025, 1, 31, 1)):
        tiers_review_due()
    earn(program, member, paris(2026, 1, 10), points=700)  # 2025 had nothing; January 2026: silver's worth
    with travel_to(paris(2026, 2, 1)):
        assert tiers_review_due() == 1
    assert tier_of(member) == "silver"
    status = TierStatus.objects.get(member=member)
    assert status.window_end == paris(2027, 1, 1, 0)


def test_a_member_who_earns_nothing_falls_to_no_tier(org, program, member):
    ladder(org)
    earn(program, member, paris(2024, 3, 1), points=600)
    with travel_to(paris(2026, 1, 2)):
        assert tiers_review_due() == 1  # late by a whole year: both windows reviewed
    assert tier_of(member) == ""
    status = TierStatus.objects.get(member=member)
    assert (status.tier_code, status.held_code, status.review_at, status.since) == ("", "", None, None)


def test_a_reversal_lowers_the_progress_but_does_not_downgrade_at_once(org, program, member):
    ladder(org)
    earn(program, member, paris(2025, 3, 1), points=1000)
    assert tier_of(member) == "gold"
    assert earn(program, member, paris(2025, 3, 5), points=-600, source_type="refund") is None
    assert tier_of(member) == "gold"
    with travel_to(paris(2025, 3, 6)):
        status = member_tier_status(member)
        assert tiers_review_due() == 0
    assert status.progress.value == 400
    assert status.progress.next_level.code == "platinum" and status.progress.missing == 1600
    assert status.downgrade_at == paris(2026, 1, 1, 0) and status.falls_to is None
    with travel_to(paris(2026, 1, 1, 0, 5)):
        assert tiers_review_due() == 1
    assert tier_of(member) == ""


def test_rolling_window_counts_the_last_n_months(org, program, member):
    ladder(org, window="rolling", window_months=6)
    earn(program, member, paris(2024, 1, 10), points=300)
    assert earn(program, member, paris(2024, 8, 10), points=300) is None  # January is more than 6 months back
    assert tier_of(member) == ""
    change = earn(program, member, paris(2024, 9, 1), points=300)  # August + September: 600
    assert change.to_code == "silver"
    assert TierStatus.objects.get(member=member).window_end == paris(2025, 3, 1)

    change = earn(program, member, paris(2024, 10, 1), points=500)  # 1100 over the last 6 months
    assert change.to_code == "gold"
    status = TierStatus.objects.get(member=member)
    assert status.window_end == paris(2025, 4, 1)  # reviewed 6 months after reaching gold
    earn(program, member, paris(2025, 1, 15), points=550)  # the window 1 October - 1 April: 500 + 550
    with travel_to(paris(2025, 4, 1, 12, 5)):
        assert tiers_review_due() == 0  # 1050: gold kept for 6 more months
    assert TierStatus.objects.get(member=member).window_end == paris(2025, 10, 1)
    with travel_to(paris(2025, 10, 2)):
        assert tiers_review_due() == 1  # 1 April - 1 October: nothing
    assert tier_of(member) == ""


def test_the_same_activity_qualifies_over_a_calendar_year(org, program, member):
    ladder(org)
    earn(program, member, paris(2024, 1, 10), points=300)
    assert earn(program, member, paris(2024, 8, 10), points=300).to_code == "silver"


def test_calendar_years_follow_the_organization_time_zone(org, program, member):
    ladder(org)
    # 31 December 23:30 in Paris is still 2024 there (22:30 UTC); 1 January 00:30 is 2025.
    earn(program, member, paris(2024, 12, 31, 23, 30), points=600)
    assert tier_of(member) == "silver"
    assert TierStatus.objects.get(member=member).window_end == paris(2025, 1, 1, 0)
    with travel_to(paris(2025, 1, 1, 0, 30)):
        status = member_tier_status(member)
    assert status.progress.value == 0 and status.progress.window_start == paris(2025, 1, 1, 0)
    assert year_bounds(paris(2025, 1, 1, 0, 30), "Europe/Paris")[0] == paris(2025, 1, 1, 0)
    assert add_months(paris(2025, 1, 31), 1, "Europe/Paris") == paris(2025, 2, 28)


def test_progress_shows_what_is_missing_for_the_next_level(org, program, member):
    ladder(org)
    earn(program, member, paris(2025, 3, 1), points=700)
    with travel_to(paris(2025, 3, 2)):
        status = member_tier_status(member)
    assert (status.tier.code, status.via, status.since) == ("silver", "threshold", paris(2025, 3, 1))
    progress = status.progress
    assert (progress.metric, progress.value, progress.next_level.code, progress.missing) == ("points", 700, "gold", 300)
    assert (progress.window_start, progress.window_end) == (paris(2025, 1, 1, 0), paris(2026, 1, 1, 0))
    assert status.downgrade_at is None  # 700 this year already keeps silver


def test_members_by_tier_counts_the_current_tiers(org, program):
    ladder(org)
    members = [make_member(org) for _ in range(4)]
    for member, points in zip(members, (600, 700, 1500, 0), strict=True):
        earn(program, member, paris(2025, 3, 1), points=points)
    assert members_by_tier(org.id) == {"silver": 2, "gold": 1, "platinum": 0}


def test_history_and_member_tier_stay_in_sync(org, program, member):
    ladder(org)
    earn(program, member, paris(2024, 3, 1), points=2100)
    earn(program, member, paris(2025, 3, 1), points=1000)
    with travel_to(paris(2026, 1, 1, 1)):
        tiers_review_due()
    with travel_to(paris(2027, 1, 1, 1)):
        tiers_review_due()
    history = list(reversed(member_tier_history(member)))
    assert [(h.from_code, h.to_code) for h in history] == [("", "platinum"), ("platinum", "gold"), ("gold", "")]
    for before, after in itertools.pairwise(history):
        assert before.to_code == after.from_code
    assert tier_of(member) == TierStatus.objects.get(member=member).tier_code == history[-1].to_code
