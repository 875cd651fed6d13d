"""Scheduled ledger jobs, run by the worker (`fidelo worker`)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from fidelo.ledger.jobs import expire_due, release_due


@db_periodic_task(crontab(minute="*/5"))
@lock_task("ledger-release-pending")
def release_pending_points() -> int:
    return release_due().lots


@db_periodic_task(crontab(minute="7", hour="*"))
@lock_task("ledger-expire-lots")
def expire_points() -> int:
    return expire_due().lots
