"""Each statistic of the leaderboard and the dashboard against the raw tables, on the demo data.

The demo (fidelo.demo.seed, small) is played through the real services; analytics.tests.raw
recomputes every figure row by row in Python; the rollups must agree exactly.
"""

import datetime as dt
from collections import Counter

import pytest

from fidelo.analytics import selectors
from fidelo.analytics.models import Breakdown, DailyStats, MemberStats, OfferStatsRollup
from fidelo.analytics.selectors import (
    LeaderboardFilters,
    Period,
    period_of,
    recency_band,
    rfm_segment,
)
from fidelo.analytics.services import (
    FREQUENCY_BANDS,
    MONETARY_BANDS,
    analytics_settings_update,
    band,
    rollups_rebuild,
    rollups_refresh,
)
from fidelo.analytics.tests.raw import Raw
from fidelo.conftest import STAFF
from fidelo.core.clock import now
from fidelo.demo.seed import CAFE, GYM, seed_demo
from fidelo.tenancy.models import Organization, Store

MEMBERS, MONTHS = 24, 3


REFERRALS = 3  # the demo has no referrals yet: three friends join the café's program with a member's code


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The demo, seeded once for the module inside a transaction rolled back at the end."""
    from django.db import transaction

    from fidelo.referrals.tests.helpers import enable, refer

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            seed_demo(members_per_org=MEMBERS, months=MONTHS, seed=11)
            cafe = Organization.objects.get(slug=CAFE)
            enable(cafe)
            referrers = list(cafe.members.order_by("id")[:2])
            for n, referrer in enumerate([referrers[0], referrers[0], referrers[1]]):
                refer(cafe, referrer, first_name="Ami", last_name=f"Parrainé{n}", email=f"ami{n}@exemple.fr")
            rollups_refresh()
            yield {slug: Organization.objects.get(slug=slug).id for slug in (GYM, CAFE)}
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def demo(seeded, db):
    return {slug: Organization.objects.get(id=pk) for slug, pk in seeded.items()}


def whole(org) -> Period:
    today = selectors._today(org.id)
    return period_of(organization_id=org.id, start=today - dt.timedelta(days=31 * MONTHS + 5), end=today)


def test_member_rows_match_the_raw_ledger_purchases_visits_and_vouchers(demo):
    for org in demo.values():
        raw = Raw(org).member_figures()
        stats = {s.member_id: s for s in MemberStats.objects.filter(organization=org)}
        assert set(stats) == set(raw)
        for pk, expected in raw.items():
            s = stats[pk]
            got = {name: getattr(s, name) for name in expected if name not in ("first", "last")}
            assert got == {k: v for k, v in expected.items() if k not in ("first", "last")}, pk
            assert (s.first_activity_at, s.last_activity_at) == (expected["first"], expected["last"]), pk
            # The member's flows add up to the balance (worked example of the ledger's arithmetic).
            assert s.points_earned - s.points_redeemed - s.points_expired + s.points_adjusted + s.points_transferred == s.balance


def test_general_stats_and_the_top_three(demo):
    for org in demo.values():
        raw = Raw(org)
        figures = raw.member_figures()
        general = selectors.general_stats(organization_id=org.id)
        since = now() - dt.timedelta(days=90)
        assert general.members == len(raw.members)
        assert general.active_members == sum(1 for f in figures.values() if f["last"] and f["last"] >= since)
        assert general.points_distributed == sum(f["points_earned"] for f in figures.values())
        assert general.rewards_unlocked == len(raw.vouchers) > 0
        assert general.referrals == len(raw.referrals)
        assert general.referrals >= (REFERRALS if org.slug == CAFE else 0)
        top = selectors.top_members(organization_id=org.id, n=3)
        expected = sorted((pk for pk, f in figures.items() if f["points_earned"] > 0), key=lambda pk: (-figures[pk]["points_earned"], pk))[:3]
        assert [r.member_id for r in top] == expected
        assert [r.rank for r in top] == [1, 2, 3]


def test_each_leaderboard_filter_and_sort_matches_the_raw_figures(demo):
    org = demo[CAFE]
    raw = Raw(org)
    figures = raw.member_figures()
    every = lambda filters: [
        r.member_id for r in selectors.leaderboard(organization_id=org.id, filters=filters, per_page=200).rows
    ]
    by_points = lambda pks: sorted(pks, key=lambda pk: (-figures[pk]["points_earned"], pk))
    assert every(LeaderboardFilters()) == by_points(figures)
    threshold = sorted(f["points_earned"] for f in figures.values())[len(figures) // 2]
    assert every(LeaderboardFilters(min_points=threshold)) == by_points(pk for pk, f in figures.items() if f["points_earned"] >= threshold)
    with_rewards = every(LeaderboardFilters(rewards=True))
    without_rewards = every(LeaderboardFilters(rewards=False))
    assert with_rewards == by_points(pk for pk, f in figures.items() if f["rewards"] > 0)
    assert without_rewards == by_points(pk for pk, f in figures.items() if f["rewards"] == 0)
    assert with_rewards and without_rewards
    with_referrals = every(LeaderboardFilters(referrals=True))
    assert with_referrals == by_points(pk for pk, f in figures.items() if f["referrals"] > 0) and len(with_referrals) >= 2
    assert every(LeaderboardFilters(referrals=False)) == by_points(pk for pk, f in figures.items() if f["referrals"] == 0)
    assert every(LeaderboardFilters(sort="referrals"))[:2] == sorted(with_referrals, key=lambda pk: (-figures[pk]["referrals"], pk))
    someone = raw.members[with_rewards[0]]
    found = every(LeaderboardFilters(search=someone.last_name[:3].upper()))
    assert someone.id in found
    assert all(raw.members[pk].last_name.lower().startswith(someone.last_name[:3].lower())
               or raw.members[pk].first_name.lower().startswith(someone.last_name[:3].lower()) for pk in found)
    assert someone.id in every(LeaderboardFilters(search=f"{someone.first_name} {someone.last_name}"))
    assert every(LeaderboardFilters(search="zzzz-nobody")) == []
    assert every(LeaderboardFilters(sort="revenue")) == sorted(figures, key=lambda pk: (-figures[pk]["revenue_minor"], pk))
    assert every(LeaderboardFilters(sort="rewards")) == sorted(figures, key=lambda pk: (-figures[pk]["rewards"], pk))
    # Pagination: pages of 5 put together are the whole ranking, ranks continue.
    pages = [selectors.leaderboard(organization_id=org.id, page=n, per_page=5) for n in range(1, 8)]
    assert [r.member_id for p in pages for r in p.rows] == by_points(figures)
    assert pages[1].rows[0].rank == 6 and pages[0].total == len(figures) == MEMBERS + REFERRALS and pages[0].pages == 6
    assert [p.has_next for p in pages[:6]] == [True, True, True, True, True, False]
    # The CSV export has the same rows.
    assert [r.member_id for r in selectors.leaderboard_export(organization_id=org.id, filters=LeaderboardFilters(rewards=True))] == with_rewards


def test_dashboard_flows_for_the_period_all_stores_and_each_store(demo):
    for org in demo.values():
        raw = Raw(org)
        period = whole(org)
        stores = [None, *Store.objects.filter(organization=org).values_list("id", flat=True)]
        for store_id in stores:
            p = Period(period.start, period.end, store_id)
            expected = raw.daily(p.start, p.end, store_id)
            visits = selectors.panel_visits(organization_id=org.id, period=p)
            revenue = selectors.panel_revenue(organization_id=org.id, period=p)
            members = selectors.panel_members(organization_id=org.id, period=p)
            assert (visits.visits, visits.purchases) == (expected["visits"], expected["purchases"]), store_id
            assert (revenue.revenue_minor, revenue.refunds_minor) == (expected["revenue_minor"], expected["refunds_minor"]), store_id
            assert revenue.non_member_revenue_minor is None
            assert members.new_members == expected["new_members"], store_id
            assert selectors.panel_referrals(organization_id=org.id, period=p).referrals == expected["referrals"], store_id
            active = raw.active_per_day(store_id)
            assert {d: n for d, _v, _p, n in visits.daily if n} == {d: n for d, n in active.items() if p.start <= d <= p.end}
            points = selectors.panel_points(organization_id=org.id, period=p)
            assert points.issued == expected["points_issued"], store_id
            if store_id is None:
                assert (points.redeemed, points.expired, points.reversed, points.adjusted) == (
                    expected["points_redeemed"], expected["points_expired"], expected["points_reversed"], expected["points_adjusted"]
                )
        # A shorter period: the last 7 days.
        today = selectors._today(org.id)
        week = Period(today - dt.timedelta(days=6), today)
        expected = raw.daily(week.start, week.end, None)
        assert selectors.panel_visits(organization_id=org.id, period=week).purchases == expected["purchases"]
        assert selectors.panel_points(organization_id=org.id, period=week).issued == expected["points_issued"]


def test_member_panels_tiers_cohorts_rfm_value_engagement_and_liability(demo):
    for org in demo.values():
        raw = Raw(org)
        figures = raw.member_figures()
        period = whole(org)
        unused = sum(f["balance"] for f in figures.values())
        points = selectors.panel_points(organization_id=org.id, period=period)
        assert points.unused == unused and points.unused_value_minor == unused  # 100 points = 1 € by default
        analytics_settings_update(organization=org, actor=STAFF, point_value_minor=250)
        assert selectors.panel_points(organization_id=org.id, period=period).unused_value_minor == unused * 250 // 100
        tiers = selectors.panel_tiers(organization_id=org.id, period=period)
        assert {t.tier: t.members for t in tiers} == dict(Counter(m.tier for m in raw.members.values()))
        cohorts = {c.month: c for c in selectors.panel_retention(organization_id=org.id, period=period)}
        expected = Counter(raw.day(m.enrolled_at).strftime("%Y-%m") for m in raw.members.values())
        assert {k: c.members for k, c in cohorts.items()} == {k: n for k, n in expected.items() if k >= period.start.strftime("%Y-%m")}
        returned = Counter(
            raw.day(m.enrolled_at).strftime("%Y-%m") for pk, m in raw.members.items()
            if figures[pk]["last"] and raw.day(figures[pk]["last"]).strftime("%Y-%m") > raw.day(m.enrolled_at).strftime("%Y-%m")
        )
        assert {k: c.returned for k, c in cohorts.items()} == {k: returned.get(k, 0) for k in cohorts}
        value = selectors.panel_average_value(organization_id=org.id, period=period)
        revenue = sum(f["revenue_minor"] for f in figures.values())
        assert (value.members, value.revenue_minor, value.average_per_member_minor) == (len(figures), revenue, revenue // len(figures))
        engagement = selectors.panel_engagement(organization_id=org.id, period=period)
        assert engagement.buyers == sum(1 for f in figures.values() if f["purchases"])
        assert engagement.rewarded == sum(1 for f in figures.values() if f["rewards"])
        today = selectors._today(org.id)
        segments = Counter()
        for f in figures.values():
            ago = None if f["last"] is None else (today.year - raw.day(f["last"]).year) * 12 + today.month - raw.day(f["last"]).month
            segments[rfm_segment(ago, band(f["purchases"], FREQUENCY_BANDS), band(f["revenue_minor"], MONETARY_BANDS))] += 1
            assert recency_band(ago) in range(5)
        rfm = selectors.panel_rfm(organization_id=org.id, period=period)
        assert {k: v for k, v in rfm.segments.items() if v} == dict(segments)
        assert sum(rfm.recency) == sum(rfm.frequency) == sum(rfm.monetary) == len(figures)


def test_offers_and_popular_rewards_match_the_offer_events_and_vouchers(demo):
    from fidelo.rewards.models import Reward
    from fidelo.rewards.selectors import offer_stats

    for org in demo.values():
        raw = Raw(org).offers()
        rows = selectors.panel_offers(organization_id=org.id, period=whole(org))
        rewards, campaign_offers = [r for r in rows if not r.campaign], [r for r in rows if r.campaign]
        assert rewards and campaign_offers  # the demo runs "Offres du moment"
        for row in campaign_offers:  # counted from the events through the campaign, by the campaigns' own selector
            from fidelo.rewards.campaign_selectors import access_campaign, campaign_stats

            (official,) = [o for o in campaign_stats(access_campaign(org.id, row.campaign_code)) if o.reward_id == row.reward_id]
            assert (row.seen, row.requested, row.used) == (official.seen, official.requested, official.used) and row.requested > 0
        for row in rewards:
            official = offer_stats(Reward.objects.get(pk=row.reward_id))
            assert (row.seen, row.requested, row.used) == (official.seen, official.requested, official.used)
            assert (row.penetration_rate, row.usage_rate) == (official.penetration_rate, official.usage_rate)
            assert row.vouchers_issued == raw.get(row.reward_id, {}).get("vouchers", 0)
        popular = selectors.popular_rewards(organization_id=org.id, limit=10)
        assert [r.vouchers_issued for r in popular] == sorted((v["vouchers"] for v in raw.values() if v["vouchers"]), reverse=True)[:10]


def test_progression_counts_members_and_points_month_by_month(demo):
    org = demo[GYM]
    raw = Raw(org)
    months = selectors.progression(organization_id=org.id, months=MONTHS + 1)
    assert months[-1].members == len(raw.members)
    for point in months:
        start = point.month
        end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        expected = raw.daily(start, end, None)
        assert (point.new_members, point.points_issued, point.points_redeemed, point.purchases) == (
            expected["new_members"], expected["points_issued"], expected["points_redeemed"], expected["purchases"]
        )


def test_the_active_member_definition_is_a_setting(demo):
    org = demo[CAFE]
    figures = Raw(org).member_figures()
    for days in (1, 7, 30, 45, 61, 400):
        analytics_settings_update(organization=org, actor=STAFF, active_days=days)
        since = now() - dt.timedelta(days=days)
        expected = sum(1 for f in figures.values() if f["last"] and f["last"] >= since)
        assert selectors.general_stats(organization_id=org.id).active_members == expected
        assert selectors.panel_members(organization_id=org.id, period=whole(org)).active_members == expected


def _snapshot(org_id: int):
    return (
        sorted(MemberStats.objects.filter(organization_id=org_id).values_list()),
        sorted(DailyStats.objects.filter(organization_id=org_id).values_list("store_key", "day", "points_issued", "purchases", "revenue_minor", "visits", "new_members", "active_members", "vouchers_issued")),
        sorted(Breakdown.objects.filter(organization_id=org_id, members__gt=0).values_list(
            "dimension", "store_key", "key", "members", "returned", "balance", "points_earned", "revenue_minor", "purchases", "referrals"
        )),
        sorted(OfferStatsRollup.objects.filter(organization_id=org_id).values_list()),
    )


def test_incremental_refresh_equals_a_rebuild_and_is_idempotent(demo):
    from fidelo.ledger.services import points_adjust
    from fidelo.members.models import Member
    from fidelo.members.services import member_enroll
    from fidelo.tenancy.selectors import program_for

    org = demo[CAFE]
    incremental = _snapshot(org.id)
    assert rollups_refresh(organization_id=org.id) >= 0
    assert rollups_refresh(organization_id=org.id, quick=True) == 0  # nothing new since
    assert _snapshot(org.id) == incremental  # a rescan changes nothing
    # New rows after the first refresh: quick refreshes (the selectors') take them in.
    member = Member.objects.filter(organization=org).order_by("id").first()
    stats_before = MemberStats.objects.get(member=member)
    points_adjust(program=program_for(org.id), member=member, delta=17, actor=STAFF, note="geste commercial")
    newcomer = member_enroll(organization=org, actor=STAFF, first_name="Zoé", last_name="Nouvelle", email="zoe.nouvelle@exemple.fr")
    general = selectors.general_stats(organization_id=org.id)
    assert general.members == MEMBERS + REFERRALS + 1
    assert MemberStats.objects.get(member=newcomer).search_last == "nouvelle zoe"
    stats_after = MemberStats.objects.get(member=member)
    assert (stats_after.points_adjusted, stats_after.balance) == (stats_before.points_adjusted + 17, stats_before.balance + 17)
    after = _snapshot(org.id)
    rollups_rebuild(organization_id=org.id)
    assert _snapshot(org.id) == after
    gym = demo[GYM]
    before = _snapshot(gym.id)
    rollups_rebuild(organization_id=gym.id)
    assert _snapshot(gym.id) == before


def test_an_organization_sees_only_its_own_figures(demo):
    gym, cafe = demo[GYM], demo[CAFE]
    gym_ids = set(MemberStats.objects.filter(organization=gym).values_list("member_id", flat=True))
    rows = selectors.leaderboard(organization_id=cafe.id, per_page=200).rows
    assert rows and not ({r.member_id for r in rows} & gym_ids)
    other_store = Store.objects.filter(organization=gym).first()
    with pytest.raises(Exception) as refused:
        period_of(organization_id=cafe.id, store_id=other_store.id)
    assert refused.value.code == "store_unknown"
