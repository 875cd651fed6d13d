"""Refreshers running at the same time as each other and as purchases: the rollups end up equal to a rebuild."""

import threading

from django.db import connection

from fidelo.analytics.models import Breakdown, DailyStats, MemberStats
from fidelo.analytics.services import rollups_rebuild, rollups_refresh
from fidelo.conftest import make_member, make_org
from fidelo.ledger.tests.helpers import buy
from fidelo.tenancy.selectors import program_for


def snapshot(org_id: int):
    return (
        sorted(MemberStats.objects.filter(organization_id=org_id).values_list("member_id", "points_earned", "balance", "purchases", "revenue_minor")),
        sorted(DailyStats.objects.filter(organization_id=org_id).values_list("store_key", "day", "points_issued", "purchases", "active_members")),
        sorted(Breakdown.objects.filter(organization_id=org_id, members__gt=0).values_list("dimension", "store_key", "key", "members", "points_earned")),
    )


def test_refreshers_and_purchases_at_the_same_time(transactional_db):
    org = make_org("concurrence")
    program = program_for(org.id)
    members = [make_member(org) for _ in range(6)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def guarded(work):
        def run():
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
            finally:
                connection.close()

        return run

    def shopper(index: int):
        for n in range(8):
            buy(program, members[(index + n) % len(members)], 500 + 100 * n)
        stop.set()

    def refresher(quick: bool):
        while not stop.is_set():
            rollups_refresh(organization_id=org.id, quick=quick)

    threads = [threading.Thread(target=guarded(lambda i=i: shopper(i))) for i in range(2)]
    threads += [threading.Thread(target=guarded(lambda q=q: refresher(q))) for q in (True, False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    rollups_refresh(organization_id=org.id)  # the worker's pass: rescans what has not settled
    after = snapshot(org.id)
    assert sum(row[3] for row in after[0]) == 16  # every purchase is in
    rollups_rebuild(organization_id=org.id)
    assert snapshot(org.id) == after
