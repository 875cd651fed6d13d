"""Scheduled referral jobs, run by the worker."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from fidelo.referrals.services import referrals_expire_due


@db_periodic_task(crontab(minute="27", hour="*"))
@lock_task("referrals-expire")
def expire_referrals() -> int:
    """Pending referrals past their completion window become expired (hourly)."""
    return referrals_expire_due()
