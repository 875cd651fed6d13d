"""Scheduled rewards jobs, run by the worker."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from fidelo.rewards.jobs import auto_redeem_due
from fidelo.rewards.services import vouchers_expire_due


@db_periodic_task(crontab(minute="12", hour="*"))
@lock_task("rewards-expire-vouchers")
def expire_vouchers() -> int:
    return vouchers_expire_due()


@db_periodic_task(crontab(minute="*"))
@lock_task("rewards-auto-redeem")
def auto_redeem_members() -> int:
    """Members who opted in get their reward within a minute of their balance allowing it."""
    return auto_redeem_due()
