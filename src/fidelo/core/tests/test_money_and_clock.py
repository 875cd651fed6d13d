import datetime as dt

import pytest
from django.utils import translation

from fidelo.core.clock import local_date, require_aware
from fidelo.core.errors import ValidationFailed
from fidelo.core.money import format_money


def test_money_is_formatted_in_the_reader_language():
    assert format_money(123456, "EUR", "fr") == "1\u202f234,56\u00a0€"
    assert format_money(123456, "EUR", "en") == "€1,234.56"
    assert format_money(-5, "EUR", "en") == "-€0.05"
    with translation.override("en"):
        assert format_money(100) == "€1.00"


def test_naive_datetimes_are_refused():
    with pytest.raises(ValidationFailed) as error:
        require_aware(dt.datetime(2026, 1, 1, 12, 0))
    assert error.value.code == "naive_datetime"


def test_local_date_follows_the_time_zone():
    late_utc = dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.timezone.utc)
    assert local_date(late_utc, "Europe/Paris") == dt.date(2026, 7, 1)
    assert local_date(late_utc, "UTC") == dt.date(2026, 6, 30)


def test_the_clock_can_be_moved_for_the_current_thread_only():
    import threading

    from fidelo.core.clock import now, travel_to

    moment = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    seen = []
    with travel_to(moment):
        assert now() == moment
        thread = threading.Thread(target=lambda: seen.append(now()))
        thread.start()
        thread.join()
    assert seen[0] != moment
    assert now() != moment


@pytest.mark.parametrize("moment", [dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))), dt.datetime(1999, 12, 31, 23, 0, tzinfo=dt.timezone.utc)])
def test_timestamps_before_2000_are_refused(moment):
    with pytest.raises(ValidationFailed) as error:
        require_aware(moment)
    assert error.value.code == "implausible_datetime"
