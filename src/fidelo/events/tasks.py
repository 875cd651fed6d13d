"""Scheduled event jobs, run by the worker (`fidelo worker`)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from fidelo.events.jobs import birthdays_due


@db_periodic_task(crontab(minute="17", hour="*"))  # hourly: every time zone's morning comes
@lock_task("events-birthdays")
def record_birthdays() -> int:
    return birthdays_due()
