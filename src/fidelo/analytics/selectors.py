"""The leaderboard and the statistics, read from the rollups (analytics.models).

Every public selector brings the rollups up to date first (`rollups_refresh(quick=True)`:
a few primary-key lookups when nothing is new) unless called with `refresh=False`, which the
composite selectors (`leaderboard_page`, `dashboard`) do after refreshing once. Each
dashboard panel is a function of its own (the bench times each one).

Where a figure is attributed to a store: purchases, revenue, refunds and visits to the store
where they happened; points issued to the store of the purchase that earned them; member
counts (members, active, tiers, cohorts, RFM, top members) to the member's enrollment store.
Redemptions, expiry and adjustments are not tied to a store: they count under all stores only.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from django.db.models import Q, Sum

from fidelo.analytics.models import (
    ALL_STORES,
    AnalyticsSettings,
    Breakdown,
    CampaignOfferStatsRollup,
    DailyStats,
    MemberStats,
    OfferStatsRollup,
)
from fidelo.analytics.services import (
    FREQUENCY_BANDS,
    MONETARY_BANDS,
    rollups_refresh,
    search_key,
)
from fidelo.core.clock import now
from fidelo.core.errors import ValidationFailed
from fidelo.members.models import Member
from fidelo.rewards.models import Campaign, Reward
from fidelo.tenancy.models import Store
from fidelo.tenancy.selectors import program_for

LEADERBOARD_SORTS = {
    "points": ("-points_earned", "member_id"),
    "balance": ("-balance", "member_id"),
    "revenue": ("-revenue_minor", "member_id"),
    "purchases": ("-purchases", "member_id"),
    "referrals": ("-referrals", "member_id"),
    "rewards": ("-rewards", "member_id"),
    "recent": ("-last_activity_at", "member_id"),
    "name": ("search_last", "member_id"),
}
COUNT_CAP = 10_000  # the leaderboard counts matching members up to this, then says "10,000+"
MAX_PER_PAGE = 200
MAX_PERIOD_DAYS = 3 * 366


def ensure_fresh(organization_id: int) -> None:
    rollups_refresh(organization_id=organization_id, quick=True, limit=2_000)


def settings_for(organization_id: int) -> AnalyticsSettings:
    found = AnalyticsSettings.objects.filter(organization_id=organization_id).first()
    return found or AnalyticsSettings(organization_id=organization_id)


def count_active(organization_id: int, since: dt.datetime, store_id: int | None = None) -> int:
    """Members whose last activity is at or after `since` (and up to now).

    The months after the one `since` falls in come from the RFM breakdown (members by local
    month of their last activity); only that first month is counted on the member rows, an
    index range of at most a month of members.
    """
    tz = _tz(organization_id)
    local = since.astimezone(tz)
    boundary = local.strftime("%Y-%m")
    next_month = (local.replace(day=1) + dt.timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    full = 0
    for key, members in _breakdown(organization_id, "rfm", store_id).values_list("key", "members"):
        month = key.split("|", 1)[0]
        if month != "none" and month > boundary:
            full += members
    partial = MemberStats.objects.filter(organization_id=organization_id, last_activity_at__gte=since, last_activity_at__lt=next_month)
    if store_id is not None:
        partial = partial.filter(enrolled_store_key=store_id)
    return full + partial.count()


def _active_since(organization_id: int, settings: AnalyticsSettings | None = None, at: dt.datetime | None = None) -> dt.datetime:
    settings = settings or settings_for(organization_id)
    return (at or now()) - dt.timedelta(days=settings.active_days)


# --- the leaderboard (Contacts > Fidélité) ---------------------------------------------------


@dataclass(frozen=True)
class GeneralStats:
    members: int
    active_members: int
    active_days: int
    points_distributed: int
    referrals: int
    rewards_unlocked: int


def general_stats(*, organization_id: int, refresh: bool = True) -> GeneralStats:
    """Active members, points distributed (earned, net of refunds), referrals made, rewards unlocked."""
    if refresh:
        ensure_fresh(organization_id)
    settings = settings_for(organization_id)
    totals = _breakdown_sum(organization_id, "all", None)
    active = count_active(organization_id, _active_since(organization_id, settings))
    rewards = OfferStatsRollup.objects.filter(organization_id=organization_id).aggregate(n=Sum("vouchers_issued"))["n"] or 0
    return GeneralStats(
        members=totals["members"], active_members=active, active_days=settings.active_days,
        points_distributed=totals["points_earned"], referrals=totals["referrals"], rewards_unlocked=rewards,
    )


@dataclass(frozen=True)
class MemberRow:
    rank: int | None
    member_id: int
    name: str
    card_number: str
    email: str
    tier: str
    points_earned: int
    balance: int
    purchases: int
    revenue_minor: int
    visits: int
    referrals: int
    rewards: int
    last_activity_at: dt.datetime | None


def _rows(stats: list[MemberStats], first_rank: int | None) -> list[MemberRow]:
    people = {m.id: m for m in Member.objects.filter(id__in=[s.member_id for s in stats]).only("id", "first_name", "last_name", "card_number", "email")}
    rows = []
    for i, s in enumerate(stats):
        m = people.get(s.member_id)
        rows.append(
            MemberRow(
                rank=None if first_rank is None else first_rank + i, member_id=s.member_id,
                name=(m.full_name if m else "") or (m.card_number if m else ""), card_number=m.card_number if m else "", email=m.email if m else "",
                tier=s.tier, points_earned=s.points_earned, balance=s.balance, purchases=s.purchases, revenue_minor=s.revenue_minor,
                visits=s.visits, referrals=s.referrals, rewards=s.rewards, last_activity_at=s.last_activity_at,
            )
        )
    return rows


def top_members(*, organization_id: int, n: int = 3, store_id: int | None = None, refresh: bool = True) -> list[MemberRow]:
    """The n most loyal members: the most points earned (net of refunds), ties by enrollment order."""
    if refresh:
        ensure_fresh(organization_id)
    query = MemberStats.objects.filter(organization_id=organization_id, points_earned__gt=0)
    if store_id is not None:
        query = query.filter(enrolled_store_key=store_id)
    return _rows(list(query.order_by("-points_earned", "member_id")[: max(1, min(n, 100))]), 1)


@dataclass(frozen=True)
class LeaderboardFilters:
    min_points: int | None = None
    referrals: bool | None = None  # True: with referrals, False: without, None: all
    rewards: bool | None = None
    search: str = ""
    sort: str = "points"

    def validate(self) -> None:
        errors = {}
        if self.min_points is not None and not 0 <= self.min_points <= 10**12:
            errors["min_points"] = "a number of points, 0 or more"
        if self.sort not in LEADERBOARD_SORTS:
            errors["sort"] = "one of " + ", ".join(LEADERBOARD_SORTS)
        if len(self.search) > 100:
            errors["search"] = "at most 100 characters"
        if errors:
            raise ValidationFailed("Invalid leaderboard filters", code="leaderboard_filters_invalid", errors=errors)


@dataclass(frozen=True)
class LeaderboardPage:
    rows: list[MemberRow]
    page: int
    per_page: int
    total: int  # exact without filters; with filters, counted up to COUNT_CAP + 1
    total_capped: bool
    has_next: bool

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _leaderboard_query(organization_id: int, filters: LeaderboardFilters):
    query = MemberStats.objects.filter(organization_id=organization_id)
    if filters.min_points is not None:
        query = query.filter(points_earned__gte=filters.min_points)
    if filters.referrals is not None:
        query = query.filter(referrals__gt=0) if filters.referrals else query.filter(referrals=0)
    if filters.rewards is not None:
        query = query.filter(rewards__gt=0) if filters.rewards else query.filter(rewards=0)
    term = search_key(filters.search)
    if term:
        # Prefix of the last name or of the first name ("dup", "anne", "anne dup"): two index ranges.
        stop = term + "\uffff"
        query = query.filter(Q(search_last__gte=term, search_last__lt=stop) | Q(search_first__gte=term, search_first__lt=stop))
    return query


def leaderboard(
    *, organization_id: int, filters: LeaderboardFilters | None = None, page: int = 1, per_page: int = 25, refresh: bool = True
) -> LeaderboardPage:
    """The full ranking, filtered, sorted and paginated. Rank = position in the ranking by points."""
    filters = filters or LeaderboardFilters()
    filters.validate()
    if not 1 <= per_page <= MAX_PER_PAGE or page < 1 or page > 100_000:
        raise ValidationFailed("Invalid page", code="leaderboard_page_invalid")
    if refresh:
        ensure_fresh(organization_id)
    query = _leaderboard_query(organization_id, filters)
    offset = (page - 1) * per_page
    found = list(query.order_by(*LEADERBOARD_SORTS[filters.sort])[offset : offset + per_page + 1])
    unfiltered = filters.min_points is None and filters.referrals is None and filters.rewards is None and not search_key(filters.search)
    if unfiltered:  # every member: the exact count from the totals row
        total = _breakdown_sum(organization_id, "all", None)["members"]
    else:
        total = query.order_by()[: COUNT_CAP + 1].count()
    ranked = filters.sort == "points"
    rows = _rows(found[:per_page], offset + 1 if ranked else None)
    capped = not unfiltered and total > COUNT_CAP
    return LeaderboardPage(rows=rows, page=page, per_page=per_page, total=total, total_capped=capped, has_next=len(found) > per_page)


def leaderboard_export(*, organization_id: int, filters: LeaderboardFilters | None = None, limit: int = 100_000):
    """Every row of the filtered ranking (for the CSV), in chunks, at most `limit`."""
    filters = filters or LeaderboardFilters()
    filters.validate()
    ensure_fresh(organization_id)
    query = _leaderboard_query(organization_id, filters).order_by(*LEADERBOARD_SORTS[filters.sort])
    ranked = filters.sort == "points"
    done = 0
    while done < limit:
        chunk = list(query[done : done + 1000])
        if not chunk:
            return
        yield from _rows(chunk, done + 1 if ranked else None)
        done += len(chunk)


@dataclass(frozen=True)
class PopularReward:
    reward_id: int
    title: str
    cost_points: int
    vouchers_issued: int
    vouchers_used: int
    points_spent: int
    seen: int
    requested: int
    used: int
    penetration_rate: float | None  # requested / seen (members)
    usage_rate: float | None  # used / requested (members)
    campaign: str = ""  # a campaign offer: the campaign's name (its counts are the campaign's only); "": the reward, every channel
    campaign_code: str = ""


def _offer_rows(organization_id: int, language: str, limit: int | None, order: str) -> list[PopularReward]:
    stats = list(OfferStatsRollup.objects.filter(organization_id=organization_id).order_by(order, "reward_id"))
    rewards = {r.id: r for r in Reward.objects.filter(organization_id=organization_id)}
    rows = []
    for s in stats:
        r = rewards.get(s.reward_id)
        if r is None:
            continue
        rows.append(
            PopularReward(
                reward_id=s.reward_id, title=r.title(language), cost_points=r.cost_points, vouchers_issued=s.vouchers_issued,
                vouchers_used=s.vouchers_used, points_spent=s.points_spent, seen=s.seen, requested=s.requested, used=s.used,
                penetration_rate=round(s.requested / s.seen, 4) if s.seen else None, usage_rate=round(s.used / s.requested, 4) if s.requested else None,
            )
        )
    return rows[:limit] if limit else rows


def popular_rewards(*, organization_id: int, limit: int = 5, language: str = "fr", refresh: bool = True) -> list[PopularReward]:
    """The rewards most often unlocked (vouchers issued), most first."""
    if refresh:
        ensure_fresh(organization_id)
    return [r for r in _offer_rows(organization_id, language, None, "-vouchers_issued") if r.vouchers_issued > 0][:limit]


@dataclass(frozen=True)
class ProgressionPoint:
    month: dt.date
    new_members: int
    members: int  # enrolled by the end of the month
    points_issued: int
    points_redeemed: int
    purchases: int
    revenue_minor: int


def progression(*, organization_id: int, months: int = 12, store_id: int | None = None, refresh: bool = True) -> list[ProgressionPoint]:
    """Month by month over the last `months` months (local time): members, points, purchases."""
    if not 1 <= months <= 120:
        raise ValidationFailed("months: between 1 and 120", code="progression_months_invalid")
    if refresh:
        ensure_fresh(organization_id)
    today = _today(organization_id)
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    key = ALL_STORES if store_id is None else store_id
    rows = DailyStats.objects.filter(organization_id=organization_id, store_key=key, day__gte=first, day__lte=today).values_list(
        "day", "new_members", "points_issued", "points_redeemed", "points_restored", "purchases", "revenue_minor"
    )
    buckets: dict[dt.date, list[int]] = {}
    month = first
    while month <= today:
        buckets[month] = [0] * 5
        month = (month + dt.timedelta(days=32)).replace(day=1)
    for day, new, issued, redeemed, restored, purchases, revenue in rows:
        b = buckets[day.replace(day=1)]
        b[0] += new
        b[1] += issued
        b[2] += redeemed - restored
        b[3] += purchases
        b[4] += revenue
    before = _members_enrolled_before(organization_id, first, store_id)
    points = []
    running = before
    for month, (new, issued, redeemed, purchases, revenue) in buckets.items():
        running += new
        points.append(ProgressionPoint(month, new, running, issued, redeemed, purchases, revenue))
    return points


def _members_enrolled_before(organization_id: int, month: dt.date, store_id: int | None) -> int:
    query = Breakdown.objects.filter(organization_id=organization_id, dimension="cohort", key__lt=month.strftime("%Y-%m"))
    if store_id is not None:
        query = query.filter(store_key=store_id)
    return query.aggregate(n=Sum("members"))["n"] or 0


def _tz(organization_id: int) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(program_for(organization_id).organization.timezone)


def _today(organization_id: int) -> dt.date:
    return now().astimezone(_tz(organization_id)).date()


@dataclass(frozen=True)
class LeaderboardScreen:
    general: GeneralStats
    top: list[MemberRow]
    page: LeaderboardPage
    rewards: list[PopularReward]
    progression: list[ProgressionPoint]


def leaderboard_page(
    *, organization_id: int, filters: LeaderboardFilters | None = None, page: int = 1, per_page: int = 25, language: str = "fr"
) -> LeaderboardScreen:
    """Everything the Fidélité screen shows, after one refresh."""
    (filters or LeaderboardFilters()).validate()
    ensure_fresh(organization_id)
    return LeaderboardScreen(
        general=general_stats(organization_id=organization_id, refresh=False),
        top=top_members(organization_id=organization_id, n=3, refresh=False),
        page=leaderboard(organization_id=organization_id, filters=filters, page=page, per_page=per_page, refresh=False),
        rewards=popular_rewards(organization_id=organization_id, limit=5, language=language, refresh=False),
        progression=progression(organization_id=organization_id, months=12, refresh=False),
    )


# --- the statistics dashboard ----------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive
    store_id: int | None = None

    @property
    def store_key(self) -> int:
        return ALL_STORES if self.store_id is None else self.store_id

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def period_of(*, organization_id: int, start: dt.date | None = None, end: dt.date | None = None, store_id: int | None = None) -> Period:
    """A checked period: the last 30 days by default; at most 3 years; the store must be the organization's."""
    today = _today(organization_id)
    end = end or today
    start = start or end - dt.timedelta(days=29)
    if start > end:
        raise ValidationFailed("The period starts after it ends", code="period_invalid")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise ValidationFailed("The period is longer than 3 years", code="period_too_long")
    if store_id is not None and not Store.objects.filter(organization_id=organization_id, id=store_id).exists():
        raise ValidationFailed("Unknown store", code="store_unknown")
    return Period(start, end, store_id)


def _daily(organization_id: int, period: Period):
    return DailyStats.objects.filter(organization_id=organization_id, store_key=period.store_key, day__gte=period.start, day__lte=period.end)


def _sum(organization_id: int, period: Period, *names: str) -> dict[str, int]:
    result = _daily(organization_id, period).aggregate(**{n: Sum(n) for n in names})
    return {n: result[n] or 0 for n in names}


def _breakdown(organization_id: int, dimension: str, store_id: int | None):
    query = Breakdown.objects.filter(organization_id=organization_id, dimension=dimension)
    return query if store_id is None else query.filter(store_key=store_id)


def _breakdown_sum(organization_id: int, dimension: str, store_id: int | None) -> dict[str, int]:
    names = ("members", "returned", "balance", "points_earned", "revenue_minor", "purchases", "referrals")
    result = _breakdown(organization_id, dimension, store_id).aggregate(**{n: Sum(n) for n in names})
    return {n: result[n] or 0 for n in names}


def _has_counts(organization_id: int, store_id: int | None) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for key, members in _breakdown(organization_id, "has", store_id).values_list("key", "members"):
        counts[key] += members
    return counts


@dataclass(frozen=True)
class MembersPanel:
    members: int
    new_members: int  # enrolled in the period
    active_members: int  # activity within active_days of today (or of the period's end when it is past)
    active_days: int
    active_rate: float | None
    daily_new: list[tuple[dt.date, int]]


def panel_members(*, organization_id: int, period: Period) -> MembersPanel:
    settings = settings_for(organization_id)
    total = _breakdown_sum(organization_id, "all", period.store_id)["members"]
    today = _today(organization_id)
    tz = _tz(organization_id)
    if period.end >= today:
        active_n = count_active(organization_id, _active_since(organization_id, settings), period.store_id)
    else:  # members whose last activity fell in the N days before the period's end
        at = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        active = MemberStats.objects.filter(
            organization_id=organization_id, last_activity_at__gte=_active_since(organization_id, settings, at), last_activity_at__lt=at
        )
        if period.store_id is not None:
            active = active.filter(enrolled_store_key=period.store_id)
        active_n = active.count()
    daily = list(_daily(organization_id, period).order_by("day").values_list("day", "new_members"))
    return MembersPanel(
        members=total, new_members=sum(n for _, n in daily), active_members=active_n, active_days=settings.active_days,
        active_rate=round(active_n / total, 4) if total else None, daily_new=daily,
    )


@dataclass(frozen=True)
class VisitsPanel:
    visits: int  # check-ins
    purchases: int  # checkout visits with a purchase
    checkouts: int  # visits + purchases
    active_days_max: int  # the most members active on one day
    daily: list[tuple[dt.date, int, int, int]]  # day, visits, purchases, active members


def panel_visits(*, organization_id: int, period: Period) -> VisitsPanel:
    daily = list(_daily(organization_id, period).order_by("day").values_list("day", "visits", "purchases", "active_members"))
    visits, purchases = sum(r[1] for r in daily), sum(r[2] for r in daily)
    return VisitsPanel(visits=visits, purchases=purchases, checkouts=visits + purchases, active_days_max=max((r[3] for r in daily), default=0), daily=daily)


@dataclass(frozen=True)
class RevenuePanel:
    revenue_minor: int  # members' purchases in the period (gross)
    refunds_minor: int  # refunds made in the period
    net_minor: int
    purchases: int
    average_basket_minor: int | None
    non_member_revenue_minor: int | None  # not known: Fidelo only sees members' purchases
    currency: str
    daily: list[tuple[dt.date, int]]


def panel_revenue(*, organization_id: int, period: Period) -> RevenuePanel:
    daily = list(_daily(organization_id, period).order_by("day").values_list("day", "revenue_minor", "refunds_minor", "purchases"))
    revenue, refunds, purchases = sum(r[1] for r in daily), sum(r[2] for r in daily), sum(r[3] for r in daily)
    currency = program_for(organization_id).organization.currency
    return RevenuePanel(
        revenue_minor=revenue, refunds_minor=refunds, net_minor=revenue - refunds, purchases=purchases,
        average_basket_minor=revenue // purchases if purchases else None, non_member_revenue_minor=None, currency=currency,
        daily=[(r[0], r[1]) for r in daily],
    )


@dataclass(frozen=True)
class PointsPanel:
    issued: int
    reversed: int
    redeemed: int  # net of points given back (cancelled vouchers)
    expired: int
    adjusted: int  # net
    unused: int  # members' balances now (available + pending), the program's liability
    unused_value_minor: int  # what the unused points are worth, in cents
    point_value_minor: int  # value of 100 points (points mode), cents
    cashback: bool
    daily: list[tuple[dt.date, int, int, int]]  # day, issued, redeemed, expired


def panel_points(*, organization_id: int, period: Period) -> PointsPanel:
    rows = list(
        _daily(organization_id, period).order_by("day").values_list(
            "day", "points_issued", "points_reversed", "points_redeemed", "points_restored", "points_expired", "points_adjusted_in", "points_adjusted_out"
        )
    )
    unused = _breakdown_sum(organization_id, "all", period.store_id)["balance"]
    settings = settings_for(organization_id)
    cashback = program_for(organization_id).currency_mode == "cashback"
    value = unused if cashback else unused * settings.point_value_minor // 100
    return PointsPanel(
        issued=sum(r[1] for r in rows), reversed=sum(r[2] for r in rows), redeemed=sum(r[3] - r[4] for r in rows), expired=sum(r[5] for r in rows),
        adjusted=sum(r[6] - r[7] for r in rows), unused=unused, unused_value_minor=value, point_value_minor=settings.point_value_minor,
        cashback=cashback, daily=[(r[0], r[1], r[3] - r[4], r[5]) for r in rows],
    )


def panel_top_members(*, organization_id: int, period: Period, n: int = 10) -> list[MemberRow]:
    """The 10 best members (lifetime points earned), of the store picked (enrollment store)."""
    return top_members(organization_id=organization_id, n=n, store_id=period.store_id, refresh=False)


def panel_offers(*, organization_id: int, period: Period, language: str = "fr") -> list[PopularReward]:
    """Each offer: members who saw, requested and used it; penetration and usage rates (since the start).

    Every reward (its counts take in every channel, campaigns included), then every campaign
    offer (the counts of the events through that campaign only)."""
    return _offer_rows(organization_id, language, None, "-requested") + _campaign_offer_rows(organization_id, language)


def _campaign_offer_rows(organization_id: int, language: str) -> list[PopularReward]:
    stats = list(CampaignOfferStatsRollup.objects.filter(organization_id=organization_id).order_by("-requested", "campaign_id", "reward_id"))
    if not stats:
        return []
    rewards = {r.id: r for r in Reward.objects.filter(organization_id=organization_id, id__in={s.reward_id for s in stats})}
    campaigns = {c.id: c for c in Campaign.objects.filter(organization_id=organization_id, id__in={s.campaign_id for s in stats})}
    rows = []
    for s in stats:
        reward, campaign = rewards.get(s.reward_id), campaigns.get(s.campaign_id)
        if reward is None or campaign is None:
            continue
        rows.append(
            PopularReward(
                reward_id=s.reward_id, title=reward.title(language), cost_points=reward.cost_points, vouchers_issued=0, vouchers_used=0,
                points_spent=0, seen=s.seen, requested=s.requested, used=s.used,
                penetration_rate=round(s.requested / s.seen, 4) if s.seen else None, usage_rate=round(s.used / s.requested, 4) if s.requested else None,
                campaign=campaign.name(language), campaign_code=campaign.code,
            )
        )
    return rows


@dataclass(frozen=True)
class ReferralsPanel:
    referrals: int  # made in the period (the friend joined with the code; by the referrer's enrollment store)
    referrals_total: int  # made since the start
    members_referring: int  # members who referred at least once (ever)
    referring_rate: float | None


def panel_referrals(*, organization_id: int, period: Period) -> ReferralsPanel:
    made = _sum(organization_id, period, "referrals")["referrals"]
    totals = _breakdown_sum(organization_id, "all", period.store_id)
    referring = _has_counts(organization_id, period.store_id).get("referrals", 0)
    return ReferralsPanel(
        referrals=made, referrals_total=totals["referrals"], members_referring=referring,
        referring_rate=round(referring / totals["members"], 4) if totals["members"] else None,
    )


@dataclass(frozen=True)
class Cohort:
    month: str  # YYYY-MM
    members: int
    returned: int  # active again after their enrollment month
    retention_rate: float | None
    revenue_minor: int


def panel_retention(*, organization_id: int, period: Period) -> list[Cohort]:
    """Cohorts by enrollment month (the months the period covers, 24 at most)."""
    first, last = period.start.strftime("%Y-%m"), period.end.strftime("%Y-%m")
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for key, members, returned, revenue in _breakdown(organization_id, "cohort", period.store_id).filter(key__gte=first, key__lte=last).values_list(
        "key", "members", "returned", "revenue_minor"
    ):
        r = rows[key]
        r[0] += members
        r[1] += returned
        r[2] += revenue
    cohorts = [Cohort(k, m, ret, round(ret / m, 4) if m else None, rev) for k, (m, ret, rev) in sorted(rows.items()) if m]
    return cohorts[-24:]


@dataclass(frozen=True)
class ValuePanel:
    members: int
    revenue_minor: int  # lifetime, net of refunds
    average_per_member_minor: int | None
    buyers: int
    average_per_buyer_minor: int | None
    period_revenue_minor: int


def panel_average_value(*, organization_id: int, period: Period) -> ValuePanel:
    totals = _breakdown_sum(organization_id, "all", period.store_id)
    buyers = _has_counts(organization_id, period.store_id).get("purchases", 0)
    in_period = _sum(organization_id, period, "revenue_minor")["revenue_minor"]
    members, revenue = totals["members"], totals["revenue_minor"]
    return ValuePanel(
        members=members, revenue_minor=revenue, average_per_member_minor=revenue // members if members else None, buyers=buyers,
        average_per_buyer_minor=revenue // buyers if buyers else None, period_revenue_minor=in_period,
    )


@dataclass(frozen=True)
class EngagementPanel:
    members: int
    buyers: int  # made at least one purchase
    rewarded: int  # unlocked at least one reward
    referring: int
    buyer_rate: float | None
    reward_rate: float | None
    purchases_per_buyer: float | None
    daily_active: list[tuple[dt.date, int]]


def panel_engagement(*, organization_id: int, period: Period) -> EngagementPanel:
    totals = _breakdown_sum(organization_id, "all", period.store_id)
    has = _has_counts(organization_id, period.store_id)
    members, buyers, rewarded = totals["members"], has.get("purchases", 0), has.get("rewards", 0)
    daily = list(_daily(organization_id, period).order_by("day").values_list("day", "active_members"))
    return EngagementPanel(
        members=members, buyers=buyers, rewarded=rewarded, referring=has.get("referrals", 0),
        buyer_rate=round(buyers / members, 4) if members else None, reward_rate=round(rewarded / members, 4) if members else None,
        purchases_per_buyer=round(totals["purchases"] / buyers, 2) if buyers else None, daily_active=daily,
    )


@dataclass(frozen=True)
class TierRow:
    tier: str  # "" for no tier
    members: int
    share: float | None


def panel_tiers(*, organization_id: int, period: Period) -> list[TierRow]:
    counts: dict[str, int] = defaultdict(int)
    for key, members in _breakdown(organization_id, "tier", period.store_id).values_list("key", "members"):
        counts[key] += members
    total = sum(counts.values())
    return [TierRow(k, n, round(n / total, 4) if total else None) for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n]


RFM_SEGMENTS = ("champions", "loyal", "promising", "at_risk", "lost", "never_bought")


@dataclass(frozen=True)
class RfmPanel:
    segments: dict[str, int]  # segment -> members
    recency: list[int]  # members by months since the last activity: 0-1, 2-3, 4-6, 7-12, 13+ or never
    frequency: list[int]  # by purchases: 0, 1, 2-3, 4-9, 10+
    monetary: list[int]  # by net revenue: 0, < 20 €, < 100 €, < 500 €, 500 €+
    frequency_bands: tuple[int, ...] = field(default=FREQUENCY_BANDS)
    monetary_bands: tuple[int, ...] = field(default=MONETARY_BANDS)


def recency_band(months_ago: int | None) -> int:
    if months_ago is None:
        return 4
    return 0 if months_ago <= 1 else 1 if months_ago <= 3 else 2 if months_ago <= 6 else 3 if months_ago <= 12 else 4


def rfm_segment(months_ago: int | None, f: int, m: int) -> str:
    """Recency in months since the last activity (None: never), frequency and monetary bands."""
    if f == 0:
        return "never_bought"
    if months_ago is not None and months_ago <= 1 and f >= 3 and m >= 3:
        return "champions"
    if months_ago is not None and months_ago <= 3 and f >= 2:
        return "loyal"
    if months_ago is not None and months_ago <= 3:
        return "promising"
    if months_ago is not None and months_ago <= 12 and f >= 2:
        return "at_risk"
    return "lost"


def panel_rfm(*, organization_id: int, period: Period) -> RfmPanel:
    """RFM segments now (recency by calendar month of the last activity, in local time)."""
    today = _today(organization_id)
    segments = dict.fromkeys(RFM_SEGMENTS, 0)
    recency, frequency, monetary = [0] * 5, [0] * 5, [0] * 5
    for key, members in _breakdown(organization_id, "rfm", period.store_id).values_list("key", "members"):
        if not members:
            continue
        month, f, m = key.split("|")
        ago = None if month == "none" else (today.year - int(month[:4])) * 12 + today.month - int(month[5:7])
        segments[rfm_segment(ago, int(f), int(m))] += members
        recency[recency_band(ago)] += members
        frequency[int(f)] += members
        monetary[int(m)] += members
    return RfmPanel(segments=segments, recency=recency, frequency=frequency, monetary=monetary)


PANELS = {
    "members": panel_members,
    "visits": panel_visits,
    "revenue": panel_revenue,
    "points": panel_points,
    "top_members": panel_top_members,
    "offers": panel_offers,
    "referrals": panel_referrals,
    "retention": panel_retention,
    "average_value": panel_average_value,
    "engagement": panel_engagement,
    "tiers": panel_tiers,
    "rfm": panel_rfm,
}


def dashboard(*, organization_id: int, period: Period, language: str = "fr") -> dict:
    """Every panel of the Statistiques screen for the period, after one refresh."""
    ensure_fresh(organization_id)
    result = {}
    for name, panel in PANELS.items():
        result[name] = panel(organization_id=organization_id, period=period, language=language) if name == "offers" else panel(organization_id=organization_id, period=period)
    return result


def as_dict(value) -> dict:
    return asdict(value)
