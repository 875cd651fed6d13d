"""Reads for tiers: the organization's tier terms (cached), a member's status and progress,
their history, and how many members hold each level.

tier_terms() is read on every earning event: it is cached per process for a few seconds,
like the program (tenancy.selectors.program_for). A change made in this process is seen at
once (the services call forget_tiers), in other processes within CACHE_SECONDS.
"""

import datetime as dt
import time
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count

from fidelo.core.clock import now
from fidelo.core.db import db_time
from fidelo.members.models import Member
from fidelo.tenancy.selectors import program_for
from fidelo.tiers.errors import TierNotFound
from fidelo.tiers.models import (
    Metric,
    TierHistory,
    TierLevel,
    TierSettings,
    TierStatus,
    Window,
)
from fidelo.tiers.windows import add_months, year_bounds

CACHE_SECONDS = 5.0

# The activity column each metric counts.
METRIC_COLUMNS = {Metric.POINTS: "tier_points", Metric.SPEND: "spend_minor", Metric.VISITS: "visits"}


@dataclass(frozen=True, slots=True)
class Level:
    code: str
    name_fr: str
    name_en: str
    rank: int
    threshold: int | None  # None: bought only (VIP)
    multiplier_percent: int
    perks_fr: str
    perks_en: str
    vip_price_minor: int | None
    vip_months: int | None

    def name(self, language: str) -> str:
        return self.name_en if language.startswith("en") and self.name_en else self.name_fr


@dataclass(frozen=True, slots=True)
class TierTerms:
    """An organization's tier levels (lowest rank first) and how members qualify."""

    organization_id: int
    metric: str  # "points" | "spend" | "visits"
    window: str  # "calendar_year" | "rolling"
    window_months: int  # rolling window length
    grace_days: int
    timezone: str
    levels: tuple[Level, ...]

    def level(self, code: str | None) -> Level | None:
        for level in self.levels:
            if level.code == code:
                return level
        return None

    def rank(self, code: str | None) -> int:
        """0 for no tier (or an unknown code)."""
        level = self.level(code) if code else None
        return level.rank if level else 0

    def multiplier_percent(self, code: str | None) -> int:
        """The earn multiplier of the level, in percent (100: none)."""
        level = self.level(code) if code else None
        return level.multiplier_percent if level else 100

    def level_for(self, value: int) -> Level | None:
        """The highest level whose threshold `value` reaches (levels bought only never qualify)."""
        reached = None
        for level in self.levels:
            if level.threshold is not None and value >= level.threshold:
                reached = level
        return reached

    def higher(self, a: str | None, b: str | None) -> str:
        a, b = a or "", b or ""
        return b if self.rank(b) > self.rank(a) else a

    @property
    def column(self) -> str:
        return METRIC_COLUMNS[self.metric]

    @property
    def grace(self) -> dt.timedelta:
        return dt.timedelta(days=self.grace_days)

    @property
    def window_length_months(self) -> int:
        return 12 if self.window == Window.CALENDAR_YEAR else self.window_months

    def add_months(self, moment: dt.datetime, months: int) -> dt.datetime:
        return add_months(moment, months, self.timezone)

    def current_window(self, at: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
        """The window an upgrade is measured on: this local calendar year, or the last N months."""
        if self.window == Window.CALENDAR_YEAR:
            return year_bounds(at, self.timezone)
        return self.add_months(at, -self.window_months), None

    def window_end_after(self, at: dt.datetime) -> dt.datetime:
        """When a level reached (or set) at `at` is next reviewed, before the grace period.

        Calendar year: at the end of this year, on this year's qualification (so a level
        reached this year is kept through the next one if this year supports it).
        Rolling: N months later, on the N months in between.
        """
        if self.window == Window.CALENDAR_YEAR:
            return year_bounds(at, self.timezone)[1]
        return self.add_months(at, self.window_months)

    def window_start(self, end: dt.datetime) -> dt.datetime:
        return self.add_months(end, -self.window_length_months)

    def next_window_end(self, end: dt.datetime) -> dt.datetime:
        return self.add_months(end, self.window_length_months)


_terms: dict[int, tuple[float, TierTerms | None]] = {}


def tier_terms(organization_id: int) -> TierTerms | None:
    """The organization's tier terms, or None when it has no tier levels (cached for a few seconds)."""
    cached = _terms.get(organization_id)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    levels = tuple(
        Level(
            code=row.code, name_fr=row.name_fr, name_en=row.name_en, rank=row.rank, threshold=row.threshold,
            multiplier_percent=row.multiplier_percent, perks_fr=row.perks_fr, perks_en=row.perks_en,
            vip_price_minor=row.vip_price_minor, vip_months=row.vip_months,
        )
        for row in TierLevel.objects.filter(organization_id=organization_id).order_by("rank")
    )
    terms = None
    if levels:
        settings = tier_settings(organization_id)
        terms = TierTerms(
            organization_id=organization_id, metric=settings.metric, window=settings.window, window_months=settings.window_months,
            grace_days=settings.grace_days, timezone=program_for(organization_id).organization.timezone, levels=levels,
        )
    _terms[organization_id] = (time.monotonic() + CACHE_SECONDS, terms)
    return terms


def forget_tiers(organization_id: int) -> None:
    _terms.pop(organization_id, None)


def clear_caches() -> None:
    _terms.clear()


def tier_settings(organization_id: int) -> TierSettings:
    """The organization's settings (the defaults, unsaved, until the merchant changes them)."""
    found = TierSettings.objects.filter(organization_id=organization_id).first()
    return found if found is not None else TierSettings(organization_id=organization_id)


def tier_levels(organization_id: int) -> list[TierLevel]:
    return list(TierLevel.objects.filter(organization_id=organization_id).order_by("rank"))


def access_tier_level(organization_id: int, code: str) -> TierLevel:
    level = TierLevel.objects.filter(organization_id=organization_id, code=code).first()
    if level is None:
        raise TierNotFound(f"No tier level {code!r}", tier=code)
    return level


def qualification(member_id: int, column: str, start: dt.datetime, end: dt.datetime | None) -> int:
    """What the member's activity adds up to in [start, end) (end None: no end)."""
    # `column` comes from METRIC_COLUMNS, never from input.
    sql = f"SELECT COALESCE(SUM({column}), 0) FROM tiers_tieractivity WHERE member_id = %s AND occurred_at >= %s"
    params: list = [member_id, db_time(start)]
    if end is not None:
        sql += " AND occurred_at < %s"
        params.append(db_time(end))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


# --- a member's status ---------------------------------------------------------------------


@dataclass(frozen=True)
class TierProgress:
    metric: str
    value: int  # counted in the current window (this year, or the last N months)
    window_start: dt.datetime
    window_end: dt.datetime | None  # calendar year: its end; rolling: None (the window slides)
    qualified: Level | None  # what `value` supports
    next_level: Level | None  # the next level above the current tier that can be earned
    missing: int | None  # still to earn for next_level


@dataclass(frozen=True)
class MemberTierStatus:
    member_id: int
    tier: Level | None  # the current tier (Member.tier)
    since: dt.datetime | None
    via: str  # "threshold" | "vip" | "manual" | "" (no tier)
    held: Level | None  # the tier held by qualification (or set by staff), VIP aside
    vip: Level | None  # the VIP level bought, while it runs
    vip_until: dt.datetime | None
    progress: TierProgress
    review_at: dt.datetime | None  # when the held tier is reviewed (window end + grace)
    requalify_value: int  # counted so far in the window that review looks at
    requalify_missing: int  # still to earn in it to keep the held tier
    downgrade_at: dt.datetime | None  # when the tier falls if nothing more is earned
    falls_to: Level | None  # to what it falls then (None: no tier)


def member_tier_status(member: Member, *, at: dt.datetime | None = None) -> MemberTierStatus | None:
    """The member's tier, progress to the next level, and the coming downgrade if any.

    None when the organization has no tier levels.
    """
    terms = tier_terms(member.organization_id)
    if terms is None:
        return None
    at = at or now()
    status = TierStatus.objects.filter(member_id=member.pk).first()
    tier_code = status.tier_code if status else ""
    held_code = status.held_code if status else ""
    vip_running = bool(status and status.vip_code and status.vip_until and status.vip_until > at)

    start, end = terms.current_window(at)
    value = qualification(member.pk, terms.column, start, end)
    current_rank = terms.rank(tier_code)
    next_level = next((lv for lv in terms.levels if lv.rank > current_rank and lv.threshold is not None), None)
    progress = TierProgress(
        metric=terms.metric, value=value, window_start=start, window_end=end, qualified=terms.level_for(value), next_level=next_level,
        missing=max(next_level.threshold - value, 0) if next_level and next_level.threshold is not None else None,
    )

    review_at = requalify_value = requalify_missing = None
    events: list[tuple[dt.datetime, str, str]] = []  # (when, held after, vip after)
    if held_code and status and status.window_end:
        review_at = status.window_end + terms.grace
        window_end = status.window_end
        requalify_value = qualification(member.pk, terms.column, terms.window_start(window_end), window_end)
        if window_end <= at:  # in the grace period: what was earned since counts too
            after = qualification(member.pk, terms.column, window_end, None)
            reached = terms.higher(_code(terms.level_for(requalify_value)), _code(terms.level_for(after)))
        else:
            reached = _code(terms.level_for(requalify_value))
        held_level = terms.level(held_code)
        requalify_missing = max((held_level.threshold or 0) - requalify_value, 0) if held_level and held_level.threshold is not None else 0
        events.append((review_at, reached, "held"))
    if vip_running:
        events.append((status.vip_until, "", "vip"))

    downgrade_at, falls_to = None, None
    held_now, vip_now = held_code, status.vip_code if vip_running else ""
    for when, new_held, kind in sorted(events, key=lambda event: event[0]):
        if kind == "held":
            held_now = new_held
        else:
            vip_now = ""
        effective = terms.higher(held_now, vip_now)
        if terms.rank(effective) < current_rank:
            downgrade_at, falls_to = when, terms.level(effective)
            break

    return MemberTierStatus(
        member_id=member.pk, tier=terms.level(tier_code), since=status.since if status else None, via=status.via if status else "",
        held=terms.level(held_code), vip=terms.level(status.vip_code) if vip_running else None,
        vip_until=status.vip_until if vip_running else None, progress=progress, review_at=review_at,
        requalify_value=requalify_value or 0, requalify_missing=requalify_missing or 0, downgrade_at=downgrade_at, falls_to=falls_to,
    )


def _code(level: Level | None) -> str:
    return level.code if level else ""


def member_tier_history(member: Member, *, limit: int = 100) -> list[TierHistory]:
    """The member's tier changes, newest first."""
    return list(TierHistory.objects.filter(member_id=member.pk).order_by("-at", "-id")[:limit])


def members_by_tier(organization_id: int) -> dict[str, int]:
    """How many members hold each level now ({code: count}, every level listed)."""
    counts = {level.code: 0 for level in tier_levels(organization_id)}
    rows = (
        TierStatus.objects.filter(organization_id=organization_id).exclude(tier_code="")
        .values("tier_code").annotate(n=Count("pk")).values_list("tier_code", "n")
    )
    for code, n in rows:
        counts[code] = counts.get(code, 0) + n
    return counts
