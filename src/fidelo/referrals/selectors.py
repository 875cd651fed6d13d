"""Reads for referrals: the cached settings, a member's referrals, statistics."""

import datetime as dt
import time
import zoneinfo
from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from fidelo.members.models import Member
from fidelo.referrals.models import (
    Referral,
    ReferralCode,
    ReferralSettings,
    ReferralStatus,
)

CACHE_SECONDS = 5.0

_settings: dict[int, tuple[float, ReferralSettings]] = {}


def referral_settings_for(organization_id: int) -> ReferralSettings:
    """The organization's referral settings (an unsaved, disabled default if it has none).

    Read after every purchase: cached per process for a few seconds, like the program
    (`tenancy.selectors.program_for`); a change made in this process applies at once.
    """
    cached = _settings.get(organization_id)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    found = ReferralSettings.objects.filter(organization_id=organization_id).first()
    if found is None:
        found = ReferralSettings(organization_id=organization_id)
    _settings[organization_id] = (time.monotonic() + CACHE_SECONDS, found)
    return found


def forget_referral_settings(organization_id: int) -> None:
    _settings.pop(organization_id, None)


def clear_caches() -> None:
    _settings.clear()


def existing_code(member: Member) -> str | None:
    return ReferralCode.objects.filter(member_id=member.id).values_list("code", flat=True).first()


def build_link(code: str, *, base_url: str, link_base_url: str = "") -> str:
    """The referral link: the merchant's own sign-up page with ?ref=CODE, else {base_url}/join?ref=CODE."""
    if link_base_url:
        separator = "&" if "?" in link_base_url else "?"
        return f"{link_base_url}{separator}ref={code}"
    return f"{base_url.rstrip('/')}/join?ref={code}"


def referral_of(member: Member) -> Referral | None:
    """How this member joined: their referral, if they came with a code."""
    return Referral.objects.filter(referee_id=member.id).first()


@dataclass(frozen=True)
class MemberReferrals:
    member_id: int
    code: str | None
    link: str | None
    referred_by: Referral | None  # how this member joined, if with a code
    referrals: list[Referral]  # the referrals this member made, newest first


def member_referrals(member: Member, *, base_url: str = "") -> MemberReferrals:
    """A member's code and link (None if no code was made yet) and the referrals they made."""
    code = existing_code(member)
    settings = referral_settings_for(member.organization_id)
    link = build_link(code, base_url=base_url, link_base_url=settings.link_base_url) if code else None
    made = list(Referral.objects.filter(referrer_id=member.id).select_related("referee").order_by("-enrolled_at", "-id"))
    referred_by = Referral.objects.filter(referee_id=member.id).select_related("referrer").first()
    return MemberReferrals(member_id=member.id, code=code, link=link, referred_by=referred_by, referrals=made)


def completed_in_year(*, referrer_id: int, year_start: dt.datetime, year_end: dt.datetime, exclude_id: int | None = None) -> int:
    """Completed referrals that rewarded this referrer between the two moments."""
    rows = Referral.objects.filter(
        referrer_id=referrer_id, status=ReferralStatus.COMPLETED, referrer_capped=False,
        completed_at__gte=year_start, completed_at__lt=year_end,
    )
    if exclude_id is not None:
        rows = rows.exclude(pk=exclude_id)
    return rows.count()


def calendar_year(moment: dt.datetime, tz_name: str) -> tuple[dt.datetime, dt.datetime]:
    """The local calendar year around `moment`: [1 January, next 1 January)."""
    tz = zoneinfo.ZoneInfo(tz_name)
    year = moment.astimezone(tz).year
    return dt.datetime(year, 1, 1, tzinfo=tz), dt.datetime(year + 1, 1, 1, tzinfo=tz)


@dataclass(frozen=True)
class ReferralStats:
    made: int  # referees who joined with a code in the period
    completed: int  # referrals completed in the period (and not taken back since)
    refused: int  # taken back after a full refund, in the period
    expired: int  # pending past their window, in the period
    referrer_points: int  # given to referrers for the completions in the period
    referee_points: int  # given to referees for the completions in the period

    @property
    def points_given(self) -> int:
        return self.referrer_points + self.referee_points


def referral_stats(organization_id: int, start: dt.datetime, end: dt.datetime) -> ReferralStats:
    """Referrals made, completed, refused and expired in [start, end), and the points given."""
    rows = Referral.objects.filter(organization_id=organization_id)
    made = rows.filter(enrolled_at__gte=start, enrolled_at__lt=end).count()
    completed = rows.filter(status=ReferralStatus.COMPLETED, completed_at__gte=start, completed_at__lt=end).aggregate(
        count=Count("id"), referrer=Sum("referrer_points"), referee=Sum("referee_points")
    )
    closed = rows.filter(closed_at__gte=start, closed_at__lt=end).aggregate(
        refused=Count("id", filter=Q(status=ReferralStatus.REFUSED)), expired=Count("id", filter=Q(status=ReferralStatus.EXPIRED))
    )
    return ReferralStats(
        made=made, completed=completed["count"], refused=closed["refused"], expired=closed["expired"],
        referrer_points=completed["referrer"] or 0, referee_points=completed["referee"] or 0,
    )


def referrals_count_by_member(organization_id: int) -> dict[int, int]:
    """Completed referrals per referrer (member id), for leaderboards and achievements."""
    rows = (
        Referral.objects.filter(organization_id=organization_id, status=ReferralStatus.COMPLETED)
        .values("referrer_id").annotate(count=Count("id")).values_list("referrer_id", "count")
    )
    return dict(rows)
