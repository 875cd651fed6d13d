"""Keeping the rollups up to date: the incremental refresher and the full rebuild.

The purchase path never writes a rollup. `rollups_refresh` reads what was appended since a
per-source id watermark (transfers, purchases, refunds, visits, vouchers, offer events,
members), finds the members, local days and rewards those rows touch, and recomputes each of
them from the raw rows (so processing a row twice is harmless). Member-level breakdowns
(tiers, cohorts, RFM cells, totals) move by the difference between a member's old and new
figures. One refresher at a time per organization: a lock row (SELECT … FOR UPDATE on
PostgreSQL; the process-and-file write lock of core.db on SQLite).

Why two marks per source (see RollupState): ids come from a sequence before the inserting
transaction commits, so a row with a lower id can become visible after a higher one. The
worker (full mode) rescans from `last_id` the rows of the last minute or so; the selectors
(quick mode, before each read) only look past `seen_id`, so a screen shows what was
committed a moment ago at the cost of a few queries, and the worker catches the stragglers.
"""

from __future__ import annotations

import datetime as dt
import time
import unicodedata
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateField,
    F,
    IntegerField,
    Max,
    Min,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL

from fidelo.analytics.models import (
    ALL_STORES,
    NO_STORE,
    AnalyticsSettings,
    Breakdown,
    CampaignOfferStatsRollup,
    DailyStats,
    MemberStats,
    OfferStatsRollup,
    RollupLock,
    RollupState,
)
from fidelo.core.actors import Actor
from fidelo.core.audit import audit_record
from fidelo.core.clock import now
from fidelo.core.db import db_time, is_postgresql, write_transaction
from fidelo.core.errors import ValidationFailed
from fidelo.ledger.models import Account, AccountKind, Transfer, TransferKind
from fidelo.members.models import Member
from fidelo.purchases.models import Purchase, Refund, Visit
from fidelo.referrals.models import Referral
from fidelo.rewards.models import OfferEvent, OfferEventKind, Voucher, VoucherStatus
from fidelo.tenancy.models import Organization, Program

SETTLE_SECONDS = 60  # an id observed this long ago has no uncommitted lower id left (no transaction lasts that long)
BATCH = 2_000  # rows read per source per pass: each pass is one write transaction, kept short (SQLite has one writer)
MEMBER_CHUNK = 500
_TZ: dict[int, zoneinfo.ZoneInfo] = {}  # organization time zones, filled by _Context
SOURCES = ("member", "transfer", "purchase", "refund", "visit", "voucher", "offer", "referral")

# Frequency bands (purchases) and monetary bands (net revenue, cents) of the RFM cells.
FREQUENCY_BANDS = (1, 2, 4, 10)  # f = number of thresholds reached: 0 (none), 1, 2-3, 4-9, 10+
MONETARY_BANDS = (1, 2000, 10000, 50000)  # 0 €, < 20 €, < 100 €, < 500 €, 500 € +


def band(value: int, thresholds: tuple[int, ...]) -> int:
    return sum(1 for t in thresholds if value >= t)


def search_key(*parts: str) -> str:
    text = " ".join(p.strip() for p in parts if p and p.strip())
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()[:250]


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


# --- settings -------------------------------------------------------------------------------


def analytics_settings_update(
    *, organization: Organization, actor: Actor, active_days: int | None = None, point_value_minor: int | None = None
) -> AnalyticsSettings:
    """Change what "active" means (days) and the value of 100 points (cents); an audit row records it."""
    errors = {}
    if active_days is not None and not 1 <= active_days <= 3660:
        errors["active_days"] = "between 1 and 3660"
    if point_value_minor is not None and not 0 <= point_value_minor <= 1_000_000:
        errors["point_value_minor"] = "between 0 and 1000000"
    if errors:
        raise ValidationFailed("Invalid statistics settings", code="analytics_settings_invalid", errors=errors)
    with write_transaction():
        settings, _ = AnalyticsSettings.objects.get_or_create(organization=organization)
        fields = []
        if active_days is not None:
            settings.active_days = active_days
            fields.append("active_days")
        if point_value_minor is not None:
            settings.point_value_minor = point_value_minor
            fields.append("point_value_minor")
        if fields:
            settings.save(update_fields=[*fields, "updated_at"])
            audit_record(
                organization_id=organization.id, actor=actor, action="analytics_settings.update", target_type="analytics_settings",
                target_id=settings.pk, data={name: getattr(settings, name) for name in fields},
            )
    return settings


# --- the refresher ---------------------------------------------------------------------------


@dataclass
class _Touched:
    members: set[int]
    days: set[dt.date]
    rewards: set[int]

    def __bool__(self) -> bool:
        return bool(self.members or self.days or self.rewards)


class _Context:
    def __init__(self, organization_id: int):
        self.organization_id = organization_id
        self.program = Program.objects.select_related("organization").get(organization_id=organization_id)
        self.tz = zoneinfo.ZoneInfo(self.program.organization.timezone)
        self.unit = "PTS" if self.program.currency_mode == "points" else self.program.organization.currency
        _TZ[organization_id] = self.tz

    def local_day(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    def day_range(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.combine(day, dt.time(), tzinfo=self.tz)
        stop = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=self.tz)
        return start.astimezone(dt.UTC), stop.astimezone(dt.UTC)


def _fetch(ctx: _Context, source: str, after: int, limit: int) -> tuple[list[int], _Touched]:
    """The ids of `source` rows of the organization above `after` (at most `limit`) and what they touch."""
    org = ctx.organization_id
    members: set[int] = set()
    days: set[dt.date] = set()
    rewards: set[int] = set()
    ids: list[int] = []
    if source == "member":
        rows = Member.objects.filter(organization_id=org, id__gt=after).order_by("id").values_list("id", "enrolled_at")[:limit]
        for pk, at in rows:
            ids.append(pk)
            members.add(pk)
            days.add(ctx.local_day(at))
    elif source == "transfer":
        rows = (
            Transfer.objects.filter(organization_id=org, id__gt=after).order_by("id")
            .values_list("id", "occurred_at", "debit__member_id", "credit__member_id", "kind", "source_type", "source_id")[:limit]
        )
        vouchers: set[int] = set()
        for pk, at, debit_member, credit_member, kind, source_type, source_id in rows:
            ids.append(pk)
            days.add(ctx.local_day(at))
            members.update(m for m in (debit_member, credit_member) if m is not None)
            if kind == TransferKind.REDEEM and source_type == "reward" and source_id:
                rewards.add(source_id)
            elif kind == TransferKind.RESTORE and source_type == "voucher" and source_id:
                vouchers.add(source_id)
        if vouchers:
            rewards.update(Voucher.objects.filter(id__in=vouchers).values_list("reward_id", flat=True))
    elif source == "purchase":
        for pk, member_id, at in Purchase.objects.filter(organization_id=org, id__gt=after).order_by("id").values_list("id", "member_id", "occurred_at")[:limit]:
            ids.append(pk)
            members.add(member_id)
            days.add(ctx.local_day(at))
    elif source == "refund":
        for pk, member_id, at in Refund.objects.filter(organization_id=org, id__gt=after).order_by("id").values_list("id", "purchase__member_id", "occurred_at")[:limit]:
            ids.append(pk)
            members.add(member_id)
            days.add(ctx.local_day(at))
    elif source == "visit":
        for pk, member_id, at in Visit.objects.filter(organization_id=org, id__gt=after).order_by("id").values_list("id", "member_id", "occurred_at")[:limit]:
            ids.append(pk)
            members.add(member_id)
            days.add(ctx.local_day(at))
    elif source == "voucher":
        for pk, member_id, reward_id, at in Voucher.objects.filter(organization_id=org, id__gt=after).order_by("id").values_list("id", "member_id", "reward_id", "issued_at")[:limit]:
            ids.append(pk)
            members.add(member_id)
            rewards.add(reward_id)
            days.add(ctx.local_day(at))
    elif source == "offer":
        for pk, reward_id in OfferEvent.objects.filter(organization_id=org, id__gt=after).order_by("id").values_list("id", "reward_id")[:limit]:
            ids.append(pk)
            rewards.add(reward_id)
    elif source == "referral":
        for pk, referrer_id, at in Referral.objects.filter(organization_id=org, id__gt=after).order_by("id").values_list("id", "referrer_id", "enrolled_at")[:limit]:
            ids.append(pk)
            members.add(referrer_id)
            days.add(ctx.local_day(at))
    return ids, _Touched(members, days, rewards)


def rollups_refresh(
    *, organization_id: int | None = None, quick: bool = False, limit: int = BATCH, settle_seconds: float = SETTLE_SECONDS,
    until_done: bool = False,
) -> int:
    """Bring the rollups up to date with the rows written since the last refresh; returns rows read.

    quick: only rows past the highest id already seen (the selectors, before a read);
    otherwise also the not yet settled rows of the last minute (the worker). At most `limit`
    rows per source per pass; until_done repeats passes until nothing is left.
    """
    organization_ids = [organization_id] if organization_id is not None else list(Organization.objects.order_by("id").values_list("id", flat=True))
    total = 0
    for org in organization_ids:
        while True:
            read, more = _refresh_one(org, quick=quick, limit=limit, settle_seconds=settle_seconds)
            total += read
            if not (until_done and more):
                break
    return total


def _states(organization_id: int) -> dict[str, RollupState]:
    found = {s.source: s for s in RollupState.objects.filter(organization_id=organization_id)}
    return found


SOURCE_MODELS = {
    "member": Member, "transfer": Transfer, "purchase": Purchase, "refund": Refund, "visit": Visit, "voucher": Voucher, "offer": OfferEvent,
    "referral": Referral,
}


def _has_news(organization_id: int, states: dict[str, RollupState], quick: bool) -> bool:
    """A cheap unlocked look, one query: is any source past its mark? (each an index range on the primary key)"""
    parts, params = [], []
    for source in SOURCES:
        state = states.get(source)
        mark = 0 if state is None else (state.seen_id if quick else state.last_id)
        table = connection.ops.quote_name(SOURCE_MODELS[source]._meta.db_table)
        parts.append(f"EXISTS (SELECT 1 FROM {table} WHERE id > %s AND organization_id = %s)")
        params += [mark, organization_id]
    with connection.cursor() as cursor:
        cursor.execute("SELECT CASE WHEN " + " OR ".join(parts) + " THEN 1 ELSE 0 END", params)
        return bool(cursor.fetchone()[0])


def _refresh_one(organization_id: int, *, quick: bool, limit: int, settle_seconds: float) -> tuple[int, bool]:
    if not _has_news(organization_id, _states(organization_id), quick):
        return 0, False
    with write_transaction():
        RollupLock.objects.get_or_create(organization_id=organization_id)
        if is_postgresql():
            RollupLock.objects.select_for_update().get(organization_id=organization_id)
        states = _states(organization_id)
        ctx = _Context(organization_id)
        started = time.time()
        touched = _Touched(set(), set(), set())
        read = 0
        more = False
        updates: list[RollupState] = []
        for source in SOURCES:
            state = states.get(source) or RollupState(organization_id=organization_id, source=source)
            after = state.seen_id if quick else state.last_id
            ids, found = _fetch(ctx, source, max(after, 0), limit)
            read += len(ids)
            more = more or len(ids) >= limit
            touched.members |= found.members
            touched.days |= found.days
            touched.rewards |= found.rewards
            top = ids[-1] if ids else after
            scanned_to = top if len(ids) >= limit else max(top, state.seen_id)
            checkpoints = [list(c) for c in state.checkpoints]
            if not quick:
                # Everything observed settle_seconds before this scan began, and scanned now, is final.
                final = [c for c in checkpoints if c[1] <= started - settle_seconds and c[0] <= scanned_to]
                if final:
                    state.last_id = max(state.last_id, max(c[0] for c in final))
                    checkpoints = [c for c in checkpoints if c not in final]
                if settle_seconds <= 0 and len(ids) < limit:
                    state.last_id = max(state.last_id, top, state.seen_id)
            if top > state.seen_id:
                state.seen_id = top
                checkpoints.append([top, started])
            state.checkpoints = [c for c in checkpoints if c[0] > state.last_id][-20:]
            state.refreshed_at = now()
            updates.append(state)
        _recompute(ctx, touched)
        for state in updates:
            state.save()
    return read, more


def _recompute(ctx: _Context, touched: _Touched) -> None:
    members = sorted(touched.members)
    for i in range(0, len(members), MEMBER_CHUNK):
        _recompute_members(ctx, members[i : i + MEMBER_CHUNK])
    for day in sorted(touched.days):
        _recompute_day(ctx, day)
    if touched.rewards:
        _recompute_rewards(ctx, sorted(touched.rewards))


# --- members ---------------------------------------------------------------------------------


MEMBER_FIELDS = [
    "organization_id", "enrolled_store_key", "enrolled_month", "tier", "search_last", "search_first", "points_earned", "points_redeemed",
    "points_expired", "points_adjusted", "points_transferred", "balance", "purchases", "revenue_minor", "visits", "referrals", "rewards",
    "first_activity_at", "last_activity_at",
]


MEMBER_FLOW_KINDS = [
    TransferKind.EARN, TransferKind.REVERSE, TransferKind.REDEEM, TransferKind.RESTORE, TransferKind.EXPIRE, TransferKind.ADJUST, TransferKind.TRANSFER,
]
MEMBER_PEOPLE_FIELDS = ("id", "first_name", "last_name", "email", "card_number", "enrolled_at", "enrolled_store_id", "tier")


class _MemberFigures:
    """What one member's row is computed from, gathered for a chunk of members (the refresher)
    or for all the organization's members at once (the rebuild)."""

    def __init__(self):
        self.flows: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.first_moves: dict[int, dt.datetime] = {}
        self.last_moves: dict[int, dt.datetime] = {}
        self.balances: dict[int, int] = defaultdict(int)
        self.purchases: dict[int, dict] = {}
        self.visits: dict[int, dict] = {}
        self.vouchers: dict[int, int] = {}
        self.referrals: dict[int, int] = {}

    def add_flow(self, member_id: int, kind: str, sign: int, total: int, first: dt.datetime | None, last: dt.datetime | None) -> None:
        self.flows[member_id][kind] += sign * total
        if kind in (TransferKind.EARN, TransferKind.REDEEM):  # what the member did (not jobs, refunds or staff)
            _keep(self.first_moves, member_id, first, min)
            _keep(self.last_moves, member_id, last, max)

    def stats(self, ctx: _Context, member_id: int, person: dict) -> MemberStats:
        f = self.flows[member_id] if member_id in self.flows else defaultdict(int)
        p = self.purchases.get(member_id)
        v = self.visits.get(member_id)
        first, last = self.first_moves.get(member_id), self.last_moves.get(member_id)
        for row in (p, v):
            if row:
                first = row["first"] if first is None else min(first, row["first"])
                last = row["last"] if last is None else max(last, row["last"])
        return MemberStats(
            member_id=member_id,
            organization_id=ctx.organization_id,
            enrolled_store_key=person["enrolled_store_id"] or NO_STORE,
            enrolled_month=month_start(ctx.local_day(person["enrolled_at"])),
            tier=person["tier"] or "",
            search_last=search_key(person["last_name"], person["first_name"]),
            search_first=search_key(person["first_name"], person["last_name"]),
            points_earned=f[TransferKind.EARN] + f[TransferKind.REVERSE],  # reverse is signed negative (a debit)
            points_redeemed=-(f[TransferKind.REDEEM] + f[TransferKind.RESTORE]),
            points_expired=-f[TransferKind.EXPIRE],
            points_adjusted=f[TransferKind.ADJUST],
            points_transferred=f[TransferKind.TRANSFER],
            balance=self.balances.get(member_id, 0),
            purchases=p["n"] if p else 0,
            revenue_minor=(p["total"] - p["refunded"]) if p else 0,
            visits=v["n"] if v else 0,
            referrals=self.referrals.get(member_id, 0),  # referrals made (any status: the friend joined with the code)
            rewards=self.vouchers.get(member_id, 0),
            first_activity_at=first,
            last_activity_at=last,
        )


def _member_accounts(ctx: _Context, members):
    """The accounts whose balance and flows make a member's figures (available and pending, in the program's unit)."""
    return Account.objects.filter(member_id__in=members, unit=ctx.unit, kind__in=[AccountKind.AVAILABLE, AccountKind.PENDING])


def _recompute_members(ctx: _Context, member_ids: list[int]) -> None:
    org = ctx.organization_id
    people = {row["id"]: row for row in Member.objects.filter(organization_id=org, id__in=member_ids).values(*MEMBER_PEOPLE_FIELDS)}
    ids = list(people)
    figures = _MemberFigures()
    account_ids = []
    for account_id, member_id, balance in _member_accounts(ctx, ids).values_list("id", "member_id", "balance"):
        figures.balances[member_id] += balance or 0
        account_ids.append(account_id)
    for side, sign in (("credit", 1), ("debit", -1)):
        rows = (
            Transfer.objects.filter(**{f"{side}_id__in": account_ids}, kind__in=MEMBER_FLOW_KINDS)
            .values(f"{side}__member_id", "kind").annotate(total=Sum("amount"), first=Min("occurred_at"), last=Max("occurred_at"))
        )
        for row in rows:
            figures.add_flow(row[f"{side}__member_id"], row["kind"], sign, row["total"], row["first"], row["last"])
    figures.purchases = {
        row["member_id"]: row
        for row in Purchase.objects.filter(member_id__in=ids).values("member_id").annotate(
            n=Count("id"), total=Sum("total_minor"), refunded=Sum("refunded_minor"), first=Min("occurred_at"), last=Max("occurred_at")
        )
    }
    figures.visits = {
        row["member_id"]: row
        for row in Visit.objects.filter(member_id__in=ids).values("member_id").annotate(n=Count("id"), first=Min("occurred_at"), last=Max("occurred_at"))
    }
    figures.vouchers = dict(Voucher.objects.filter(member_id__in=ids).values("member_id").annotate(n=Count("id")).values_list("member_id", "n"))
    figures.referrals = dict(Referral.objects.filter(referrer_id__in=ids).values("referrer_id").annotate(n=Count("id")).values_list("referrer_id", "n"))
    old = {s.member_id: s for s in MemberStats.objects.filter(member_id__in=ids)}
    new = [figures.stats(ctx, member_id, person) for member_id, person in people.items()]
    if not new:
        return
    MemberStats.objects.bulk_create(new, update_conflicts=True, unique_fields=["member"], update_fields=MEMBER_FIELDS)
    deltas: dict[tuple[str, int, str], list[int]] = defaultdict(lambda: [0] * 7)
    for stats in new:
        _contribute(deltas, old.get(stats.member_id), -1)
        _contribute(deltas, stats, 1)
    _apply_deltas(ctx.organization_id, deltas)


def _keep(target: dict, key: int, value, pick) -> None:
    if value is not None:
        target[key] = value if key not in target else pick(target[key], value)


def rfm_cell(stats: MemberStats, tz: zoneinfo.ZoneInfo | None = None) -> str:
    month = stats.last_activity_at.astimezone(tz).strftime("%Y-%m") if stats.last_activity_at else "none"
    return f"{month}|{band(stats.purchases, FREQUENCY_BANDS)}|{band(stats.revenue_minor, MONETARY_BANDS)}"


def _contribute(deltas: dict, stats: MemberStats | None, sign: int) -> None:
    if stats is None:
        return
    tz = _TZ.get(stats.organization_id)
    store = stats.enrolled_store_key
    last_month = month_start(stats.last_activity_at.astimezone(tz).date()) if stats.last_activity_at else None
    returned = 1 if last_month is not None and last_month > stats.enrolled_month else 0
    values = (1, returned, stats.balance, stats.points_earned, stats.revenue_minor, stats.purchases, stats.referrals)
    keys = [("all", ""), ("tier", stats.tier), ("cohort", stats.enrolled_month.strftime("%Y-%m")), ("rfm", rfm_cell(stats, tz))]
    keys += [("has", name) for name, value in (("referrals", stats.referrals), ("rewards", stats.rewards), ("purchases", stats.purchases)) if value > 0]
    for dimension, key in keys:
        row = deltas[(dimension, store, key)]
        for i, value in enumerate(values):
            row[i] += sign * value


BREAKDOWN_VALUES = ("members", "returned", "balance", "points_earned", "revenue_minor", "purchases", "referrals")


def _apply_deltas(organization_id: int, deltas: dict) -> None:
    for (dimension, store, key), values in deltas.items():
        if not any(values):
            continue
        changes = {name: F(name) + value for name, value in zip(BREAKDOWN_VALUES, values) if value}
        updated = Breakdown.objects.filter(organization_id=organization_id, dimension=dimension, store_key=store, key=key).update(**changes)
        if not updated:
            Breakdown.objects.create(organization_id=organization_id, dimension=dimension, store_key=store, key=key, **dict(zip(BREAKDOWN_VALUES, values)))


# --- days ------------------------------------------------------------------------------------


@dataclass
class _DayFigures:
    """The aggregates one local day's DailyStats rows are made of (see _day_rows)."""

    transfers: list = None  # (kind, from a member, total)
    purchases: list = None  # (store_id, count, total_minor, points_earned)
    refunds: list = None  # (store_id, amount_minor, points_reversed)
    visits: list = None  # (store_id, count)
    active: dict = None  # {store key: distinct members}, ALL_STORES included
    members: list = None  # (enrolled_store_id, count)
    vouchers: int = 0
    referrals: list = None  # (referrer's enrolled_store_id, count)

    def __post_init__(self):
        for name in ("transfers", "purchases", "refunds", "visits", "members", "referrals"):
            if getattr(self, name) is None:
                setattr(self, name, [])
        if self.active is None:
            self.active = {}


def _recompute_day(ctx: _Context, day: dt.date) -> None:
    org = ctx.organization_id
    start, stop = ctx.day_range(day)
    figures = _DayFigures()
    for row in (
        Transfer.objects.filter(organization_id=org, unit=ctx.unit, occurred_at__gte=start, occurred_at__lt=stop)
        .values("kind", "debit__member_id").annotate(total=Sum("amount"))
    ):
        figures.transfers.append((row["kind"], row["debit__member_id"] is not None, row["total"]))
    for row in Purchase.objects.filter(organization_id=org, occurred_at__gte=start, occurred_at__lt=stop).values("store_id").annotate(
        n=Count("id"), total=Sum("total_minor"), points=Sum("points_earned")
    ):
        figures.purchases.append((row["store_id"], row["n"], row["total"], row["points"]))
    for row in (
        Refund.objects.filter(organization_id=org, occurred_at__gte=start, occurred_at__lt=stop)
        .values("purchase__store_id").annotate(amount=Sum("amount_minor"), points=Sum("points_reversed"))
    ):
        figures.refunds.append((row["purchase__store_id"], row["amount"], row["points"]))
    for row in Visit.objects.filter(organization_id=org, occurred_at__gte=start, occurred_at__lt=stop).values("store_id").annotate(n=Count("id")):
        figures.visits.append((row["store_id"], row["n"]))
    figures.active = _active_members(org, start, stop)
    for row in Member.objects.filter(organization_id=org, enrolled_at__gte=start, enrolled_at__lt=stop).values("enrolled_store_id").annotate(n=Count("id")):
        figures.members.append((row["enrolled_store_id"], row["n"]))
    figures.vouchers = Voucher.objects.filter(organization_id=org, issued_at__gte=start, issued_at__lt=stop).count()
    for row in Referral.objects.filter(organization_id=org, enrolled_at__gte=start, enrolled_at__lt=stop).values("referrer__enrolled_store_id").annotate(n=Count("id")):
        figures.referrals.append((row["referrer__enrolled_store_id"], row["n"]))
    DailyStats.objects.filter(organization_id=org, day=day).delete()
    DailyStats.objects.bulk_create(_day_rows(org, day, figures))


def _day_rows(organization_id: int, day: dt.date, figures: _DayFigures) -> list[DailyStats]:
    """One day's DailyStats rows (per store, and all stores) from its aggregates; rows of zeros are left out."""
    rows: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    everyone = rows[ALL_STORES]
    for kind, from_member, total in figures.transfers:
        if kind == TransferKind.EARN:
            everyone["points_issued"] += total
        elif kind == TransferKind.REVERSE:
            everyone["points_reversed"] += total
        elif kind == TransferKind.REDEEM:
            everyone["points_redeemed"] += total
        elif kind == TransferKind.RESTORE:
            everyone["points_restored"] += total
        elif kind == TransferKind.EXPIRE:
            everyone["points_expired"] += total
        elif kind == TransferKind.ADJUST:
            everyone["points_adjusted_out" if from_member else "points_adjusted_in"] += total
    for store_id, n, total, points in figures.purchases:
        key = store_id or NO_STORE
        for target in (rows[key], everyone):
            target["purchases"] += n
            target["revenue_minor"] += total
        rows[key]["points_issued"] += points  # per store: the points its purchases earned
    for store_id, amount, points in figures.refunds:
        key = store_id or NO_STORE
        rows[key]["refunds_minor"] += amount
        rows[key]["points_reversed"] += points
        everyone["refunds_minor"] += amount
    for store_id, n in figures.visits:
        rows[store_id or NO_STORE]["visits"] += n
        everyone["visits"] += n
    for key, members in figures.active.items():
        rows[key]["active_members"] = members
    for store_id, n in figures.members:
        rows[store_id or NO_STORE]["new_members"] += n
        everyone["new_members"] += n
    everyone["vouchers_issued"] = figures.vouchers
    for store_id, n in figures.referrals:
        rows[store_id or NO_STORE]["referrals"] += n
        everyone["referrals"] += n
    return [DailyStats(organization_id=organization_id, store_key=key, day=day, **values) for key, values in rows.items() if any(values.values())]


def _active_members(organization_id: int, start: dt.datetime, stop: dt.datetime) -> dict[int, int]:
    """Distinct members who bought or checked in between start and stop: per store, and for all stores (-1)."""
    purchases, visits = (connection.ops.quote_name(m._meta.db_table) for m in (Purchase, Visit))
    both = (
        f"SELECT store_id, member_id FROM {purchases} WHERE organization_id = %s AND occurred_at >= %s AND occurred_at < %s "
        f"UNION SELECT store_id, member_id FROM {visits} WHERE organization_id = %s AND occurred_at >= %s AND occurred_at < %s"
    )
    adapt = db_time
    params = [organization_id, adapt(start), adapt(stop)] * 2
    found: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT store_id, COUNT(DISTINCT member_id) FROM ({both}) AS a GROUP BY store_id", params)
        for store_id, members in cursor.fetchall():
            found[store_id or NO_STORE] = found.get(store_id or NO_STORE, 0) + members
        cursor.execute(f"SELECT COUNT(DISTINCT member_id) FROM ({both}) AS a", params)
        total = cursor.fetchone()[0]
    if total:
        found[ALL_STORES] = total
    return found


# --- rewards ---------------------------------------------------------------------------------


def _recompute_rewards(ctx: _Context, reward_ids: list[int]) -> None:
    org = ctx.organization_id
    events: dict[int, dict[str, int]] = defaultdict(dict)
    for row in OfferEvent.objects.filter(organization_id=org, reward_id__in=reward_ids).values("reward_id", "kind").annotate(n=Count("member_id", distinct=True)):
        events[row["reward_id"]][row["kind"]] = row["n"]
    vouchers: dict[int, dict] = {
        row["reward_id"]: row
        for row in Voucher.objects.filter(organization_id=org, reward_id__in=reward_ids).values("reward_id").annotate(
            n=Count("id"), used=Count("id", filter=Q(status=VoucherStatus.USED)),
            points=Sum("points", filter=~Q(status=VoucherStatus.CANCELLED)),
        )
    }
    rows = []
    for reward_id in reward_ids:
        e, v = events.get(reward_id, {}), vouchers.get(reward_id)
        rows.append(
            OfferStatsRollup(
                reward_id=reward_id, organization_id=org,
                seen=e.get(OfferEventKind.SEEN, 0), requested=e.get(OfferEventKind.REQUESTED, 0), used=e.get(OfferEventKind.USED, 0),
                vouchers_issued=v["n"] if v else 0, vouchers_used=v["used"] if v else 0, points_spent=(v["points"] or 0) if v else 0,
            )
        )
    OfferStatsRollup.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["reward_id"],
        update_fields=["organization_id", "seen", "requested", "used", "vouchers_issued", "vouchers_used", "points_spent"],
    )
    _recompute_campaign_offers(ctx, reward_ids)


def _recompute_campaign_offers(ctx: _Context, reward_ids: list[int]) -> None:
    """The campaign offers of these rewards: distinct members per kind among the events through each campaign."""
    offers: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    found = (
        OfferEvent.objects.filter(organization_id=ctx.organization_id, reward_id__in=reward_ids, campaign_id__isnull=False)
        .values("campaign_id", "reward_id", "kind").annotate(n=Count("member_id", distinct=True))
    )
    for row in found:
        offers[(row["campaign_id"], row["reward_id"])][row["kind"]] = row["n"]
    if not offers:
        return
    CampaignOfferStatsRollup.objects.bulk_create(
        [
            CampaignOfferStatsRollup(
                organization_id=ctx.organization_id, campaign_id=campaign_id, reward_id=reward_id, seen=kinds.get(OfferEventKind.SEEN, 0),
                requested=kinds.get(OfferEventKind.REQUESTED, 0), used=kinds.get(OfferEventKind.USED, 0),
            )
            for (campaign_id, reward_id), kinds in sorted(offers.items())
        ],
        update_conflicts=True, unique_fields=["campaign_id", "reward_id"], update_fields=["organization_id", "seen", "requested", "used"],
    )


# --- rebuild ---------------------------------------------------------------------------------


REBUILD_WRITE_CHUNK = 10_000  # member rows written per transaction by the rebuild


def rollups_rebuild(*, organization_id: int, progress=None, chunk: int = REBUILD_WRITE_CHUNK) -> int:
    """Forget the organization's rollups and build them again from the raw rows; returns members done.

    Set-based, for a first build on a big program (the bench) and after a correction by hand:
    each source table is read once, aggregated per member (and per account for the ledger) and
    per local day by the database; the rows are then made by the same code as the refresher's
    (`_MemberFigures.stats`, `_contribute`, `_day_rows`), so a rebuild equals what the
    incremental refresher computes. The local day is computed in SQL from the time zone's UTC
    offsets; if the zone's days do not start at a local midnight of a constant offset (checked
    for every day in range), the days are recomputed one by one instead. The watermarks are
    then set past the last rows. Run it while nothing writes to the organization (the worker's
    next refresh takes in whatever came after, but not a row committed late with a lower id).
    """
    with write_transaction():
        RollupLock.objects.get_or_create(organization_id=organization_id)
        for model in (MemberStats, DailyStats, Breakdown, OfferStatsRollup, CampaignOfferStatsRollup, RollupState):
            model.objects.filter(organization_id=organization_id).delete()
        tops = {}
        for source in SOURCES:
            tops[source] = SOURCE_MODELS[source].objects.filter(organization_id=organization_id).aggregate(top=Max("id"))["top"] or 0
    ctx = _Context(organization_id)
    done = _rebuild_members(ctx, progress, chunk)
    bounds = _bounds(ctx)
    local_day = _LocalDaySQL.for_zone(ctx, *bounds) if bounds else None
    if local_day is not None:
        _rebuild_days(ctx, local_day, progress)
    else:
        for day in _active_days(ctx):
            with write_transaction():
                _recompute_day(ctx, day)
            if progress:
                progress("days", 1)
    from fidelo.rewards.models import Reward

    with write_transaction():
        _recompute_rewards(ctx, list(Reward.objects.filter(organization_id=organization_id).values_list("id", flat=True)))
        stamp = now()
        RollupState.objects.bulk_create(
            [RollupState(organization_id=organization_id, source=source, last_id=top, seen_id=top, refreshed_at=stamp) for source, top in tops.items()]
        )
    return done


def _rebuild_members(ctx: _Context, progress, chunk: int) -> int:
    """Every member's row, from one grouped query per source table (instead of one per chunk of members)."""
    org = ctx.organization_id
    members = Member.objects.filter(organization_id=org).values("id")
    figures = _MemberFigures()
    accounts = _member_accounts(ctx, members)
    account_member: dict[int, int] = {}
    for account_id, member_id, balance in accounts.values_list("id", "member_id", "balance").order_by():
        figures.balances[member_id] += balance or 0
        account_member[account_id] = member_id
    for side, sign in (("credit", 1), ("debit", -1)):
        rows = (
            Transfer.objects.filter(**{f"{side}_id__in": accounts.values("id")}, kind__in=MEMBER_FLOW_KINDS)
            .values_list(f"{side}_id", "kind").annotate(total=Sum("amount"), first=Min("occurred_at"), last=Max("occurred_at")).order_by()
        )
        for account_id, kind, total, first, last in rows.iterator(chunk_size=20_000):
            figures.add_flow(account_member[account_id], kind, sign, total, first, last)
    for row in Purchase.objects.filter(member_id__in=members).values("member_id").annotate(
        n=Count("id"), total=Sum("total_minor"), refunded=Sum("refunded_minor"), first=Min("occurred_at"), last=Max("occurred_at")
    ).order_by().iterator(chunk_size=20_000):
        figures.purchases[row["member_id"]] = row
    for row in Visit.objects.filter(member_id__in=members).values("member_id").annotate(
        n=Count("id"), first=Min("occurred_at"), last=Max("occurred_at")
    ).order_by().iterator(chunk_size=20_000):
        figures.visits[row["member_id"]] = row
    figures.vouchers = dict(Voucher.objects.filter(member_id__in=members).values("member_id").annotate(n=Count("id")).order_by().values_list("member_id", "n"))
    figures.referrals = dict(
        Referral.objects.filter(referrer_id__in=members).values("referrer_id").annotate(n=Count("id")).order_by().values_list("referrer_id", "n")
    )
    people = list(Member.objects.filter(organization_id=org).order_by("id").values_list(*MEMBER_PEOPLE_FIELDS))
    deltas: dict[tuple[str, int, str], list[int]] = defaultdict(lambda: [0] * 7)
    for i in range(0, len(people), chunk):
        new = []
        for values in people[i : i + chunk]:
            person = dict(zip(MEMBER_PEOPLE_FIELDS, values, strict=True))
            new.append(figures.stats(ctx, person["id"], person))
        with write_transaction():
            MemberStats.objects.bulk_create(new, batch_size=1_000, update_conflicts=True, unique_fields=["member"], update_fields=MEMBER_FIELDS)
        for stats in new:
            _contribute(deltas, stats, 1)
        if progress:
            progress("members", len(new))
    with write_transaction():
        _apply_deltas(org, deltas)
    return len(people)


class _LocalDaySQL:
    """SQL for the organization's local day of a timestamp column: the UTC date of the column
    plus the zone's UTC offset, the offset chosen by a CASE over the instants it changes at
    (a handful a year). Only used when it gives exactly the days of `_Context.day_range`."""

    def __init__(self, segments: list[tuple[dt.datetime | None, int]]):
        self.segments = segments  # [(until, offset seconds)], the last one without end

    @classmethod
    def for_zone(cls, ctx: _Context, first: dt.datetime, last: dt.datetime) -> _LocalDaySQL | None:
        tz = ctx.tz
        low, high = int(first.timestamp()) - 3 * 86400, int(last.timestamp()) + 3 * 86400

        def offset(ts: int) -> int:
            return int(dt.datetime.fromtimestamp(ts, dt.UTC).astimezone(tz).utcoffset().total_seconds())

        segments: list[tuple[dt.datetime | None, int]] = []
        current = offset(low)
        for ts in range(low, high, 3600):
            if offset(ts + 3600) != current:
                lo, hi = ts, ts + 3600  # the offset changes in (lo, hi]: find the first second of the new one
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    lo, hi = (mid, hi) if offset(mid) == current else (lo, mid)
                segments.append((dt.datetime.fromtimestamp(hi, dt.UTC), current))
                current = offset(hi)
        segments.append((None, current))
        found = cls(segments)
        # Exact only if each local day starts where the offsets say and the days never go back.
        one = dt.timedelta(microseconds=1)
        day, end = ctx.local_day(first) - dt.timedelta(days=1), ctx.local_day(last) + dt.timedelta(days=1)
        while day <= end:
            start = ctx.day_range(day)[0]
            if found.day(start) != day or found.day(start - one) != day - dt.timedelta(days=1):
                return None
            day += dt.timedelta(days=1)
        for until, _ in segments[:-1]:
            if found.day(until - one) > found.day(until) or found.day(until) != ctx.local_day(until):
                return None
        return found

    def day(self, moment: dt.datetime) -> dt.date:
        """What the SQL computes, in Python (whole seconds, as the SQL truncates them)."""
        for until, seconds in self.segments:
            if until is None or moment < until:
                utc = moment.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
                return (utc + dt.timedelta(seconds=seconds)).date()
        raise AssertionError("unreachable")

    def sql(self, model, field: str) -> tuple[str, list]:
        qn = connection.ops.quote_name
        column = f"{qn(model._meta.db_table)}.{qn(model._meta.get_field(field).column)}"
        adapt = db_time
        cases, params = [], []
        for until, seconds in self.segments:
            if until is None:
                cases.append("ELSE %s END")
            else:
                cases.append(f"WHEN {column} < %s THEN %s")
                params.append(adapt(until))
            params.append(seconds if is_postgresql() else f"{seconds:+d} seconds")
        case = "CASE " + " ".join(cases) if len(self.segments) > 1 else "%s"
        if is_postgresql():
            return f"CAST(({column} AT TIME ZONE 'UTC') + ({case}) * INTERVAL '1 second' AS date)", params
        return f"date(substr({column}, 1, 19), {case})", params

    def annotation(self, model, field: str) -> RawSQL:
        sql, params = self.sql(model, field)
        return RawSQL(sql, params, output_field=DateField())


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _rebuild_days(ctx: _Context, local_day: _LocalDaySQL, progress) -> None:
    """Every day's DailyStats rows from one query per source table grouped by local day."""
    org = ctx.organization_id
    days: dict[dt.date, _DayFigures] = defaultdict(_DayFigures)
    on = local_day.annotation
    for row in (
        Transfer.objects.filter(organization_id=org, unit=ctx.unit).annotate(local_day=on(Transfer, "occurred_at"))
        .annotate(from_member=Case(When(debit__member_id__isnull=False, then=Value(1)), default=Value(0), output_field=IntegerField()))
        .values("local_day", "kind", "from_member").annotate(total=Sum("amount")).order_by().iterator(chunk_size=10_000)
    ):
        days[_as_date(row["local_day"])].transfers.append((row["kind"], bool(row["from_member"]), row["total"]))
    for row in Purchase.objects.filter(organization_id=org).annotate(local_day=on(Purchase, "occurred_at")).values("local_day", "store_id").annotate(
        n=Count("id"), total=Sum("total_minor"), points=Sum("points_earned")
    ).order_by().iterator(chunk_size=10_000):
        days[_as_date(row["local_day"])].purchases.append((row["store_id"], row["n"], row["total"], row["points"]))
    for row in Refund.objects.filter(organization_id=org).annotate(local_day=on(Refund, "occurred_at")).values("local_day", "purchase__store_id").annotate(
        amount=Sum("amount_minor"), points=Sum("points_reversed")
    ).order_by():
        days[_as_date(row["local_day"])].refunds.append((row["purchase__store_id"], row["amount"], row["points"]))
    for row in Visit.objects.filter(organization_id=org).annotate(local_day=on(Visit, "occurred_at")).values("local_day", "store_id").annotate(
        n=Count("id")
    ).order_by().iterator(chunk_size=10_000):
        days[_as_date(row["local_day"])].visits.append((row["store_id"], row["n"]))
    for day, found in _rebuild_active_members(org, local_day).items():
        days[day].active = found
    for row in Member.objects.filter(organization_id=org).annotate(local_day=on(Member, "enrolled_at")).values("local_day", "enrolled_store_id").annotate(
        n=Count("id")
    ).order_by().iterator(chunk_size=10_000):
        days[_as_date(row["local_day"])].members.append((row["enrolled_store_id"], row["n"]))
    for row in Voucher.objects.filter(organization_id=org).annotate(local_day=on(Voucher, "issued_at")).values("local_day").annotate(n=Count("id")).order_by():
        days[_as_date(row["local_day"])].vouchers = row["n"]
    for row in Referral.objects.filter(organization_id=org).annotate(local_day=on(Referral, "enrolled_at")).values(
        "local_day", "referrer__enrolled_store_id"
    ).annotate(n=Count("id")).order_by():
        days[_as_date(row["local_day"])].referrals.append((row["referrer__enrolled_store_id"], row["n"]))
    ordered = sorted(days)
    for i in range(0, len(ordered), 100):
        with write_transaction():
            DailyStats.objects.bulk_create([stats for day in ordered[i : i + 100] for stats in _day_rows(org, day, days[day])], batch_size=1_000)
        if progress:
            progress("days", len(ordered[i : i + 100]))


def _rebuild_active_members(organization_id: int, local_day: _LocalDaySQL) -> dict[dt.date, dict[int, int]]:
    """Per local day: distinct members who bought or checked in, per store and for all stores (as `_active_members`)."""
    purchases, visits = (connection.ops.quote_name(m._meta.db_table) for m in (Purchase, Visit))
    purchase_day, purchase_params = local_day.sql(Purchase, "occurred_at")
    visit_day, visit_params = local_day.sql(Visit, "occurred_at")
    both = (
        f"SELECT {purchase_day} AS day, store_id, member_id FROM {purchases} WHERE organization_id = %s "
        f"UNION SELECT {visit_day} AS day, store_id, member_id FROM {visits} WHERE organization_id = %s"
    )
    params = [*purchase_params, organization_id, *visit_params, organization_id]
    found: dict[dt.date, dict[int, int]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT day, store_id, COUNT(DISTINCT member_id) FROM ({both}) AS a GROUP BY day, store_id", params)
        for day, store_id, members in cursor.fetchall():
            per_store = found[_as_date(day)]
            per_store[store_id or NO_STORE] = per_store.get(store_id or NO_STORE, 0) + members
        cursor.execute(f"SELECT day, COUNT(DISTINCT member_id) FROM ({both}) AS a GROUP BY day", params)
        for day, total in cursor.fetchall():
            if total:
                found[_as_date(day)][ALL_STORES] = total
    return found


def _bounds(ctx: _Context) -> tuple[dt.datetime, dt.datetime] | None:
    """The first and the last dated row of the organization (any source)."""
    org = ctx.organization_id
    bounds = []
    for model, field in ((Member, "enrolled_at"), (Transfer, "occurred_at"), (Purchase, "occurred_at"), (Refund, "occurred_at"),
                         (Visit, "occurred_at"), (Voucher, "issued_at"), (Referral, "enrolled_at")):
        found = model.objects.filter(organization_id=org).aggregate(first=Min(field), last=Max(field))
        if found["first"] is not None:
            bounds += [found["first"], found["last"]]
    return (min(bounds), max(bounds)) if bounds else None


def _active_days(ctx: _Context) -> list[dt.date]:
    """Every local day between the first and the last dated row of the organization."""
    bounds = _bounds(ctx)
    if not bounds:
        return []
    day, last = ctx.local_day(bounds[0]), ctx.local_day(bounds[1])
    days = []
    while day <= last:
        days.append(day)
        day += dt.timedelta(days=1)
    return days
