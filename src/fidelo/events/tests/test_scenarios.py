"""The issue's scenarios, through the API: rules decide what members earn.

Given a program and its rules, when events and purchases arrive, then the members' balances,
stamp cards, tiers and referrals are what a merchant expects.
"""

import datetime as dt

import pytest

from fidelo.api.tests.helpers import API
from fidelo.conftest import STAFF, at, make_member
from fidelo.core.clock import now, travel_to
from fidelo.engagement.services import stamp_card_create
from fidelo.ledger.models import Account
from fidelo.referrals.services import referral_code_for, referral_settings_update
from fidelo.rewards.models import Voucher
from fidelo.rewards.services import reward_create
from fidelo.tenancy.selectors import program_for
from fidelo.tiers.services import (
    tier_level_create,
    tier_settings_update,
    tiers_review_due,
)

pytestmark = pytest.mark.django_db


def balance(member) -> int:
    account = Account.objects.filter(member=member, kind="available", unit="PTS").first()
    return account.balance if account else 0


def add_rule(api, definition: dict) -> dict:
    response = api.post(f"{API}/rules", {"definition": definition})
    assert response.status_code == 201, response.content
    return response.json()


def buy(api, member, external_id: str, occurred_at: dt.datetime, lines: list[dict] | None = None, total: int | None = None, store=None):
    lines = lines or []
    body = {
        "member": {"id": member.id}, "external_id": external_id, "occurred_at": occurred_at.isoformat(), "currency": "EUR",
        "total_cents": total if total is not None else sum(l["quantity"] * l["unit_price_cents"] for l in lines), "lines": lines,
    }
    if store is not None:
        body["store"] = store.code
    response = api.post(f"{API}/purchases", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_a_gym_member_paying_monthly_earns_the_streak_bonus_in_month_three(api, member):
    add_rule(api, {
        "name": "Fidèle 3 mois", "event": "subscription_payment",
        "conditions": [{"field": "streak_months", "op": "gte", "value": 3}],
        "effects": [{"type": "fixed_points", "points": 100}],
        "limits": {"per_member_per_month": 100},
    })
    earned = []
    for month in (1, 2, 3):
        response = api.post(f"{API}/events", {
            "type": "subscription_payment", "member": {"id": member.id}, "external_id": f"sub-{month}",
            "occurred_at": at(2026, month, 5).isoformat(), "amount_cents": 3000,
        })
        assert response.status_code == 201, response.content
        earned.append(response.json()["bonus_points"])
    assert earned == [0, 0, 100]
    assert balance(member) == 3 * 30 + 100  # 1 point per euro on each payment, and the bonus


def test_a_cafe_customer_completes_a_stamp_card(api, org, member):
    program = program_for(org.id)
    coffee = reward_create(organization=org, program=program, actor=STAFF, kind="free_product", title_fr="Café offert", cost_points=100)
    stamp_card_create(organization=org, actor=STAFF, code="cafe", name_fr="Carte café", stamps_required=10, reward=coffee)
    add_rule(api, {
        "name": "Un tampon par café", "event": "purchase",
        "conditions": [{"field": "line.sku", "op": "eq", "value": "CAFE"}],
        "effects": [{"type": "stamps", "card": "cafe", "count": 1, "per": "quantity"}],
    })
    for day in range(1, 5):  # 3 coffees a day for 4 days: 12 stamps, one card full
        buy(api, member, f"cafe-{day}", at(2026, 3, day), [{"sku": "CAFE", "quantity": 3, "unit_price_cents": 150}])
    vouchers = Voucher.objects.filter(member=member, reward=coffee)
    assert vouchers.count() == 1
    response = api.get(f"{API}/stamp-cards/members/{member.id}")
    assert response.status_code == 200, response.content
    assert "2" in response.content.decode()  # two stamps carried over to the next card


def test_crossing_a_tier_threshold_multiplies_from_the_next_purchase(api, org, member):
    tier_settings_update(organization=org, actor=STAFF, metric="points", window="calendar_year")
    tier_level_create(organization=org, actor=STAFF, code="gold", name_fr="Or", rank=1, threshold=100, multiplier_percent=150)
    first = buy(api, member, "p1", at(2026, 3, 1), total=12000)
    assert first["points"]["earned"] == 120
    member.refresh_from_db()
    assert member.tier == "gold"
    buy(api, member, "p2", at(2026, 3, 2), total=1000)
    assert balance(member) == 120 + 10 + 5  # the second purchase earns ×1.5


def test_a_tier_is_lost_only_after_the_window_and_the_grace(api, org, member):
    tier_settings_update(organization=org, actor=STAFF, metric="points", window="calendar_year", grace_days=30)
    tier_level_create(organization=org, actor=STAFF, code="gold", name_fr="Or", rank=1, threshold=100, multiplier_percent=100)
    with travel_to(at(2026, 3, 2)):
        buy(api, member, "p1", at(2026, 3, 1), total=12000)
    member.refresh_from_db()
    assert member.tier == "gold"
    # Earned in 2026, the level holds through 2027 (the next window), then 30 days of grace.
    for moment, expected in ((at(2027, 6, 1), "gold"), (at(2028, 1, 15), "gold"), (at(2028, 2, 1), "")):
        with travel_to(moment):
            tiers_review_due(at=moment)
        member.refresh_from_db()
        assert member.tier == expected, moment


def test_a_referral_completes_and_both_sides_are_rewarded(api, org):
    referral_settings_update(organization=org, actor=STAFF, enabled=True, referrer_points=50, referee_points=20, min_purchase_minor=2000)
    referrer = make_member(org, email="marie@exemple.fr", first_name="Marie")
    code = referral_code_for(member=referrer)
    response = api.post(f"{API}/members", {"first_name": "Paul", "email": "paul@exemple.fr", "referral_code": code}, key="join-paul")
    assert response.status_code == 201, response.content
    referee = type(referrer).objects.get(pk=response.json()["id"])
    assert balance(referrer) == 0
    buy(api, referee, "first", now(), total=2500)  # a first purchase of at least 20 €, after joining
    assert balance(referrer) == 50
    assert balance(referee) == 25 + 20


def test_a_self_referral_is_refused_and_nothing_is_written(api, org):
    referral_settings_update(organization=org, actor=STAFF, enabled=True, referrer_points=50, referee_points=20)
    referrer = make_member(org, email="marie.dupont@gmail.com", first_name="Marie")
    code = referral_code_for(member=referrer)
    members_before = type(referrer).objects.count()
    response = api.post(f"{API}/members", {"first_name": "Marie", "email": "marie.dupont+bis@gmail.com", "referral_code": code}, key="join-marie")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "referral_self"
    assert type(referrer).objects.count() == members_before


def test_a_refunded_purchase_takes_back_its_bonus_and_stamps(api, org, member):
    program = program_for(org.id)
    coffee = reward_create(organization=org, program=program, actor=STAFF, kind="free_product", title_fr="Café offert", cost_points=100)
    stamp_card_create(organization=org, actor=STAFF, code="cafe", name_fr="Carte café", stamps_required=10, reward=coffee)
    add_rule(api, {
        "name": "Week-end double", "event": "purchase", "conditions": [{"field": "weekday", "op": "in", "value": [6, 7]}],
        "effects": [{"type": "multiplier", "percent": 200, "on": "basket"}, {"type": "stamps", "card": "cafe", "count": 2}],
    })
    saturday = at(2026, 3, 7)
    purchase = buy(api, member, "sat", saturday, total=4000)
    assert purchase["points"]["earned"] == 40
    assert balance(member) == 80
    response = api.post(f"{API}/purchases/sat/refunds", {"external_id": "r1"})
    assert response.status_code == 201, response.content
    assert balance(member) == 0
    cards = api.get(f"{API}/stamp-cards/members/{member.id}").json()
    assert '"stamps": 0' in str(cards).replace("'", '"') or all(card.get("stamps", 0) == 0 for card in cards.get("items", cards if isinstance(cards, list) else []))


def test_partial_refunds_take_back_the_bonus_of_capped_and_uncapped_rules_exactly_once(api, org, member):
    """Uncapped rules' bonus is kept by the purchase (no Award row), a capped rule's in its own
    row: refunds in three parts take both back in proportion, and all of it in the end."""
    from fidelo.awards.models import Award
    from fidelo.purchases.models import Purchase

    add_rule(api, {"name": "Samedi x2", "event": "purchase", "conditions": [{"field": "weekday", "op": "in", "value": [6]}],
                   "effects": [{"type": "multiplier", "percent": 200, "on": "basket"}]})
    add_rule(api, {"name": "Café", "event": "purchase", "conditions": [{"field": "line.category", "op": "eq", "value": "cafe"}],
                   "effects": [{"type": "fixed_points", "points": 7}]})
    capped = add_rule(api, {"name": "Thé plafonné", "event": "purchase",
                            "conditions": [{"field": "line.category", "op": "eq", "value": "the"}],
                            "effects": [{"type": "points_per_euro", "points": 3, "per_minor": 100, "on": "lines"}],
                            "limits": {"per_member_per_day": 25}})
    lines = [{"sku": "C1", "category": "cafe", "quantity": 1, "unit_price_cents": 1000},
             {"sku": "T1", "category": "the", "quantity": 2, "unit_price_cents": 500}]
    buy(api, member, "mix", at(2026, 3, 7), lines=lines)  # 20 base; bonus 20 (x2) + 7 (café) + 25 (thé, 30 capped to 25)
    purchase = Purchase.objects.get(external_id="mix")
    assert (purchase.points_earned, purchase.points_bonus) == (20, 52)
    rows = list(Award.objects.filter(source_type="purchase", source_id=purchase.pk).values_list("rule_id", "amount"))
    assert rows == [(capped["id"], 25)]  # only the capped rule's: its limit counts it
    assert balance(member) == 72
    for part, amount in (("r1", 700), ("r2", 600), ("r3", 700)):
        assert api.post(f"{API}/purchases/mix/refunds", {"external_id": part, "amount_cents": amount}).status_code == 201
        purchase.refresh_from_db()
        if part == "r1":  # 7/20 of the purchase: floor(20·7/20)=7 base, floor(27·7/20)=9 + floor(25·7/20)=8 bonus
            assert (purchase.points_reversed, purchase.bonus_reversed) == (7, 17)
            assert Award.objects.get(source_id=purchase.pk).reversed == 8
            assert balance(member) == 72 - 7 - 17
    assert (purchase.points_reversed, purchase.bonus_reversed) == (20, 52)
    assert Award.objects.get(source_id=purchase.pk).reversed == 25
    assert balance(member) == 0
    # Refunded, the capped rule's day is free again: the same basket earns its 25 again.
    buy(api, member, "mix-again", at(2026, 3, 7, 12), lines=lines)
    assert Purchase.objects.get(external_id="mix-again").points_bonus == 52


def test_the_history_says_which_rule_gave_the_bonus(api, member):
    rule = add_rule(api, {
        "name": "Double points le samedi", "event": "purchase", "conditions": [{"field": "weekday", "op": "in", "value": [6]}],
        "effects": [{"type": "multiplier", "percent": 200, "on": "basket"}],
    })
    buy(api, member, "sat", at(2026, 3, 7), total=2000)
    items = api.get(f"{API}/members/{member.id}/history").json()["items"]
    bonus = [item for item in items if item["reason_code"] == "bonus"]
    assert len(bonus) == 1 and bonus[0]["points"] == 20
    assert [(r["rule_id"], r["rule_version"], r["points"]) for r in bonus[0]["rules"]] == [(rule["id"], 1, 20)]
    assert "Double points le samedi" in bonus[0]["reason"]
    assert bonus[0]["rules"][0]["explanation"]


def test_a_bonus_on_a_member_in_debt_is_shared_as_the_ledger_says(api, org, member):
    """The one-statement path does not take a member in debt: the general path pays the debt first."""
    from fidelo.ledger.services import points_adjust

    add_rule(api, SATURDAY_RULE)
    buy(api, member, "monday", at(2026, 3, 2), total=5000)
    points_adjust(program=program_for(org.id), member=member, delta=-50, note="échange en caisse", actor=STAFF)
    assert api.post(f"{API}/purchases/monday/refunds", {"external_id": "r-monday"}).status_code == 201
    assert balance(member) == -50  # the program takes refunded points back, even into a debt
    buy(api, member, "debt", at(2026, 3, 7), total=2000)  # 20 base + 20 bonus
    assert balance(member) == -50 + 40
    from fidelo.ledger.selectors import ledger_verify

    assert ledger_verify(organization_id=org.id) == []


SATURDAY_RULE = {
    "name": "Double points le samedi", "event": "purchase", "conditions": [{"field": "weekday", "op": "in", "value": [6]}],
    "effects": [{"type": "multiplier", "percent": 200, "on": "basket"}],
}


def test_the_referrer_earns_a_badge_for_a_first_referral(api, org):
    from fidelo.engagement.models import MemberAchievement
    from fidelo.engagement.services import achievement_create

    achievement_create(organization=org, actor=STAFF, code="premier-parrainage", name_fr="Premier parrainage")
    add_rule(api, {"name": "Premier parrainage", "event": "referral_completed",
                   "effects": [{"type": "achievement", "badge": "premier-parrainage"}]})
    referral_settings_update(organization=org, actor=STAFF, enabled=True, referrer_points=50, referee_points=20)
    referrer = make_member(org, email="marie@exemple.fr", first_name="Marie")
    response = api.post(f"{API}/members", {"first_name": "Paul", "email": "paul@exemple.fr", "referral_code": referral_code_for(member=referrer)},
                        key="join-paul")
    referee = type(referrer).objects.get(pk=response.json()["id"])
    buy(api, referee, "first", now(), total=2500)
    assert list(MemberAchievement.objects.filter(member=referrer).values_list("badge__code", flat=True)) == ["premier-parrainage"]


def test_a_birthday_earns_once_a_year(api, org):
    from fidelo.events.jobs import birthdays_due

    add_rule(api, {"name": "Joyeux anniversaire", "event": "birthday", "effects": [{"type": "fixed_points", "points": 100}]})
    birthday_member = make_member(org, email="anne@exemple.fr", birthday=dt.date(1990, 3, 14))
    other = make_member(org, email="luc@exemple.fr", birthday=dt.date(1990, 3, 15))
    assert birthdays_due(at=at(2026, 3, 14, 8)) == 1
    assert birthdays_due(at=at(2026, 3, 14, 20)) == 0  # already recorded this year
    assert balance(birthday_member) == 100 and balance(other) == 0


def test_a_reward_for_gold_members_opens_once_the_member_is_gold(api, org, member):
    tier_settings_update(organization=org, actor=STAFF, metric="points", window="calendar_year")
    tier_level_create(organization=org, actor=STAFF, code="gold", name_fr="Or", rank=1, threshold=100, multiplier_percent=100)
    reward = reward_create(organization=org, program=program_for(org.id), actor=STAFF, kind="experience", title_fr="Soirée VIP",
                           cost_points=50, allowed_tiers=["gold"])
    buy(api, member, "p1", at(2026, 3, 1), total=6000)
    refused = api.post(f"{API}/members/{member.id}/redemptions", {"reward_id": reward.id, "channel": "api"}, key="r1")
    assert refused.status_code == 403 or refused.status_code == 422, refused.content
    assert refused.json()["code"] == "tier_not_allowed"
    buy(api, member, "p2", at(2026, 3, 2), total=6000)  # 120 points this year: gold
    member.refresh_from_db()
    assert member.tier == "gold"
    redeemed = api.post(f"{API}/members/{member.id}/redemptions", {"reward_id": reward.id, "channel": "api"}, key="r2")
    assert redeemed.status_code == 201, redeemed.content
