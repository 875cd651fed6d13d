"""The member facts the rules need, read with the member on the purchase path (one statement),
and read again when the rules changed in between."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fidelo.api.tests.helpers import API
from fidelo.conftest import at
from fidelo.events.earning import (
    LoadedFacts,
    member_with_facts,
    purchase_event,
    rules_evaluate,
)
from fidelo.events.facts import member_facts
from fidelo.members.errors import MemberNotFound
from fidelo.purchases.models import Purchase
from fidelo.rules.selectors import active_rules
from fidelo.tenancy.selectors import program_for

pytestmark = pytest.mark.django_db

FIRST = {"name": "Premier achat", "event": "purchase", "conditions": [{"field": "first_purchase", "op": "is", "value": True}],
         "effects": [{"type": "fixed_points", "points": 50}]}
CAPPED = {"name": "Café plafonné", "event": "purchase", "conditions": [{"field": "line.category", "op": "eq", "value": "cafe"}],
          "effects": [{"type": "points_per_euro", "points": 2, "per_minor": 100, "on": "lines"}],
          "limits": {"per_member_per_day": 30, "per_member_per_month": 50}}
COFFEE = [{"sku": "C", "category": "cafe", "quantity": 1, "unit_price_cents": 1000}]


def add_rule(api, definition):
    response = api.post(f"{API}/rules", {"definition": definition})
    assert response.status_code == 201, response.content
    return response.json()


def buy(api, external_id, ref, when, lines=COFFEE):
    body = {"member": ref, "external_id": external_id, "occurred_at": when.isoformat(), "currency": "EUR",
            "total_cents": sum(l["quantity"] * l["unit_price_cents"] for l in lines), "lines": lines}
    response = api.post(f"{API}/purchases", body)
    assert response.status_code == 201, response.content
    return Purchase.objects.get(external_id=external_id)


def test_the_member_and_the_rules_facts_come_in_one_statement_and_equal_a_separate_read(api, org, member, monkeypatch):
    from fidelo.core import db
    from fidelo.events import facts as facts_module
    from fidelo.members import selectors

    add_rule(api, FIRST)
    add_rule(api, CAPPED)
    buy(api, "p1", {"card": member.card_number}, at(2026, 3, 10))
    program = program_for(org.id)
    active_rules(program)  # cached, like on a warm server
    when = at(2026, 3, 10, 15)
    statements = []
    for module in (selectors, facts_module):  # prepared on PostgreSQL: counted here, not by Django's query log
        monkeypatch.setattr(module, "fetchone_prepared", lambda sql, params: statements.append(sql) or db.fetchone_prepared(sql, params))
    with CaptureQueriesContext(connection) as other:
        found, loaded = member_with_facts(program=program, event_type="purchase", at=when, card=member.card_number)
    assert len(statements) == 1 and "FROM members_member m" in statements[0]
    assert len(other.captured_queries) == 0  # on the driver's cursor, outside Django's query log, on both databases
    assert found.id == member.id and loaded is not None
    listening, wanted = active_rules(program).for_type("purchase")
    separate = member_facts(member=found, at=when, needs=wanted, timezone=org.timezone, capped=loaded.query.capped)
    assert loaded.query.decode(found, loaded.values) == separate
    facts, usage, campaign_room = separate
    assert campaign_room == {}
    assert facts.counts == {"purchase": 1}
    (used,) = usage.values()
    assert (used.member_day, used.member_month) == (20, 20)


def test_through_the_api_by_card_the_first_purchase_and_the_limits_hold(api, member):
    add_rule(api, FIRST)
    add_rule(api, CAPPED)
    card = {"card": member.card_number}
    assert buy(api, "p1", card, at(2026, 3, 10)).points_bonus == 50 + 20
    assert buy(api, "p2", card, at(2026, 3, 10, 14)).points_bonus == 10  # 30 a day: 20 given already
    assert buy(api, "p3", card, at(2026, 3, 11)).points_bonus == 20  # a new day; the month has 20 left of 50
    assert buy(api, "p4", card, at(2026, 3, 12)).points_bonus == 0


def test_facts_read_for_other_rules_are_read_again(api, org, member):
    """The rules changed between the lookup and the evaluation (a 5-second cache): the loaded
    values answer other rules, so they are not used."""
    add_rule(api, FIRST)
    program = program_for(org.id)
    when = at(2026, 3, 10)
    found, stale = member_with_facts(program=program, event_type="purchase", at=when, member_id=member.id)
    add_rule(api, CAPPED)
    event = purchase_event(occurred_at=when, store_code=None, channel="offline", amount_minor=1000,
                           lines=[type("L", (), {"sku": "C", "category": "cafe", "brand": "", "quantity": 1, "amount_minor": 1000})()])
    fresh = rules_evaluate(program=program, member=found, event=event, base_units=10, base_line_units=(10,))
    reused = rules_evaluate(program=program, member=found, event=event, base_units=10, base_line_units=(10,), loaded=stale)
    assert isinstance(stale, LoadedFacts) and reused.evaluation == fresh.evaluation
    assert sorted(award.amount for award in fresh.evaluation.awards) == [20, 50]


def test_an_unknown_member_is_refused_as_by_the_plain_lookup(api, org):
    add_rule(api, FIRST)
    with pytest.raises(MemberNotFound):
        member_with_facts(program=program_for(org.id), event_type="purchase", at=at(2026, 3, 10), card="0000")
    response = api.post(f"{API}/purchases", {"member": {"card": "0000"}, "external_id": "x", "occurred_at": at(2026, 3, 10).isoformat(),
                                             "currency": "EUR", "total_cents": 1000})
    assert response.status_code == 404 and response.json()["code"] == "member_not_found"


TEA = [{"sku": "T", "category": "the", "quantity": 1, "unit_price_cents": 1000}]


def engine_purchase(when, lines):
    from fidelo.purchases.services import LineInput

    inputs = [LineInput(quantity=l["quantity"], unit_price_minor=l["unit_price_cents"], sku=l["sku"], category=l["category"]) for l in lines]
    return purchase_event(occurred_at=when, store_code=None, channel="offline", amount_minor=sum(l.amount_minor for l in inputs), lines=inputs)


def test_a_capped_rule_the_purchase_cannot_satisfy_has_its_usage_left_unread(api, org, member):
    capped = add_rule(api, CAPPED)
    card = {"card": member.card_number}
    assert buy(api, "p1", card, at(2026, 3, 10)).points_bonus == 20  # 20 of the day's 30 given
    program = program_for(org.id)
    when = at(2026, 3, 10, 14)

    _, for_tea = member_with_facts(program=program, event_type="purchase", at=when, member_id=member.id,
                                   event=engine_purchase(when, TEA))
    assert for_tea.query.unread == {capped["id"]}
    assert capped["id"] not in for_tea.query.decode(member, for_tea.values).usage  # not read (the rule cannot fire): nothing given, as Usage reads a missing rule

    _, for_coffee = member_with_facts(program=program, event_type="purchase", at=when, member_id=member.id,
                                      event=engine_purchase(when, COFFEE))
    assert for_coffee.query.unread == frozenset()
    used = for_coffee.query.decode(member, for_coffee.values).usage[capped["id"]]
    assert (used.member_day, used.member_month) == (20, 20)

    # Through the API: tea earns nothing from the rule, and coffee after it still meets the day's cap.
    assert buy(api, "p2", card, at(2026, 3, 10, 13), lines=TEA).points_bonus == 0
    assert buy(api, "p3", card, at(2026, 3, 10, 15)).points_bonus == 10


def test_a_capped_rule_that_fires_on_another_event_than_its_gate_saw_is_read_again(api, org, member):
    """The gates are computed on the event given to the lookup; evaluated on another one, a
    capped rule they left unread fires: its usage is read then, and its limit holds."""
    capped = add_rule(api, CAPPED)
    buy(api, "p1", {"card": member.card_number}, at(2026, 3, 10))
    program = program_for(org.id)
    when = at(2026, 3, 10, 14)
    found, for_tea = member_with_facts(program=program, event_type="purchase", at=when, member_id=member.id, event=engine_purchase(when, TEA))
    outcome = rules_evaluate(program=program, member=found, event=engine_purchase(when, COFFEE), base_units=10, base_line_units=(10,),
                             loaded=for_tea)
    (award,) = outcome.evaluation.awards
    assert award.rule_id == capped["id"] and award.amount == 10  # 30 a day, 20 given: not 20


def test_past_purchases_are_counted_only_as_far_as_the_rules_tell_them_apart(api, org, member):
    third = {"name": "3e achat", "event": "purchase", "conditions": [{"field": "event_count", "op": "eq", "value": 3}],
             "effects": [{"type": "fixed_points", "points": 30}]}
    add_rule(api, third)
    card = {"card": member.card_number}
    bonuses = [buy(api, f"p{n}", card, at(2026, 3, 10, 9 + n)).points_bonus for n in range(1, 7)]
    assert bonuses == [0, 0, 30, 0, 0, 0]
    program = program_for(org.id)
    when = at(2026, 3, 11)
    found, loaded = member_with_facts(program=program, event_type="purchase", at=when, member_id=member.id)
    assert loaded.query.decode(found, loaded.values).member.counts == {"purchase": 3}  # 6 bought: 3 or more decide alike
    listening, wanted = active_rules(program).for_type("purchase")
    assert member_facts(member=found, at=when, needs=wanted, timezone=org.timezone).member.counts == {"purchase": 6}  # in full
    # The simulation explains with the real count: the 7th purchase, not the 4th.
    response = api.post(f"{API}/rules/simulate", {"member": {"id": member.id}, "event": {
        "type": "purchase", "occurred_at": when.isoformat(), "amount_cents": 1000}})
    assert response.status_code == 200, response.content
    (skipped,) = response.json()["skipped"]
    assert skipped["rule"] == "3e achat" and "(ici : 7)" in skipped["explanation"]


def test_a_purchase_with_a_bonus_writes_rows_that_point_at_each_other(api, org, member, monkeypatch):
    """The one-statement path (two credits, a capped rule's award row): the transfers, lots and
    award row it wrote name each other and the purchase, with the ids the database gave them."""
    from fidelo.awards.models import Award
    from fidelo.ledger.models import Lot
    from fidelo.ledger.selectors import ledger_verify

    capped = add_rule(api, CAPPED)
    add_rule(api, FIRST)
    written = _one_statement_writes(monkeypatch)
    purchases = [buy(api, f"p{n}", {"card": member.card_number}, at(2026, 3, 10, 9 + n)) for n in range(3)]
    assert len(written) == 2  # the first purchase opens the member's accounts: the general path
    for purchase in purchases:
        lots = {"bonus" if lot.transfer.reason == "bonus" else "base": lot for lot in Lot.objects.select_related("transfer").filter(
            transfer__source_type="purchase", transfer__source_id=purchase.id)}
        assert lots["base"].amount == lots["base"].transfer.amount == purchase.points_earned
        if not purchase.points_bonus:  # the day's cap reached
            assert set(lots) == {"base"}
            continue
        assert lots["bonus"].amount == lots["bonus"].transfer.amount == purchase.points_bonus
        (award,) = Award.objects.filter(source_type="purchase", source_id=purchase.id)  # the capped rule's: a rule without limits needs none
        assert (award.rule_id, award.transfer_id) == (capped["id"], lots["bonus"].transfer_id)
        _assert_twins(lots["base"], lots["bonus"], purchase)
    assert [p.points_bonus for p in purchases] == [50 + 20, 10, 0] and ledger_verify(organization_id=org.id) == []


def _one_statement_writes(monkeypatch) -> list:
    """Spy on the one-statement write (purchases.sql): the bodies it wrote."""
    from fidelo.purchases import sql as purchase_sql

    written = []
    for name in ("record_sqlite", "record_postgresql"):
        def spy(*args, __record=getattr(purchase_sql, name), **kwargs):
            body = __record(*args, **kwargs)
            if body is not None:
                written.append(body)
            return body
        monkeypatch.setattr(purchase_sql, name, spy)
    return written


def _assert_twins(base, bonus, purchase):
    """The bonus credit is the base credit's twin: its own transfer and lot, the same window,
    expiry and moments."""
    assert (bonus.status, bonus.earned_at, bonus.available_at, bonus.expires_at) == (base.status, base.earned_at, base.available_at, base.expires_at)
    assert (bonus.transfer.debit_id, bonus.transfer.credit_id, bonus.transfer.kind) == (base.transfer.debit_id, base.transfer.credit_id, "earn")
    assert bonus.transfer.occurred_at == base.transfer.occurred_at == purchase.occurred_at


def test_during_the_return_window_the_bonus_waits_beside_the_base_points(api, org, member, monkeypatch):
    from fidelo.conftest import STAFF
    from fidelo.core.clock import travel_to
    from fidelo.ledger.models import Lot
    from fidelo.tenancy.services import program_update

    program_update(organization=org, actor=STAFF, pending_days=14, expiry_policy="months", expiry_months=6)
    add_rule(api, CAPPED)
    written = _one_statement_writes(monkeypatch)
    with travel_to(at(2026, 3, 10, 12)):
        buy(api, "p0", {"card": member.card_number}, at(2026, 3, 10, 8))  # opens the member's accounts (the general path)
        purchase = buy(api, "p1", {"card": member.card_number}, at(2026, 3, 10, 9))
    assert len(written) == 1
    lots = {"bonus" if lot.transfer.reason == "bonus" else "base": lot for lot in Lot.objects.select_related("transfer").filter(
        transfer__source_type="purchase", transfer__source_id=purchase.id)}
    assert lots["bonus"].amount == purchase.points_bonus == 10 and lots["base"].status == "pending"
    assert lots["base"].available_at == at(2026, 3, 24, 9) and lots["base"].expires_at is not None
    _assert_twins(lots["base"], lots["bonus"], purchase)
