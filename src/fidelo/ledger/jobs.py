"""Batch jobs of the ledger: release pending points, expire lots. Safe to run concurrently.

Each lot is handled in its own short transaction and resolved at most once (a conditional
status change), so two workers, or a job re-run after a crash, never double-count.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from fidelo.core.clock import now
from fidelo.ledger import selectors
from fidelo.ledger.services import lot_expire, lot_release
from fidelo.tenancy.selectors import program_for

BATCH = 500


@dataclass
class JobReport:
    lots: int = 0
    amount: int = 0


def release_due(*, at: dt.datetime | None = None, progress: Callable[[int], None] | None = None) -> JobReport:
    at = at or now()
    report = JobReport()
    while True:
        due = selectors.due_pending_lots(at, BATCH)
        if not due:
            return report
        for lot_id, organization_id in due:
            transfer = lot_release(lot_id=lot_id, program=program_for(organization_id), at=at)
            if transfer is not None:
                report.lots += 1
                report.amount += transfer.amount
            if progress:
                progress(1)


def expire_due(*, at: dt.datetime | None = None, progress: Callable[[int], None] | None = None) -> JobReport:
    at = at or now()
    report = JobReport()
    while True:
        due = selectors.due_expired_lots(at, BATCH)
        if not due:
            return report
        for lot_id, organization_id in due:
            transfer = lot_expire(lot_id=lot_id, program=program_for(organization_id), at=at)
            if transfer is not None:
                report.lots += 1
                report.amount += transfer.amount
            if progress:
                progress(1)
