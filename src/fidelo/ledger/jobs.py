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


def _resolve_due(
    find: Callable[[dt.datetime, int], list[tuple[int, int]]],
    resolve: Callable[..., object],
    at: dt.datetime,
    progress: Callable[[int], None] | None,
) -> JobReport:
    """Resolve every due lot that `find` returns, batch after batch, each in its own transaction."""
    report = JobReport()
    while True:
        due = find(at, BATCH)
        if not due:
            return report
        for lot_id, organization_id in due:
            transfer = resolve(lot_id=lot_id, program=program_for(organization_id), at=at)
            if transfer is not None:
                report.lots += 1
                report.amount += transfer.amount
            if progress:
                progress(1)


def release_due(*, at: dt.datetime | None = None, progress: Callable[[int], None] | None = None) -> JobReport:
    """Release the pending lots whose return window has ended."""
    return _resolve_due(selectors.due_pending_lots, lot_release, at or now(), progress)


def expire_due(*, at: dt.datetime | None = None, progress: Callable[[int], None] | None = None) -> JobReport:
    """Move what is left of lots past their expiry date to the expiry account."""
    return _resolve_due(selectors.due_expired_lots, lot_expire, at or now(), progress)
