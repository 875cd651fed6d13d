"""Levels and settings: what the merchant may set, each refusal's code, and nothing half-written."""

import pytest

from fidelo.conftest import STAFF, make_org
from fidelo.core.errors import DomainError
from fidelo.core.models import AuditEntry
from fidelo.tiers.models import TierLevel, TierSettings
from fidelo.tiers.selectors import access_tier_level, tier_settings, tier_terms
from fidelo.tiers.services import (
    tier_level_create,
    tier_level_update,
    tier_settings_update,
)
from fidelo.tiers.tests.helpers import ladder

pytestmark = pytest.mark.django_db


def snapshot() -> tuple:
    return (
        list(TierLevel.objects.order_by("pk").values_list("code", "rank", "threshold", "multiplier_percent", "name_fr", "vip_price_minor")),
        list(TierSettings.objects.values_list("metric", "window", "window_months", "grace_days")),
        AuditEntry.objects.count(),
    )


GOOD = {"code": "diamond", "name_fr": "Diamant", "rank": 4, "threshold": 5000}

LEVEL_REFUSALS = [
    ("tier_code_taken", {"code": "gold"}),
    ("tier_rank_taken", {"rank": 2}),
    ("tier_thresholds_not_increasing", {"threshold": 2000}),  # equal to platinum's
    ("tier_thresholds_not_increasing", {"rank": 5, "threshold": 1500}),  # above platinum in rank, below in threshold
    ("invalid_multiplier", {"multiplier_percent": 99}),
    ("invalid_multiplier", {"multiplier_percent": 1001}),
    ("invalid_tier", {"code": "Gold!"}),
    ("invalid_tier", {"code": "settings"}),
    ("invalid_tier", {"code": ""}),
    ("invalid_tier", {"name_fr": "  "}),
    ("invalid_tier", {"rank": 0}),
    ("invalid_tier", {"rank": "4"}),
    ("invalid_tier", {"threshold": -1}),
    ("invalid_tier", {"threshold": 10**13}),
    ("invalid_tier", {"vip_price_minor": 0, "vip_months": 12}),
    ("invalid_tier", {"vip_price_minor": 900, "vip_months": 0}),
    ("invalid_vip", {"vip_price_minor": 900}),
    ("threshold_required", {"threshold": None}),
    ("unknown_fields", {"colour": "blue"}),
]


@pytest.mark.parametrize(("code", "change"), LEVEL_REFUSALS, ids=[f"{c}-{sorted(v)}" for c, v in LEVEL_REFUSALS])
def test_a_bad_level_is_refused_and_nothing_changes(org, code, change):
    ladder(org)
    before = snapshot()
    with pytest.raises(DomainError) as error:
        tier_level_create(organization=org, actor=STAFF, **{**GOOD, **change})
    assert error.value.code == code, error.value.as_problem()
    assert snapshot() == before


UPDATE_REFUSALS = [
    ("tier_thresholds_not_increasing", "gold", {"threshold": 400}),
    ("tier_thresholds_not_increasing", "silver", {"threshold": 1000}),
    ("tier_rank_taken", "silver", {"rank": 3}),
    ("invalid_multiplier", "gold", {"multiplier_percent": 50}),
    ("unknown_fields", "gold", {"code": "or"}),  # the code never changes
]


@pytest.mark.parametrize(("code", "tier", "change"), UPDATE_REFUSALS, ids=[f"{c}-{t}" for c, t, _ in UPDATE_REFUSALS])
def test_a_bad_change_is_refused_and_nothing_changes(org, code, tier, change):
    ladder(org)
    before = snapshot()
    with pytest.raises(DomainError) as error:
        tier_level_update(level=access_tier_level(org.id, tier), actor=STAFF, **change)
    assert error.value.code == code, error.value.as_problem()
    assert snapshot() == before


def test_levels_are_kept_by_rank_and_a_vip_only_level_needs_no_threshold(org):
    ladder(org)
    level = tier_level_create(organization=org, actor=STAFF, code="black", name_fr="Black", rank=4, threshold=None,
                              vip_price_minor=29_900, vip_months=12, multiplier_percent=300)
    assert level.threshold is None
    terms = tier_terms(org.id)
    assert [lv.code for lv in terms.levels] == ["silver", "gold", "platinum", "black"]
    assert terms.level_for(10**9).code == "platinum"  # a level bought only is never earned
    assert AuditEntry.objects.filter(action="tier.create").count() == 4


def test_a_change_is_seen_at_once_through_the_cache(org):
    ladder(org)
    assert tier_terms(org.id).multiplier_percent("gold") == 150
    assert tier_terms(org.id).multiplier_percent("") == tier_terms(org.id).multiplier_percent("unknown") == 100
    tier_level_update(level=access_tier_level(org.id, "gold"), actor=STAFF, multiplier_percent=175, name_en="Golden")
    terms = tier_terms(org.id)
    assert terms.multiplier_percent("gold") == 175 and terms.level("gold").name("en") == "Golden"
    assert terms.level("gold").name("fr") == "Or"
    assert AuditEntry.objects.filter(action="tier.update").count() == 1


def test_levels_belong_to_their_organization(org):
    ladder(org)
    other = make_org("salle-de-sport")
    assert tier_terms(other.id) is None
    tier_level_create(organization=other, actor=STAFF, code="gold", name_fr="Or", rank=1, threshold=10)  # same code, another ladder
    assert [lv.code for lv in tier_terms(other.id).levels] == ["gold"]
    assert len(tier_terms(org.id).levels) == 3


def test_settings_have_defaults_and_can_change(org):
    ladder(org)
    settings = tier_settings(org.id)
    assert (settings.metric, settings.window, settings.window_months, settings.grace_days) == ("points", "calendar_year", 12, 0)
    tier_settings_update(organization=org, actor=STAFF, metric="spend", window="rolling", window_months=6, grace_days=30)
    terms = tier_terms(org.id)
    assert (terms.metric, terms.window, terms.window_months, terms.grace_days, terms.timezone) == ("spend", "rolling", 6, 30, "Europe/Paris")
    assert AuditEntry.objects.filter(action="tier.settings").count() == 1


SETTINGS_REFUSALS = [
    ("invalid_tier_settings", {"metric": "euros"}),
    ("invalid_tier_settings", {"window": "weekly"}),
    ("invalid_tier_settings", {"window_months": 0}),
    ("invalid_tier_settings", {"window_months": 37}),
    ("invalid_tier_settings", {"grace_days": -1}),
    ("invalid_tier_settings", {"grace_days": 366}),
    ("invalid_tier_settings", {"grace_days": True}),
    ("unknown_fields", {"threshold": 5}),
]


@pytest.mark.parametrize(("code", "change"), SETTINGS_REFUSALS, ids=[str(sorted(v.items())) for _, v in SETTINGS_REFUSALS])
def test_bad_settings_are_refused_and_nothing_changes(org, code, change):
    ladder(org, grace_days=10)
    before = snapshot()
    with pytest.raises(DomainError) as error:
        tier_settings_update(organization=org, actor=STAFF, **change)
    assert error.value.code == code, error.value.as_problem()
    assert snapshot() == before
    assert tier_terms(org.id).grace_days == 10
