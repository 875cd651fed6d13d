"""Scheduled statistics jobs, run by the worker (`fidelo worker`)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from fidelo.analytics.services import rollups_refresh


@db_periodic_task(crontab(minute="*"))
@lock_task("analytics-rollups-refresh")
def refresh_rollups() -> int:
    """Every minute: fold what was written since the last run into the rollups (all organizations)."""
    return rollups_refresh(until_done=True)


@db_periodic_task(crontab(minute="17", hour="*"))
@lock_task("analytics-sqlite-optimize")
def optimize_sqlite() -> bool:
    """Every hour on SQLite: `PRAGMA optimize` refreshes the planner's statistics where they are stale.

    Without them (a new index, a table that grew from nothing) SQLite may pick an index that
    does not match the leaderboard's order and sort a million rows. PostgreSQL's autovacuum
    analyzes tables by itself.
    """
    from django.db import connection

    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA optimize")
    return True
