"""A ladder of three levels and a way to record qualifying activity at a given moment."""

import datetime as dt
import itertools
import zoneinfo

from fidelo.conftest import STAFF
from fidelo.core.clock import travel_to
from fidelo.members.models import Member
from fidelo.tenancy.models import Organization, Program
from fidelo.tiers.services import (
    TierChange,
    tier_activity_record,
    tier_level_create,
    tier_settings_update,
)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
_sources = itertools.count(1)


def paris(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=PARIS)


def ladder(org: Organization, **settings: object) -> None:
    """Argent from 500, Or from 1000 (x1.5), Platine from 2000 (x2, also sold as VIP: 99 € a year)."""
    tier_level_create(organization=org, actor=STAFF, code="silver", name_fr="Argent", name_en="Silver", rank=1, threshold=500)
    tier_level_create(organization=org, actor=STAFF, code="gold", name_fr="Or", name_en="Gold", rank=2, threshold=1000,
                      multiplier_percent=150, perks_fr="Café offert", perks_en="Free coffee")
    tier_level_create(organization=org, actor=STAFF, code="platinum", name_fr="Platine", name_en="Platinum", rank=3, threshold=2000,
                      multiplier_percent=200, vip_price_minor=9900, vip_months=12)
    if settings:
        tier_settings_update(organization=org, actor=STAFF, **settings)


def earn(program: Program, member: Member, when: dt.datetime, *, points: int = 0, spend: int = 0, visits: int = 0,
         source_type: str = "purchase") -> TierChange | None:
    """Activity that happens at `when` (the clock is there too)."""
    with travel_to(when):
        return tier_activity_record(program=program, member=member, occurred_at=when, tier_points=points, spend_minor=spend,
                                    visits=visits, source_type=source_type, source_id=next(_sources))


def tier_of(member: Member) -> str:
    member.refresh_from_db(fields=["tier"])
    return member.tier
