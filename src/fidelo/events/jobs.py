"""Events that time makes: birthdays. Run daily by the worker (events.tasks)."""

import datetime as dt
import logging

from django.db import IntegrityError

from fidelo.core.clock import local_date, now
from fidelo.core.errors import DomainError
from fidelo.events.services import event_record
from fidelo.members.models import Member, MemberStatus
from fidelo.rules.engine import types as engine
from fidelo.rules.selectors import active_rules
from fidelo.tenancy.models import Program

logger = logging.getLogger(__name__)


def birthdays_due(*, at: dt.datetime | None = None) -> int:
    """Record a birthday event for each member whose birthday it is today (in their
    organization's time zone), where a rule listens to birthdays. Once per member and year:
    the event's external id is "birthday:<member>:<year>", so a second run records nothing."""
    at = at or now()
    recorded = 0
    for program in Program.objects.select_related("organization"):
        if not active_rules(program).for_event(engine.BIRTHDAY):
            continue
        today = local_date(at, program.organization.timezone)
        members = Member.objects.filter(
            organization_id=program.organization_id, status=MemberStatus.ACTIVE, birthday__month=today.month, birthday__day=today.day,
        )
        if today.month == 3 and today.day == 1 and not _is_leap(today.year):  # born on 29 February: celebrated on 1 March
            members = members | Member.objects.filter(
                organization_id=program.organization_id, status=MemberStatus.ACTIVE, birthday__month=2, birthday__day=29,
            )
        for member in members.iterator():
            try:
                event_record(program=program, member=member, type=engine.BIRTHDAY, external_id=f"birthday:{member.pk}:{today.year}",
                             occurred_at=at)
                recorded += 1
            except IntegrityError:
                continue  # already recorded this year
            except DomainError as refused:
                logger.warning("birthday of member %s not recorded: %s", member.pk, refused.code)
    return recorded


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
