"""The set-based rebuild gives exactly the rows the incremental refresher computed.

Activity around the days a zone changes its UTC offset, at the first and the last microsecond
of local days, in several stores and none, with every kind of ledger move; per zone, the
refresher runs first, then a rebuild must leave the same rows. The zones take the set-based
path (the local day computed in SQL from the zone's offsets; America/Santiago's day of 25
hours ends at 24:00 summer time); the last case forces the day-by-day path of the zones
whose days the offsets cannot describe.
"""

import datetime as dt
import zoneinfo

import pytest

from fidelo.analytics.models import Breakdown, DailyStats, MemberStats, OfferStatsRollup
from fidelo.analytics.services import (
    _bounds,
    _Context,
    _LocalDaySQL,
    rollups_rebuild,
    rollups_refresh,
)
from fidelo.conftest import STAFF, make_member, make_org, program_of
from fidelo.core.clock import travel_to
from fidelo.ledger.services import points_adjust, points_transfer
from fidelo.ledger.tests.helpers import buy, next_id, redeem, refund
from fidelo.purchases.services import visit_record
from fidelo.referrals.models import Referral
from fidelo.tenancy.services import store_create


def _snapshot(org_id: int):
    daily = [f.name for f in DailyStats._meta.fields if f.name not in ("id", "organization")]
    breakdown = [f.name for f in Breakdown._meta.fields if f.name not in ("id", "organization")]
    return (
        sorted(MemberStats.objects.filter(organization_id=org_id).values_list()),
        sorted(DailyStats.objects.filter(organization_id=org_id).values_list(*daily)),
        sorted(Breakdown.objects.filter(organization_id=org_id, members__gt=0).values_list(*breakdown)),
        sorted(OfferStatsRollup.objects.filter(organization_id=org_id).values_list()),
    )


DAYS = [dt.date(2025, 3, 29), dt.date(2025, 3, 30), dt.date(2025, 4, 5), dt.date(2025, 4, 6), dt.date(2025, 9, 7), dt.date(2025, 10, 26),
        dt.date(2025, 10, 27)]


@pytest.mark.parametrize(("zone", "day_by_day"), [("Europe/Paris", False), ("America/Santiago", False), ("Asia/Kolkata", False), ("UTC", False),
                                                  ("Europe/Paris", True)])
def test_a_rebuild_gives_the_rows_of_the_incremental_refresher(db, monkeypatch, zone, day_by_day):
    if day_by_day:
        monkeypatch.setattr(_LocalDaySQL, "for_zone", classmethod(lambda cls, ctx, first, last: None))
    tz = zoneinfo.ZoneInfo(zone)
    org = make_org("rebuild-" + zone.lower().replace("/", "-"), timezone=zone, transfers_allowed=True)
    program = program_of(org)
    stores = [store_create(organization=org, code=f"s{i}", name=f"Magasin {i}", city="Lyon") for i in range(2)]
    moments = []
    for day in DAYS:
        start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
        stop = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        moments += [start.astimezone(dt.UTC), start.astimezone(dt.UTC) + dt.timedelta(hours=13, microseconds=7),
                    stop.astimezone(dt.UTC) - dt.timedelta(microseconds=1)]
    members = []
    with travel_to(moments[0] - dt.timedelta(days=3)):
        for i, name in enumerate(["Gaëlle", "Éric", "Zoé", "Anne"]):
            members.append(make_member(org, first_name=name, last_name=f"Lefèvre{i}", store=stores[i % 2] if i < 3 else None))
    purchases = []
    for n, moment in enumerate(moments):
        a, b = members[n % 4], members[(n + 1) % 4]
        with travel_to(moment):
            purchases.append(buy(program, a, 1_000 + 250 * n, store=[stores[0], stores[1], None][n % 3], occurred_at=moment))
            if n % 2 == 0:
                visit_record(member=b, store=stores[n % 2] if n % 4 else None, external_id=next_id("visit"), occurred_at=moment)
            if n % 3 == 1:
                redeem(program, a, 3, occurred_at=moment)
            if n % 4 == 2:
                points_adjust(program=program, member=a, delta=-2 if n % 8 == 2 else 9, note="geste", actor=STAFF, occurred_at=moment)
            if n % 5 == 3:
                points_transfer(program=program, sender=a, recipient=b, amount=1, actor=STAFF, occurred_at=moment)
            if n % 6 == 4:
                refund(program, purchases[n - 1], amount=500, occurred_at=moment)
            if n % 7 == 5:
                newcomer = make_member(org, first_name="Parrainé", last_name=f"N{n}", store=stores[n % 2])
                Referral.objects.create(organization=org, referrer=a, referee=newcomer, code="AMI", status="completed", enrolled_at=moment)
    with travel_to(moments[-1] + dt.timedelta(days=2)):
        rollups_refresh(organization_id=org.id, until_done=True, settle_seconds=0)
        incremental = _snapshot(org.id)
        assert incremental[1] and incremental[2]
        rollups_rebuild(organization_id=org.id)
        assert _snapshot(org.id) == incremental
    set_based = _LocalDaySQL.for_zone(_Context(org.id), *_bounds(_Context(org.id)))
    assert (set_based is None) == day_by_day
