"""A campaign's budget shared by its earning rules, through the API: spent, then stopped; a
refund gives back; never overspent; an unknown campaign is refused."""

import pytest

from fidelo.api.tests.helpers import API
from fidelo.conftest import STAFF, at
from fidelo.purchases.models import Purchase
from fidelo.rewards.campaigns import campaign_create
from fidelo.rewards.models import Campaign

pytestmark = pytest.mark.django_db


def add_rule(api, definition):
    response = api.post(f"{API}/rules", {"definition": definition})
    assert response.status_code == 201, response.content
    return response.json()


def buy(api, member, external_id, when, total=2000):
    body = {"member": {"id": member.id}, "external_id": external_id, "occurred_at": when.isoformat(), "currency": "EUR",
            "total_cents": total}
    response = api.post(f"{API}/purchases", body)
    assert response.status_code == 201, response.content
    return Purchase.objects.get(external_id=external_id)


@pytest.fixture
def summer(org):
    return campaign_create(organization=org, actor=STAFF, code="ete", name_fr="Été", starts_at=at(2026, 6, 1), budget=100)


def spent(campaign) -> int:
    return Campaign.objects.get(pk=campaign.pk).budget_spent


def test_the_rules_of_a_campaign_share_its_budget_until_it_is_spent(api, member, summer):
    add_rule(api, {"name": "Été x2", "event": "purchase", "campaign": "ete", "priority": 2,
                   "effects": [{"type": "multiplier", "percent": 200, "on": "basket"}]})
    add_rule(api, {"name": "Été +15", "event": "purchase", "campaign": "ete", "priority": 1,
                   "effects": [{"type": "fixed_points", "points": 15}]})
    add_rule(api, {"name": "Toujours +1", "event": "purchase", "effects": [{"type": "fixed_points", "points": 1}]})
    assert buy(api, member, "p1", at(2026, 7, 1)).points_bonus == 20 + 15 + 1
    assert buy(api, member, "p2", at(2026, 7, 2)).points_bonus == 20 + 15 + 1
    assert spent(summer) == 70
    assert buy(api, member, "p3", at(2026, 7, 3)).points_bonus == 20 + 10 + 1  # 30 left: the first rule takes 20, the second 10
    assert spent(summer) == 100
    assert buy(api, member, "p4", at(2026, 7, 4)).points_bonus == 1  # spent: only the rule outside the campaign
    # A full refund of p3 gives its 30 back to the campaign; the next purchase may use them.
    assert api.post(f"{API}/purchases/p3/refunds", {"external_id": "r3"}).status_code == 201
    assert spent(summer) == 70
    assert buy(api, member, "p5", at(2026, 7, 5)).points_bonus == 20 + 10 + 1


def test_the_simulation_says_the_campaign_budget_is_spent(api, member, summer):
    add_rule(api, {"name": "Été +150", "event": "purchase", "campaign": "ete", "effects": [{"type": "fixed_points", "points": 150}]})
    assert buy(api, member, "p1", at(2026, 7, 1)).points_bonus == 100
    simulated = api.post(f"{API}/rules/simulate", {"member": {"id": member.id},
                                                   "event": {"type": "purchase", "occurred_at": at(2026, 7, 2).isoformat(), "amount_cents": 1000}})
    assert simulated.status_code == 200, simulated.content
    (skipped,) = [item for item in simulated.json()["skipped"] if item["rule"] == "Été +150"]
    assert skipped["explanation"] == "Règle « Été +150 » : budget de la campagne atteint (ete)"  # the organization speaks French


def test_a_rule_naming_an_unknown_campaign_is_refused(api):
    response = api.post(f"{API}/rules", {"definition": {"name": "x", "event": "purchase", "campaign": "hiver",
                                                        "effects": [{"type": "fixed_points", "points": 1}]}})
    assert response.status_code == 422
    assert response.json()["code"] == "rule_unknown_reference" and response.json()["field"] == "campaign"
