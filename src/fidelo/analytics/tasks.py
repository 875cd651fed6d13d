"""Scheduled statistics jobs, run by the worker (`fidelo worker`)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from fidelo.analytics.services import rollups_refresh


@db_periodic_task(crontab(minute="*"))
@lock_task("analytics-rollups-refresh")
def refresh_rollups() -> int:
    """Every minute: fold what was written since the last run into the rollups (all organizations)."""
    return rollups_refresh(until_done=True)
