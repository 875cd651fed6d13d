"""The rules API: create, change (versions), activate; bad rules refused; the simulation; events."""

import pytest

from fidelo.api.tests.helpers import API, assert_problem, nothing_written
from fidelo.conftest import STAFF, at, make_member, make_org
from fidelo.ledger.models import Account, Transfer
from fidelo.tenancy.services import store_create
from fidelo.tiers.services import tier_level_create

pytestmark = pytest.mark.django_db

SATURDAY_DOUBLE = {
    "name": "Double points le samedi", "event": "purchase", "conditions": [{"field": "weekday", "op": "in", "value": [6]}],
    "effects": [{"type": "multiplier", "percent": 200, "on": "basket"}],
}


def balance(member) -> int:
    account = Account.objects.filter(member=member, kind="available", unit="PTS").first()
    return account.balance if account else 0


def create(api, definition) -> dict:
    response = api.post(f"{API}/rules", {"definition": definition})
    assert response.status_code == 201, response.content
    return response.json()


def put(api, path: str, body: dict):
    import json

    return api.client.put(path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.token}")


def buy(api, member, external_id, occurred_at, total=2000, **extra):
    body = {"member": {"id": member.id}, "external_id": external_id, "occurred_at": occurred_at.isoformat(), "currency": "EUR",
            "total_cents": total, **extra}
    response = api.post(f"{API}/purchases", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_a_rule_is_created_listed_and_read_back(api):
    rule = create(api, SATURDAY_DOUBLE)
    assert rule["version"] == 1 and rule["active"] and rule["event"] == "purchase"
    assert rule["definition"]["name"] == SATURDAY_DOUBLE["name"]
    assert api.get(f"{API}/rules/{rule['id']}").json() == rule
    assert [item["id"] for item in api.get(f"{API}/rules").json()["items"]] == [rule["id"]]


def test_a_change_makes_a_new_version_and_the_ledger_records_the_one_that_fired(api, member):
    rule = create(api, SATURDAY_DOUBLE)
    buy(api, member, "v1", at(2026, 3, 7))
    changed = put(api, f"{API}/rules/{rule['id']}", {"definition": {**SATURDAY_DOUBLE, "effects": [
        {"type": "multiplier", "percent": 300, "on": "basket"}]}})
    assert changed.status_code == 200, changed.content
    assert changed.json()["version"] == 2
    buy(api, member, "v2", at(2026, 3, 14))
    # The bonus credit of each purchase names the rule and the version that fired.
    bonuses = Transfer.objects.filter(organization_id=member.organization_id, reason="bonus").order_by("id")
    versions = [(a["rule_id"], a["rule_version"]) for t in bonuses for a in t.reason_params["awards"]]
    assert versions == [(rule["id"], 1), (rule["id"], 2)]
    assert balance(member) == (20 + 20) + (20 + 40)
    listed = api.get(f"{API}/rules/{rule['id']}/versions").json()["items"]
    assert [v["version"] for v in listed] == [2, 1]


def test_a_deactivated_rule_no_longer_fires(api, member):
    rule = create(api, SATURDAY_DOUBLE)
    assert api.post(f"{API}/rules/{rule['id']}/deactivate").json()["active"] is False
    buy(api, member, "off", at(2026, 3, 7))
    assert balance(member) == 20
    assert api.post(f"{API}/rules/{rule['id']}/activate").json()["active"] is True
    buy(api, member, "on", at(2026, 3, 14))
    assert balance(member) == 20 + 40


@pytest.mark.parametrize(
    "definition, code",
    [
        ({**SATURDAY_DOUBLE, "colour": "red"}, "rule_unknown_field"),
        ({**SATURDAY_DOUBLE, "conditions": [{"field": "member.attribute.shoe_size", "op": "gte", "value": 40}]}, "rule_unknown_attribute"),
        ({**SATURDAY_DOUBLE, "effects": [{"type": "cashback_percent", "basis_points": 500, "on": "basket"}]}, "rule_effect_currency_mode"),
        ({**SATURDAY_DOUBLE, "conditions": [{"field": "store", "op": "in", "value": ["nowhere"]}]}, "rule_unknown_reference"),
        ({**SATURDAY_DOUBLE, "event": "dance"}, "rule_unknown_event"),
        ({**SATURDAY_DOUBLE, "effects": []}, "rule_no_effect"),
        ({**SATURDAY_DOUBLE, "conditions": [{"field": "weekday", "op": "gte", "value": 6}]}, "rule_invalid_operator"),
    ],
    ids=["unknown field", "missing attribute", "currency mode", "unknown store", "unknown event", "no effect", "bad operator"],
)
def test_bad_rules_are_refused_with_their_code_and_nothing_is_written(api, definition, code):
    with nothing_written():
        body = assert_problem(api.post(f"{API}/rules", {"definition": definition}), 422, code)
    assert body.get("field") is not None


def test_a_bad_change_keeps_the_rule_as_it_was(api):
    rule = create(api, SATURDAY_DOUBLE)
    with nothing_written():
        response = put(api, f"{API}/rules/{rule['id']}", {"definition": {**SATURDAY_DOUBLE, "effects": [{"type": "fixed_points"}]}})
        assert_problem(response, 422, "rule_invalid_value")
    assert api.get(f"{API}/rules/{rule['id']}").json()["version"] == 1


def test_another_organizations_rule_is_not_found(api):
    other = make_org("autre-boutique")
    from fidelo.conftest import ApiClient
    from fidelo.tenancy.services import api_key_create

    theirs = create(ApiClient(api_key_create(organization=other, name="k", actor=STAFF).token), SATURDAY_DOUBLE)
    assert_problem(api.get(f"{API}/rules/{theirs['id']}"), 404, "rule_not_found")
    with nothing_written():
        assert_problem(put(api, f"{API}/rules/{theirs['id']}", {"definition": SATURDAY_DOUBLE}), 404, "rule_not_found")
        assert_problem(api.post(f"{API}/rules/{theirs['id']}/deactivate"), 404, "rule_not_found")


def test_member_attributes_are_declared_set_and_tested_by_rules(api, org, member):
    response = put(api, f"{API}/program/member-attributes", {"attributes": [{"key": "favorite_drink", "type": "string"}]})
    assert response.status_code == 200, response.content
    create(api, {"name": "Amateurs de thé", "event": "purchase",
                 "conditions": [{"field": "member.attribute.favorite_drink", "op": "eq", "value": "thé"}],
                 "effects": [{"type": "fixed_points", "points": 7}]})
    buy(api, member, "before", at(2026, 3, 2))
    assert balance(member) == 20
    patched = api.client.patch(f"{API}/members/{member.id}", data={"attributes": {"favorite_drink": "thé"}},
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert patched.status_code == 200, patched.content
    assert patched.json()["attributes"] == {"favorite_drink": "thé"}
    buy(api, member, "after", at(2026, 3, 3))
    assert balance(member) == 20 + 20 + 7
    with nothing_written():
        undeclared = api.client.patch(f"{API}/members/{member.id}", data={"attributes": {"shoe_size": 42}},
                                      content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.token}")
        assert_problem(undeclared, 422, "unknown_attribute")


def test_caps_per_member_per_day_and_budgets_stop_the_bonus(api, member):
    create(api, {"name": "Bonus du jour", "event": "purchase", "effects": [{"type": "fixed_points", "points": 30}],
                 "limits": {"per_member_per_day": 50}})
    create(api, {"name": "Budget limité", "event": "purchase", "effects": [{"type": "fixed_points", "points": 20}], "limits": {"budget": 30}})
    for index in range(3):
        buy(api, member, f"cap-{index}", at(2026, 3, 2, 10 + index), total=100)
    # 1 point each; daily bonus 30 + 20 + 0; budget 20 + 10 + 0
    assert balance(member) == 3 + 50 + 30


def test_the_simulation_says_what_fires_and_which_condition_failed(api, member):
    double = create(api, SATURDAY_DOUBLE)
    big = create(api, {"name": "Gros panier", "event": "purchase", "conditions": [{"field": "amount", "op": "gte", "value": 10000}],
                       "effects": [{"type": "fixed_points", "points": 50}]})
    with nothing_written():
        response = api.post(f"{API}/rules/simulate", {
            "member": {"id": member.id},
            "event": {"type": "purchase", "occurred_at": at(2026, 3, 7).isoformat(), "amount_cents": 2000},
        })
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["base_points"] == 20 and body["bonus_points"] == 20
    assert [(a["rule_id"], a["amount"]) for a in body["awards"]] == [(double["id"], 20)]
    assert body["awards"][0]["explanation"]
    assert [s["rule_id"] for s in body["skipped"]] == [big["id"]]
    assert "amount" in body["skipped"][0]["explanation"] or "montant" in body["skipped"][0]["explanation"]


def test_the_simulation_of_a_member_profile_uses_the_tier_multiplier(api, org):
    tier_level_create(organization=org, actor=STAFF, code="gold", name_fr="Or", rank=1, threshold=1000, multiplier_percent=150)
    body = api.post(f"{API}/rules/simulate", {
        "profile": {"tier": "gold"}, "event": {"type": "purchase", "amount_cents": 4000, "occurred_at": at(2026, 3, 2).isoformat()},
    }).json()
    assert body["base_points"] == 40 and body["bonus_points"] == 20
    assert body["awards"][0]["rule_id"] is None


def test_the_simulation_needs_a_member_or_a_profile(api, member):
    event = {"type": "purchase", "amount_cents": 100}
    assert_problem(api.post(f"{API}/rules/simulate", {"event": event}), 422, "simulate_member_or_profile")
    assert_problem(api.post(f"{API}/rules/simulate", {"member": {"id": member.id}, "profile": {}, "event": event}), 422,
                   "simulate_member_or_profile")
    assert_problem(api.post(f"{API}/rules/simulate", {"profile": {}, "event": {"type": "dance"}}), 422, "unknown_event_type")


def test_a_review_with_a_good_rating_earns_what_the_rule_says(api, member):
    create(api, {"name": "Avis 4 étoiles", "event": "review", "conditions": [{"field": "event.attribute.rating", "op": "gte", "value": 4}],
                 "effects": [{"type": "fixed_points", "points": 15}], "limits": {"per_member_total": 15}})
    body = {"type": "review", "member": {"id": member.id}, "occurred_at": at(2026, 3, 2).isoformat()}
    first = api.post(f"{API}/events", {**body, "external_id": "review-1", "attributes": {"rating": 5}})
    assert first.status_code == 201, first.content
    assert first.json()["bonus_points"] == 15 and first.json()["awards"][0]["explanation"]
    second = api.post(f"{API}/events", {**body, "external_id": "review-2", "attributes": {"rating": 5}})
    assert second.json()["bonus_points"] == 0  # once per member
    low = api.post(f"{API}/events", {**body, "external_id": "review-3", "attributes": {"rating": 2}})
    assert low.json()["bonus_points"] == 0
    assert balance(member) == 15


def test_custom_events_are_named_by_the_merchant(api, member):
    create(api, {"name": "Atelier", "event": "custom", "event_name": "atelier_yoga", "effects": [{"type": "fixed_points", "points": 25}]})
    response = api.post(f"{API}/events", {"type": "custom", "name": "atelier_yoga", "member": {"id": member.id}, "external_id": "y1",
                                          "occurred_at": at(2026, 3, 2).isoformat()})
    assert response.status_code == 201 and response.json()["bonus_points"] == 25
    other = api.post(f"{API}/events", {"type": "custom", "name": "atelier_pilates", "member": {"id": member.id}, "external_id": "y2",
                                       "occurred_at": at(2026, 3, 2).isoformat()})
    assert other.json()["bonus_points"] == 0


def test_visits_earn_by_rules_the_third_within_30_days(api, member, org):
    store_create(organization=org, code="salle", name="Salle")
    create(api, {"name": "3e séance", "event": "visit", "conditions": [{"field": "event_count", "op": "eq", "value": 3, "within_days": 30}],
                 "effects": [{"type": "fixed_points", "points": 40}]})
    got = []
    for day in (1, 8, 15, 22):
        response = api.post(f"{API}/visits", {"member": {"id": member.id}, "external_id": f"v{day}", "occurred_at": at(2026, 3, day).isoformat()})
        assert response.status_code == 201, response.content
        got.append(response.json()["bonus_points"])
    assert got == [0, 0, 40, 0]


@pytest.mark.parametrize(
    "change, code",
    [
        ({"type": "purchase"}, "event_use_purchases"),
        ({"type": "dance"}, "unknown_event_type"),
        ({"type": "custom"}, "invalid_event"),
        ({"type": "review", "amount_cents": 100}, "invalid_event"),
        ({"occurred_at": "2099-01-01T00:00:00+00:00"}, "occurred_in_future"),
    ],
)
def test_bad_events_are_refused_and_nothing_is_written(api, member, change, code):
    body = {"type": "review", "member": {"id": member.id}, "external_id": "bad", "occurred_at": at(2026, 3, 2).isoformat(), **change}
    with nothing_written(idempotency_records=1):
        assert_problem(api.post(f"{API}/events", body), 422, code)


def test_an_event_recorded_twice_is_replayed_not_doubled(api, member):
    create(api, {"name": "Partage", "event": "social_share", "effects": [{"type": "fixed_points", "points": 5}]})
    body = {"type": "social_share", "member": {"id": member.id}, "external_id": "share-1", "occurred_at": at(2026, 3, 2).isoformat()}
    first = api.post(f"{API}/events", body)
    again = api.post(f"{API}/events", body)
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert balance(member) == 5
    other_key = api.post(f"{API}/events", body, key="another-key")
    assert_problem(other_key, 409, "duplicate_event")
    assert balance(member) == 5


def test_a_member_of_another_organization_cannot_be_credited(api):
    stranger = make_member(make_org("ailleurs"), email="x@ailleurs.fr")
    with nothing_written(idempotency_records=1):  # the refusal is kept: a retry is refused the same way
        response = api.post(f"{API}/events", {"type": "review", "member": {"id": stranger.id}, "external_id": "s",
                                              "occurred_at": at(2026, 3, 2).isoformat()})
        assert response.status_code == 404


def test_a_cancelled_event_gives_back_what_it_earned_once(api, member):
    create(api, {"name": "Fidèle 3 mois", "event": "subscription_payment", "effects": [{"type": "fixed_points", "points": 10}]})
    body = {"type": "subscription_payment", "member": {"id": member.id}, "external_id": "sub-1", "occurred_at": at(2026, 3, 2).isoformat(),
            "amount_cents": 3000}
    assert api.post(f"{API}/events", body).json()["bonus_points"] == 10
    assert balance(member) == 30 + 10
    cancelled = api.post(f"{API}/events/sub-1/cancel")
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["cancelled_at"]
    assert balance(member) == 0
    with nothing_written(idempotency_records=1):
        assert_problem(api.post(f"{API}/events/sub-1/cancel", key="again"), 409, "event_already_cancelled")
    with nothing_written(idempotency_records=1):
        assert_problem(api.post(f"{API}/events/nope/cancel", key="unknown"), 404, "event_not_found")
    from fidelo.ledger.selectors import ledger_verify

    assert ledger_verify(organization_id=member.organization_id) == []


def test_a_refund_gives_the_budget_back(api, member):
    rule = create(api, {"name": "Budget", "event": "purchase", "effects": [{"type": "fixed_points", "points": 20}], "limits": {"budget": 20}})
    buy(api, member, "b1", at(2026, 3, 2, 10), total=100)
    buy(api, member, "b2", at(2026, 3, 2, 11), total=100)
    assert balance(member) == 2 + 20  # the budget is spent by the first purchase
    assert api.post(f"{API}/purchases/b1/refunds", {"external_id": "rb1"}).status_code == 201
    buy(api, member, "b3", at(2026, 3, 2, 12), total=100)
    assert balance(member) == 1 + 1 + 20  # b1 taken back (1 + 20); b3 earns the budget again
    from fidelo.rules.models import RuleBudget

    assert RuleBudget.objects.get(rule_id=rule["id"]).spent == 20
