from collections.abc import Iterator

import pytest

from fidelo.referrals.selectors import clear_caches


@pytest.fixture(autouse=True)
def _clear_referral_settings_cache() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()
