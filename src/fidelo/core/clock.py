"""One place to ask the time, so that tests and the demo can move it."""

import datetime as dt
import zoneinfo

from django.utils import timezone


def now() -> dt.datetime:
    return timezone.now()


def local_date(moment: dt.datetime, tz_name: str) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(tz_name)).date()


def require_aware(moment: dt.datetime, field: str = "occurred_at") -> dt.datetime:
    from fidelo.core.errors import ValidationFailed

    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationFailed(f"{field} must carry a time zone offset", code="naive_datetime", field=field)
    return moment
