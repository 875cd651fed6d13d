"""Writes for tiers: record qualifying activity (upgrade at once), review windows (downgrade),
VIP purchases, staff overrides, and the levels and settings themselves.

A member's tier status keeps two things apart: the level *held* by qualification (or set
by staff), reviewed at the end of its window plus the grace period, and a *VIP* level
bought for a period. The member's tier is the higher of the two; it is copied to
Member.tier with a single UPDATE whenever it changes, and each change writes a history row.

Concurrency: a member's status changes under the lock of their status row
(select_for_update on PostgreSQL, the database write lock on SQLite), re-checked after the
lock is taken, so two events racing to the same upgrade write one history row.
"""

import datetime as dt
import re
from dataclasses import dataclass

from django.db import connection, transaction

from fidelo.core.actors import SYSTEM, Actor
from fidelo.core.audit import audit_record
from fidelo.core.clock import now, require_aware
from fidelo.core.db import db_time, write_transaction
from fidelo.core.money import MAX_MINOR
from fidelo.ledger.services import check_member_active
from fidelo.members.errors import MemberNotFound
from fidelo.members.models import Member
from fidelo.tenancy.models import Organization, Program
from fidelo.tiers.errors import (
    InvalidTier,
    InvalidTierSettings,
    ReasonRequired,
    TierCodeTaken,
    TierNotForSale,
    TierNotFound,
    TierRankTaken,
    TierThresholdsNotIncreasing,
    VipAlreadyActive,
    VipExternalIdReused,
)
from fidelo.tiers.models import (
    Metric,
    TierChangeReason,
    TierHistory,
    TierLevel,
    TierSettings,
    TierStatus,
    TierVipPurchase,
    Via,
    Window,
)
from fidelo.tiers.selectors import TierTerms, forget_tiers, qualification, tier_terms

MAX_AMOUNT = 10**12
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class TierChange:
    """A change of the member's tier (Member.tier), as written to the history."""

    member_id: int
    from_code: str  # "" = no tier
    to_code: str
    reason: str  # TierChangeReason
    at: dt.datetime


# --- qualifying activity -------------------------------------------------------------------


def _check_amount(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_AMOUNT:
        raise InvalidTier(f"{field} must be an integer of at most {MAX_AMOUNT} in absolute value", code="invalid_amount", field=field)
    return value


def tier_activity_record(
    *,
    program: Program,
    member: Member,
    occurred_at: dt.datetime,
    tier_points: int = 0,
    spend_minor: int = 0,
    visits: int = 0,
    source_type: str,
    source_id: int | None,
) -> TierChange | None:
    """Record what an earning event (or, negative, its reversal) counts towards the member's tier.

    Upgrades at once when the current window's total reaches a higher threshold; never
    downgrades (a reversal lowers the progress only: the review job decides at the end of
    the window). Runs in the caller's write transaction when there is one. Without tier
    levels in the organization: returns None at once, without a query (cached terms).

    Cost: one INSERT; when this event adds to the organization's metric, one more statement
    (the window's total and the member's held level together); writes only on an upgrade.
    """
    terms = tier_terms(member.organization_id)
    if terms is None:
        return None
    amounts = {"tier_points": _check_amount(tier_points, "tier_points"), "spend_minor": _check_amount(spend_minor, "spend_minor"),
               "visits": _check_amount(visits, "visits")}
    require_aware(occurred_at)
    if not source_type or len(source_type) > 32:
        raise InvalidTier("source_type is required (at most 32 characters)", code="invalid_source", field="source_type")
    if not any(amounts.values()):
        return None
    with write_transaction():
        created = now()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tiers_tieractivity (organization_id, member_id, occurred_at, tier_points, spend_minor, visits, source_type, "
                "source_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [member.organization_id, member.pk, db_time(occurred_at), amounts["tier_points"],
                 amounts["spend_minor"], amounts["visits"], source_type, source_id, db_time(created)],
            )
        if amounts[terms.column] <= 0:
            return None  # nothing towards the metric, or a reversal: no upgrade
        start, end = terms.current_window(created)
        value, held_code = _window_total_and_held(member.pk, terms, start, end)
        reached = terms.level_for(value)
        if reached is None or reached.rank <= terms.rank(held_code):
            return None
        return _raise_held(terms, member, reached.code, created, detail=f"{terms.metric}={value}")


def _window_total_and_held(member_id: int, terms: TierTerms, start: dt.datetime, end: dt.datetime | None) -> tuple[int, str]:
    """One statement: the member's total in the window and the level they hold now."""
    window = "occurred_at >= %s" + (" AND occurred_at < %s" if end is not None else "")
    params: list = [member_id, db_time(start)]
    if end is not None:
        params.append(db_time(end))
    params.append(member_id)
    with connection.cursor() as cursor:
        # terms.column comes from a fixed set, never from input.
        cursor.execute(
            f"SELECT (SELECT COALESCE(SUM({terms.column}), 0) FROM tiers_tieractivity WHERE member_id = %s AND {window}), "
            "(SELECT held_code FROM tiers_tierstatus WHERE member_id = %s)",
            params,
        )
        total, held = cursor.fetchone()
    return int(total), held or ""


def _locked_status(member: Member) -> TierStatus:
    """The member's status row, created if missing, locked until the transaction ends."""
    TierStatus.objects.bulk_create(
        [TierStatus(member_id=member.pk, organization_id=member.organization_id, updated_at=now())], ignore_conflicts=True
    )
    return TierStatus.objects.select_for_update().get(member_id=member.pk)


def _raise_held(terms: TierTerms, member: Member, code: str, at: dt.datetime, *, detail: str) -> TierChange | None:
    status = _locked_status(member)
    if terms.rank(code) <= terms.rank(status.held_code):
        return None  # another event was faster
    status.held_code, status.held_via, status.window_end = code, Via.THRESHOLD, terms.window_end_after(at)
    return _settle(terms, status, member, at, reason=TierChangeReason.UPGRADE, detail=detail, actor=SYSTEM)


def _settle(
    terms: TierTerms, status: TierStatus, member: Member | None, at: dt.datetime, *, reason: str, detail: str = "", actor: Actor = SYSTEM
) -> TierChange | None:
    """Derive the member's tier from the held and VIP levels, save the status, and on a change
    write the history row and Member.tier."""
    vip_running = bool(status.vip_code and status.vip_until and status.vip_until > at)
    if vip_running and terms.rank(status.vip_code) > terms.rank(status.held_code):
        code, via = status.vip_code, Via.VIP
    elif status.held_code:
        code, via = status.held_code, status.held_via or Via.THRESHOLD
    else:
        code, via = "", Via.NONE
    reviews = []
    if status.held_code and status.window_end:
        reviews.append(status.window_end + terms.grace)
    if status.vip_code and status.vip_until:
        reviews.append(status.vip_until)
    status.review_at = min(reviews) if reviews else None
    before = status.tier_code
    change = None
    if code != before:
        status.tier_code, status.since = code, at
        TierHistory.objects.create(
            organization_id=status.organization_id, member_id=status.member_id, from_code=before, to_code=code, reason=reason,
            detail=detail[:200], actor=str(actor)[:200], at=at,
        )
        Member.objects.filter(pk=status.member_id).update(tier=code)
        if member is not None:
            member.tier = code
        change = TierChange(member_id=status.member_id, from_code=before, to_code=code, reason=reason, at=at)
    status.via = via if code else Via.NONE
    if not code:
        status.since = None
    status.updated_at = now()
    status.save(update_fields=["tier_code", "since", "via", "held_code", "held_via", "window_end", "vip_code", "vip_until", "review_at", "updated_at"])
    return change


# --- the review (downgrade) job ------------------------------------------------------------

BATCH = 500


def tiers_review_due(*, at: dt.datetime | None = None) -> int:
    """Review every member whose window ended (plus grace) or whose VIP period ended.

    The held level becomes what the window that just ended supports (or what was already
    earned since, during the grace period, if higher); an ended VIP period falls back to
    the held level. Each member is reviewed in their own short transaction, under the lock
    of their status row, at most once per window. Returns how many members changed tier.
    """
    at = at or now()
    changed = 0
    after = 0
    while True:
        due = list(
            TierStatus.objects.filter(review_at__lte=at, member_id__gt=after).order_by("member_id").values_list("member_id", "organization_id")[:BATCH]
        )
        if not due:
            return changed
        for member_id, organization_id in due:
            after = member_id
            if tier_review_member(member_id=member_id, organization_id=organization_id, at=at) is not None:
                changed += 1


def tier_review_member(*, member_id: int, organization_id: int, at: dt.datetime) -> TierChange | None:
    terms = tier_terms(organization_id)
    if terms is None:
        return None
    with write_transaction():
        status = TierStatus.objects.select_for_update().filter(member_id=member_id, review_at__lte=at).first()
        if status is None:
            return None  # reviewed meanwhile
        before_rank = terms.rank(status.tier_code)
        details = []
        for _step in range(1000):  # one step per window ended since the last review
            if not (status.held_code and status.window_end and status.window_end + terms.grace <= at):
                break
            end = status.window_end
            ended = qualification(member_id, terms.column, terms.window_start(end), end)
            since = qualification(member_id, terms.column, end, None)
            reached = terms.higher(_code(terms.level_for(ended)), _code(terms.level_for(since)))
            details.append(f"{terms.metric}={ended}")
            status.held_code = reached
            status.held_via = Via.THRESHOLD if reached else Via.NONE
            status.window_end = terms.next_window_end(end) if reached else None
        vip_ended = bool(status.vip_code and status.vip_until and status.vip_until <= at)
        if vip_ended:
            status.vip_code, status.vip_until = "", None
        after_rank = _effective_rank(terms, status, at)
        if after_rank > before_rank:
            reason = TierChangeReason.UPGRADE
        elif vip_ended and not details:
            reason = TierChangeReason.VIP_ENDED
        else:
            reason = TierChangeReason.DOWNGRADE
        return _settle(terms, status, None, at, reason=reason, detail=", ".join(details))


def _effective_rank(terms: TierTerms, status: TierStatus, at: dt.datetime) -> int:
    vip = status.vip_code if status.vip_code and status.vip_until and status.vip_until > at else ""
    return terms.rank(terms.higher(status.held_code, vip))


def _code(level) -> str:
    return level.code if level else ""


# --- VIP and staff overrides ----------------------------------------------------------------


def tier_vip_purchase(
    *, program: Program, member: Member, tier_code: str, external_id: str, occurred_at: dt.datetime, actor: Actor
) -> TierStatus:
    """The member bought the VIP level for its period (the payment is taken elsewhere).

    Idempotent by external_id: the same purchase again returns the status unchanged; the
    same external id for another member or level is refused. Buying the level the member
    already has as VIP extends the running period; another VIP level while one runs is refused.
    """
    if not external_id or len(external_id) > 120:
        raise InvalidTier("external_id is required (at most 120 characters)", field="external_id")
    require_aware(occurred_at)
    if occurred_at > now() + FUTURE_TOLERANCE:
        raise InvalidTier("occurred_at is in the future", code="occurred_in_future", field="occurred_at")
    if member.organization_id != program.organization_id:
        raise MemberNotFound()
    terms = tier_terms(member.organization_id)
    level = terms.level(tier_code) if terms else None
    if terms is None or level is None:
        raise TierNotFound(f"No tier level {tier_code!r}", tier=tier_code)
    if level.vip_price_minor is None or not level.vip_months:
        raise TierNotForSale(tier=tier_code)
    check_member_active(member)
    with write_transaction():
        status = _locked_status(member)
        existing = TierVipPurchase.objects.filter(organization_id=member.organization_id, external_id=external_id).first()
        if existing is not None:
            if existing.member_id != member.pk or existing.tier_code != tier_code:
                raise VipExternalIdReused(external_id=external_id)
            return status
        start = occurred_at
        if status.vip_code and status.vip_until and status.vip_until > occurred_at:
            if status.vip_code != tier_code:
                raise VipAlreadyActive(f"VIP {status.vip_code} runs until {status.vip_until.isoformat()}", vip_tier=status.vip_code,
                                       vip_until=status.vip_until.isoformat())
            start = status.vip_until  # a renewal: the new period follows the running one
        ends = terms.add_months(start, level.vip_months)
        TierVipPurchase.objects.create(
            organization_id=member.organization_id, member_id=member.pk, tier_code=tier_code, external_id=external_id,
            price_minor=level.vip_price_minor, months=level.vip_months, starts_at=start, ends_at=ends, occurred_at=occurred_at,
            actor=str(actor)[:200],
        )
        status.vip_code, status.vip_until = tier_code, ends
        _settle(terms, status, member, now(), reason=TierChangeReason.VIP, detail=f"until {ends.isoformat()}", actor=actor)
        audit_record(
            organization_id=member.organization_id, actor=actor, action="tier.vip", target_type="member", target_id=member.pk,
            data={"tier": tier_code, "external_id": external_id, "until": ends.isoformat(), "price_minor": level.vip_price_minor},
        )
    return status


def tier_set_manual(*, member: Member, tier_code: str, actor: Actor, reason: str) -> TierChange | None:
    """A staff override: the member holds `tier_code` ("" = none) until the end of the current
    window (plus grace), then qualification decides again. A running VIP level still counts."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise ReasonRequired("A reason is required (at most 200 characters)", field="reason")
    terms = tier_terms(member.organization_id)
    if terms is None or (tier_code and terms.level(tier_code) is None):
        raise TierNotFound(f"No tier level {tier_code!r}", tier=tier_code)
    at = now()
    with write_transaction():
        status = _locked_status(member)
        status.held_code = tier_code
        status.held_via = Via.MANUAL if tier_code else Via.NONE
        status.window_end = terms.window_end_after(at) if tier_code else None
        change = _settle(terms, status, member, at, reason=TierChangeReason.MANUAL, detail=reason, actor=actor)
        audit_record(
            organization_id=member.organization_id, actor=actor, action="tier.manual", target_type="member", target_id=member.pk,
            data={"tier": tier_code, "reason": reason},
        )
    return change


# --- levels and settings -----------------------------------------------------------------------

LEVEL_FIELDS = {"name_fr", "name_en", "rank", "threshold", "multiplier_percent", "perks_fr", "perks_en", "vip_price_minor", "vip_months"}
CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
RESERVED_CODES = {"settings", "members"}  # API paths under /tiers


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_level(level: TierLevel) -> None:
    if not isinstance(level.code, str) or not CODE_PATTERN.match(level.code) or level.code in RESERVED_CODES:
        raise InvalidTier("code must be 1 to 32 lowercase letters, digits, - or _ (not 'settings' or 'members')", field="code")
    if not isinstance(level.name_fr, str) or not level.name_fr.strip() or len(level.name_fr) > 120:
        raise InvalidTier("A French name is required (at most 120 characters)", field="name_fr")
    if not isinstance(level.name_en, str) or len(level.name_en) > 120:
        raise InvalidTier("name_en is at most 120 characters", field="name_en")
    if not _is_int(level.rank) or not 1 <= level.rank <= 100:
        raise InvalidTier("rank must be between 1 and 100", field="rank")
    if level.threshold is not None and (not _is_int(level.threshold) or not 0 <= level.threshold <= MAX_AMOUNT):
        raise InvalidTier(f"threshold must be between 0 and {MAX_AMOUNT}", field="threshold")
    if not _is_int(level.multiplier_percent) or not 100 <= level.multiplier_percent <= 1000:
        raise InvalidTier("multiplier_percent must be between 100 (none) and 1000 (x10)", code="invalid_multiplier", field="multiplier_percent")
    for field in ("perks_fr", "perks_en"):
        if not isinstance(getattr(level, field), str) or len(getattr(level, field)) > 2000:
            raise InvalidTier(f"{field} is at most 2000 characters", field=field)
    if level.vip_price_minor is not None and (not _is_int(level.vip_price_minor) or not 0 < level.vip_price_minor <= MAX_MINOR):
        raise InvalidTier(f"vip_price_minor must be between 1 and {MAX_MINOR} cents (or empty: not for sale)", field="vip_price_minor")
    if level.vip_months is not None and (not _is_int(level.vip_months) or not 1 <= level.vip_months <= 120):
        raise InvalidTier("vip_months must be between 1 and 120", field="vip_months")
    if (level.vip_price_minor is None) != (level.vip_months is None):
        raise InvalidTier("A VIP level needs both a price and a period in months", code="invalid_vip", field="vip_months")
    if level.threshold is None and level.vip_price_minor is None:
        raise InvalidTier("A level needs a threshold, or a VIP price if it can only be bought", code="threshold_required", field="threshold")


def _check_ladder(organization_id: int, level: TierLevel) -> None:
    """Codes and ranks unique; thresholds strictly increasing with the rank."""
    others = list(TierLevel.objects.filter(organization_id=organization_id).exclude(pk=level.pk).order_by("rank"))
    if any(other.code == level.code for other in others):
        raise TierCodeTaken(f"A level {level.code!r} already exists", tier=level.code)
    if any(other.rank == level.rank for other in others):
        raise TierRankTaken(f"Rank {level.rank} is taken", rank=level.rank)
    ladder = sorted(others + [level], key=lambda lv: lv.rank)
    previous = None
    for current in ladder:
        if current.threshold is None:
            continue
        if previous is not None and current.threshold <= previous.threshold:
            raise TierThresholdsNotIncreasing(
                f"{current.code} (rank {current.rank}) needs a threshold above {previous.code}'s {previous.threshold}",
                tier=current.code, above=previous.code, threshold=previous.threshold,
            )
        previous = current


def _lock_ladder(organization_id: int) -> None:
    """One change of an organization's levels at a time (the ladder is checked as a whole)."""
    Organization.objects.select_for_update().filter(pk=organization_id).values_list("pk", flat=True).first()


def _forget(organization_id: int) -> None:
    forget_tiers(organization_id)
    transaction.on_commit(lambda: forget_tiers(organization_id))


def tier_level_create(*, organization: Organization, actor: Actor, code: str, **fields: object) -> TierLevel:
    unknown = set(fields) - LEVEL_FIELDS
    if unknown:
        raise InvalidTier(f"Unknown tier fields: {', '.join(sorted(unknown))}", code="unknown_fields", fields=sorted(unknown))
    level = TierLevel(organization=organization, code=code, **fields)
    _check_level(level)
    with write_transaction():
        _lock_ladder(organization.id)
        _check_ladder(organization.id, level)
        level.save()
        _forget(organization.id)
        audit_record(organization_id=organization.id, actor=actor, action="tier.create", target_type="tier", target_id=level.code,
                     data={field: getattr(level, field) for field in sorted(LEVEL_FIELDS)})
    return level


def tier_level_update(*, level: TierLevel, actor: Actor, **changes: object) -> TierLevel:
    """Change some fields of a level (its code never changes: members and rewards refer to it)."""
    unknown = set(changes) - LEVEL_FIELDS
    if unknown:
        raise InvalidTier(f"Unknown or read-only tier fields: {', '.join(sorted(unknown))}", code="unknown_fields", fields=sorted(unknown))
    with write_transaction():
        _lock_ladder(level.organization_id)
        level = TierLevel.objects.select_for_update().get(pk=level.pk)
        for field, value in changes.items():
            setattr(level, field, value)
        _check_level(level)
        _check_ladder(level.organization_id, level)
        level.save(update_fields=sorted(changes) + ["updated_at"])
        _forget(level.organization_id)
        audit_record(organization_id=level.organization_id, actor=actor, action="tier.update", target_type="tier", target_id=level.code,
                     data={"fields": sorted(changes)})
    return level


SETTINGS_FIELDS = {"metric", "window", "window_months", "grace_days"}


def tier_settings_update(*, organization: Organization, actor: Actor, **changes: object) -> TierSettings:
    """Change how members qualify. Takes effect at the next activity (upgrades) and the next review (downgrades)."""
    unknown = set(changes) - SETTINGS_FIELDS
    if unknown:
        raise InvalidTierSettings(f"Unknown tier settings: {', '.join(sorted(unknown))}", code="unknown_fields", fields=sorted(unknown))
    with write_transaction():
        TierSettings.objects.bulk_create([TierSettings(organization=organization)], ignore_conflicts=True)
        settings = TierSettings.objects.select_for_update().get(organization=organization)
        for field, value in changes.items():
            setattr(settings, field, value)
        if settings.metric not in Metric.values:
            raise InvalidTierSettings(f"metric must be one of {', '.join(Metric.values)}", field="metric")
        if settings.window not in Window.values:
            raise InvalidTierSettings(f"window must be one of {', '.join(Window.values)}", field="window")
        if not _is_int(settings.window_months) or not 1 <= settings.window_months <= 36:
            raise InvalidTierSettings("window_months must be between 1 and 36", field="window_months")
        if not _is_int(settings.grace_days) or not 0 <= settings.grace_days <= 365:
            raise InvalidTierSettings("grace_days must be between 0 and 365", field="grace_days")
        settings.save()
        _forget(organization.id)
        audit_record(organization_id=organization.id, actor=actor, action="tier.settings", target_type="organization", target_id=organization.id,
                     data={field: getattr(settings, field) for field in sorted(SETTINGS_FIELDS)})
    return settings
