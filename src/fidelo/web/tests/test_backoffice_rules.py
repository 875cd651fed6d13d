"""The rules and tiers screens: the editor's JSON through the rules services, the simulation, tiers."""

import json

import pytest
from django.urls import reverse

from fidelo.api.tests.helpers import nothing_written
from fidelo.conftest import STAFF, make_org
from fidelo.rules.models import Rule, RuleVersion
from fidelo.tiers.models import TierLevel
from fidelo.web.tests.browser import make_staff
from fidelo.web.tests.test_backoffice_views import client_for

pytestmark = pytest.mark.django_db

DOUBLE_WEEKEND = {
    "name": "Double points le week-end", "event": "purchase",
    "conditions": [{"field": "weekday", "op": "in", "value": [1, 2, 3, 4, 5, 6, 7]}, {"field": "amount", "op": "gte", "value": 2000}],
    "effects": [{"type": "fixed_points", "points": 50}],
}


@pytest.fixture
def staff(org):
    return client_for(make_staff(org))


def rule_rows() -> tuple:
    return Rule.objects.count(), RuleVersion.objects.count()


def test_create_edit_toggle_a_rule(org, staff):
    assert staff.get(reverse("backoffice:rule_create")).status_code == 200
    response = staff.post(reverse("backoffice:rule_create"), {"definition": json.dumps(DOUBLE_WEEKEND)})
    assert response.status_code == 302
    rule = Rule.objects.get(organization=org)
    assert rule.name == "Double points le week-end" and rule.active
    assert "Double points le week-end" in staff.get(reverse("backoffice:rules")).content.decode()
    page = staff.get(reverse("backoffice:rule_edit", args=[rule.id]))
    assert json.loads(page.context["form"].initial["definition"])["effects"][0]["points"] == 50
    changed = {**DOUBLE_WEEKEND, "effects": [{"type": "fixed_points", "points": 80}]}
    assert staff.post(reverse("backoffice:rule_edit", args=[rule.id]), {"definition": json.dumps(changed)}).status_code == 302
    rule.refresh_from_db()
    assert rule.current_version == 2
    assert staff.post(reverse("backoffice:rule_toggle", args=[rule.id])).status_code == 302
    rule.refresh_from_db()
    assert not rule.active


@pytest.mark.parametrize(("definition", "message"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    (json.dumps({**DOUBLE_WEEKEND, "colour": "red"}), "rule_"),  # unknown key: the engine refuses it
    (json.dumps({**DOUBLE_WEEKEND, "effects": [{"type": "cashback_percent", "basis_points": 500}]}), "rule_effect_currency_mode"),
    (json.dumps({**DOUBLE_WEEKEND, "conditions": [{"field": "store", "op": "in", "value": ["nowhere"]}]}), "rule_unknown_reference"),
])
def test_bad_rules_are_refused_on_the_form_and_nothing_is_written(org, staff, definition, message):
    before = rule_rows()
    response = staff.post(reverse("backoffice:rule_create"), {"definition": definition})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert rule_rows() == before


def test_the_simulation_explains_what_fired_and_what_did_not(org, member, staff):
    staff.post(reverse("backoffice:rule_create"), {"definition": json.dumps(DOUBLE_WEEKEND)})
    with nothing_written():
        response = staff.post(reverse("backoffice:rule_simulate"), {"member": member.card_number, "event": "purchase", "amount": "42.50"})
    assert response.status_code == 200
    simulation = response.context["simulation"]
    assert simulation["base"] == 42  # 1 point per euro, rounded down
    assert [(a["rule"], a["amount"]) for a in simulation["awards"]] == [("Double points le week-end", 50)]
    small = staff.post(reverse("backoffice:rule_simulate"), {"member": member.email, "event": "purchase", "amount": "10"}).context["simulation"]
    assert small["awards"] == [] and [s["rule"] for s in small["skipped"]] == ["Double points le week-end"]
    unknown = staff.post(reverse("backoffice:rule_simulate"), {"member": "0000", "event": "purchase", "amount": "10"})
    assert unknown.status_code == 422


def test_rules_of_another_organization_are_not_reachable(org, staff):
    other = make_org("ailleurs")
    from fidelo.awards.catalog import rule_catalog
    from fidelo.rules.services import rule_create
    from fidelo.tenancy.selectors import program_for

    foreign = rule_create(organization=other, definition=DOUBLE_WEEKEND, catalog=rule_catalog(program_for(other.id)), actor=STAFF)
    before = rule_rows()
    assert staff.get(reverse("backoffice:rule_edit", args=[foreign.id])).status_code == 404
    assert staff.post(reverse("backoffice:rule_edit", args=[foreign.id]), {"definition": json.dumps(DOUBLE_WEEKEND)}).status_code == 404
    assert staff.post(reverse("backoffice:rule_toggle", args=[foreign.id])).status_code == 404
    assert rule_rows() == before
    foreign.refresh_from_db()
    assert foreign.active and "Double points" not in staff.get(reverse("backoffice:rules")).content.decode()


def test_tiers_list_and_create(org, staff, client):
    assert client.get(reverse("backoffice:tiers")).status_code == 302
    response = staff.post(reverse("backoffice:tiers"), {"code": "gold", "name_fr": "Or", "name_en": "Gold", "rank": "2", "threshold": "1000",
                                                        "multiplier_percent": "150"})
    assert response.status_code == 302
    assert TierLevel.objects.get(organization=org).threshold == 1000
    assert "Or" in staff.get(reverse("backoffice:tiers"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    # The same rank again is the service's refusal, shown on the form.
    again = staff.post(reverse("backoffice:tiers"), {"code": "silver", "name_fr": "Argent", "rank": "2", "threshold": "500",
                                                     "multiplier_percent": "100"})
    assert again.status_code == 422 and TierLevel.objects.filter(organization=org).count() == 1
    bad = staff.post(reverse("backoffice:tiers"), {"code": "x", "name_fr": "X", "rank": "3", "multiplier_percent": "50"})
    assert bad.status_code == 422 and TierLevel.objects.filter(organization=org).count() == 1


@pytest.mark.parametrize("name", ["backoffice:rules", "backoffice:tiers"])
def test_rules_and_tiers_pages_make_a_bounded_number_of_queries(org, staff, django_assert_max_num_queries, name):
    from fidelo.awards.catalog import rule_catalog
    from fidelo.rules.services import rule_create
    from fidelo.tenancy.selectors import program_for
    from fidelo.tiers.services import tier_level_create

    for i in range(20):
        rule_create(organization=org, definition={**DOUBLE_WEEKEND, "name": f"R{i}"}, catalog=rule_catalog(program_for(org.id)), actor=STAFF)
    for i in range(20):
        tier_level_create(organization=org, actor=STAFF, code=f"t{i}", name_fr=f"T{i}", rank=i + 1, threshold=100 * i)
    with django_assert_max_num_queries(12):
        assert staff.get(reverse(name)).status_code == 200


def test_tier_settings_are_changed_on_the_tiers_page(org, staff, client):
    from fidelo.tiers.models import TierSettings

    assert client.post(reverse("backoffice:tier_settings"), {"metric": "spend"}).status_code == 302  # to the login
    response = staff.post(reverse("backoffice:tier_settings"), {"metric": "spend", "window": "rolling", "window_months": "6", "grace_days": "30"})
    assert response.status_code == 302
    saved = TierSettings.objects.get(organization=org)
    assert (saved.metric, saved.window, saved.window_months, saved.grace_days) == ("spend", "rolling", 6, 30)
    bad = staff.post(reverse("backoffice:tier_settings"), {"metric": "moon", "window": "rolling", "window_months": "99", "grace_days": "-1"})
    assert bad.status_code == 422
    saved.refresh_from_db()
    assert (saved.metric, saved.window_months, saved.grace_days) == ("spend", 6, 30)


def test_a_rule_is_put_in_a_campaign_from_the_editor(org, staff):
    from fidelo.conftest import at
    from fidelo.rewards.campaigns import campaign_create

    campaign_create(organization=org, actor=STAFF, code="ete", name_fr="Offres d'été", starts_at=at(2026, 6, 1), budget=5000)
    page = staff.get(reverse("backoffice:rule_create")).content.decode()
    assert 'id="re-campaign"' in page and '<option value="ete">' in page
    in_campaign = {**DOUBLE_WEEKEND, "campaign": "ete"}
    assert staff.post(reverse("backoffice:rule_create"), {"definition": json.dumps(in_campaign)}).status_code == 302
    rule = Rule.objects.get(organization=org)
    assert json.loads(staff.get(reverse("backoffice:rule_edit", args=[rule.id])).context["form"].initial["definition"])["campaign"] == "ete"
    unknown = {**DOUBLE_WEEKEND, "name": "Autre", "campaign": "hiver"}
    response = staff.post(reverse("backoffice:rule_create"), {"definition": json.dumps(unknown)})
    assert response.status_code == 422 and "rule_unknown_reference" in response.content.decode()
    assert Rule.objects.filter(organization=org).count() == 1
