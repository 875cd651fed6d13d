"""Qualification windows: calendar years (in the organization's time zone) or N months.

Plain date arithmetic, no database. A month later than 31 January is the last day of
February; wall-clock times are kept across daylight-saving changes.
"""

import calendar
import datetime as dt
import zoneinfo


def add_months(moment: dt.datetime, months: int, tz_name: str) -> dt.datetime:
    local = moment.astimezone(zoneinfo.ZoneInfo(tz_name))
    years, month0 = divmod(local.month - 1 + months, 12)
    year, month = local.year + years, month0 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def year_bounds(moment: dt.datetime, tz_name: str) -> tuple[dt.datetime, dt.datetime]:
    """The local calendar year containing `moment`: [1 January 00:00, next 1 January 00:00)."""
    tz = zoneinfo.ZoneInfo(tz_name)
    year = moment.astimezone(tz).year
    return dt.datetime(year, 1, 1, tzinfo=tz), dt.datetime(year + 1, 1, 1, tzinfo=tz)
