"""Batch jobs of the rewards catalog."""

import datetime as dt

from django.db.models import F

from fidelo.core.clock import now
from fidelo.ledger.models import AccountKind
from fidelo.members.models import Member
from fidelo.rewards.models import AutoRedemption
from fidelo.rewards.services import auto_redeem
from fidelo.tenancy.selectors import program_for


def auto_redeem_due(*, at: dt.datetime | None = None) -> int:
    """Issue the chosen reward of every opted-in member whose balance now allows it.

    One query finds them (available balance >= the reward's cost, points ledger only), so
    the purchase path pays nothing for the feature; the worker runs this every minute.
    """
    at = at or now()
    due_members = (
        AutoRedemption.objects.filter(
            # Any available account at or above the cost is a candidate (a euro wallet may
            # be one too); auto_redeem then checks the points balance itself.
            member__accounts__kind=AccountKind.AVAILABLE,
            member__accounts__balance__gte=F("reward__cost_points"),
            reward__active=True,
        )
        .values_list("member_id", flat=True)
        .distinct()
    )
    issued = 0
    for member in Member.objects.filter(pk__in=list(due_members)).order_by("pk"):
        issued += len(auto_redeem(program=program_for(member.organization_id), member=member, at=at))
    return issued



