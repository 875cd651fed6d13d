"""One place to ask the time, so that tests and the demo can move it.

Every service asks `now()`. `travel_to(moment)` (tests) or `clock_source(callable)` (the demo
replaying a year of activity) replace it for the current thread or task, without touching
Django's own timestamps.
"""

import contextvars
import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.utils import timezone

_source: contextvars.ContextVar[Callable[[], dt.datetime] | None] = contextvars.ContextVar("fidelo_clock", default=None)


def now() -> dt.datetime:
    source = _source.get()
    return source() if source is not None else timezone.now()


@contextmanager
def clock_source(source: Callable[[], dt.datetime]) -> Iterator[None]:
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


@contextmanager
def travel_to(moment: dt.datetime) -> Iterator[None]:
    require_aware(moment, "moment")
    with clock_source(lambda: moment):
        yield


def local_date(moment: dt.datetime, tz_name: str) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(tz_name)).date()


EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def require_aware(moment: dt.datetime, field: str = "occurred_at") -> dt.datetime:
    """A business timestamp: with a time zone offset, and not before 2000.

    Year-1 dates overflow when converted to UTC on some databases, and no loyalty event
    predates this product: such a value is a client bug, refused with a clear error.
    """
    from fidelo.core.errors import ValidationFailed

    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationFailed(f"{field} must carry a time zone offset", code="naive_datetime", field=field)
    if moment.year < 2000 or moment < EARLIEST:
        raise ValidationFailed(f"{field} is before the year 2000", code="implausible_datetime", field=field)
    return moment
