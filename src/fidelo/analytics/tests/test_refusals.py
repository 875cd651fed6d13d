"""Bad input to the statistics: each refusal has its code and changes nothing."""

import datetime as dt

import pytest

from fidelo.analytics import selectors
from fidelo.analytics.models import AnalyticsSettings, MemberStats
from fidelo.analytics.selectors import LeaderboardFilters, period_of
from fidelo.analytics.services import analytics_settings_update, rollups_refresh
from fidelo.conftest import STAFF, make_member, make_org
from fidelo.core.errors import ValidationFailed
from fidelo.tenancy.services import store_create


@pytest.mark.parametrize(
    ("filters", "page", "per_page"),
    [
        (LeaderboardFilters(min_points=-1), 1, 25),
        (LeaderboardFilters(sort="drop table"), 1, 25),
        (LeaderboardFilters(search="x" * 101), 1, 25),
        (LeaderboardFilters(), 0, 25),
        (LeaderboardFilters(), 1, 0),
        (LeaderboardFilters(), 1, 201),
    ],
)
def test_bad_leaderboard_requests_are_refused(org, filters, page, per_page):
    with pytest.raises(ValidationFailed) as refused:
        selectors.leaderboard(organization_id=org.id, filters=filters, page=page, per_page=per_page)
    assert refused.value.code in ("leaderboard_filters_invalid", "leaderboard_page_invalid")
    assert refused.value.status == 422


def test_bad_periods_are_refused(org, store):
    other = make_org("autre-marchand")
    foreign = store_create(organization=other, code="ailleurs", name="Ailleurs", city="Lyon")
    day = dt.date(2026, 3, 10)
    cases = [
        (dict(start=day, end=day - dt.timedelta(days=1)), "period_invalid"),
        (dict(start=day - dt.timedelta(days=4 * 366), end=day), "period_too_long"),
        (dict(store_id=foreign.id), "store_unknown"),
        (dict(store_id=999_999), "store_unknown"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ValidationFailed) as refused:
            period_of(organization_id=org.id, **kwargs)
        assert refused.value.code == code
    assert period_of(organization_id=org.id, store_id=store.id).store_id == store.id
    with pytest.raises(ValidationFailed):
        selectors.progression(organization_id=org.id, months=0)


def test_bad_settings_are_refused_and_nothing_changes(org):
    analytics_settings_update(organization=org, actor=STAFF, active_days=30, point_value_minor=80)
    for kwargs in (dict(active_days=0), dict(active_days=5000), dict(point_value_minor=-1), dict(active_days=10, point_value_minor=-5)):
        with pytest.raises(ValidationFailed) as refused:
            analytics_settings_update(organization=org, actor=STAFF, **kwargs)
        assert refused.value.code == "analytics_settings_invalid"
    settings = AnalyticsSettings.objects.get(organization=org)
    assert (settings.active_days, settings.point_value_minor) == (30, 80)
    from fidelo.core.models import AuditEntry

    entries = list(AuditEntry.objects.filter(organization_id=org.id, action="analytics_settings.update").values_list("data", flat=True))
    assert entries == [{"active_days": 30, "point_value_minor": 80}]  # one row, for the accepted change only


def test_an_empty_program_has_zeros_not_errors(org):
    general = selectors.general_stats(organization_id=org.id)
    assert (general.members, general.active_members, general.points_distributed, general.rewards_unlocked) == (0, 0, 0, 0)
    period = period_of(organization_id=org.id)
    board = selectors.dashboard(organization_id=org.id, period=period)
    assert board["members"].active_rate is None and board["revenue"].average_basket_minor is None
    assert selectors.leaderboard(organization_id=org.id).rows == []


def test_a_member_enrolled_without_activity_is_ranked_with_zero(org):
    member = make_member(org, first_name="Élodie", last_name="Marchand")
    assert rollups_refresh(organization_id=org.id) >= 1
    stats = MemberStats.objects.get(member=member)
    assert (stats.points_earned, stats.purchases, stats.last_activity_at, stats.search_first) == (0, 0, None, "elodie marchand")
    assert [r.member_id for r in selectors.leaderboard(organization_id=org.id, filters=LeaderboardFilters(search="élo")).rows] == [member.id]
    assert selectors.top_members(organization_id=org.id) == []  # no points yet: nobody on the podium


def test_the_watermark_settles_a_minute_after_an_id_was_seen(org, monkeypatch):
    from fidelo.analytics import services
    from fidelo.analytics.models import RollupState

    member = make_member(org)
    clock = [1_000_000.0]
    monkeypatch.setattr(services.time, "time", lambda: clock[0])
    assert rollups_refresh(organization_id=org.id) == 1
    state = RollupState.objects.get(organization=org, source="member")
    assert (state.last_id, state.seen_id, state.checkpoints) == (0, member.id, [[member.id, clock[0]]])
    assert rollups_refresh(organization_id=org.id, quick=True) == 0  # quick: nothing past the last id seen
    clock[0] += 30
    assert rollups_refresh(organization_id=org.id) == 1  # the worker rescans what has not settled
    assert RollupState.objects.get(pk=state.pk).last_id == 0
    clock[0] += 31
    rollups_refresh(organization_id=org.id)
    state.refresh_from_db()
    assert (state.last_id, state.checkpoints) == (member.id, [])
    assert rollups_refresh(organization_id=org.id) == 0  # settled: nothing to read any more
    assert MemberStats.objects.filter(organization=org).count() == 1
