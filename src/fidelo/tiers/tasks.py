"""Scheduled tier jobs, run by the worker (`fidelo worker`)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from fidelo.tiers.services import tiers_review_due


@db_periodic_task(crontab(minute="23", hour="*"))
@lock_task("tiers-review")
def review_tiers() -> int:
    """Downgrades after the window and grace, VIP periods that ended: within the hour."""
    return tiers_review_due()
