"""explain(): every Why the engine emits reads as a sentence, in English and (once compiled) French."""

import json
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.functional import Promise

from fidelo.rules import explain as explain_module
from fidelo.rules.engine.types import Event, Usage, Why
from fidelo.rules.explain import explain
from fidelo.rules.tests.test_engine_helpers import (
    line,
    member,
    paris,
    purchase,
    rule,
    run,
    terms,
)

TRANSLATIONS = Path(__file__).resolve().parents[4] / "scripts" / "translations_fr.d" / "rules_engine.json"


def english(why, **kwargs):
    with translation.override("en"):
        return explain(why, **kwargs)


def every_why():
    """Run the engine so that it emits every code it has (awards and skips)."""
    event = purchase(line("C1", 1250, category="cafe", quantity=2), line("X", 800), at=paris(2026, 3, 14, 11, 0))
    rules = [
        rule(effects=[{"type": "points_per_euro", "points": 2}], id=1, name="Par euro"),
        rule([{"field": "line.category", "op": "eq", "value": "cafe"}],
             [{"type": "points_per_euro", "points": 3, "per_minor": 500, "on": "lines"}], id=2, name="Café"),
        rule(effects=[{"type": "fixed_points", "points": 20}], id=3, name="Fixe"),
        rule(effects=[{"type": "multiplier", "percent": 150}, {"type": "multiplier", "percent": 200, "on": "lines"}], id=4,
             name="Multi"),
        rule(effects=[{"type": "stamps", "card": "cafe"}, {"type": "stamps", "card": "cafe", "per": "quantity"}], id=5,
             name="Tampons"),
        rule(effects=[{"type": "achievement", "badge": "loyal"}, {"type": "reward", "reward": "12"}], id=6, name="Badge"),
        rule(effects=[{"type": "tier_points", "points": 5}, {"type": "tier_points", "points": 1, "per_minor": 100}], id=7,
             name="Statut"),
        rule(effects=[{"type": "fixed_points", "points": 500}], id=8, name="Plafond", limits={"per_member_per_day": 100}),
        rule(effects=[{"type": "fixed_points", "points": 5}], id=9, name="Épuisée", limits={"budget": 100}),
        rule([{"field": "amount", "op": "between", "value": [10_000, 20_000]}], id=10, name="Gros panier"),
        rule(id=11, name="Future", starts_at="2027-01-01T00:00:00+01:00"),
        rule(id=12, name="Passée", ends_at="2026-01-01T00:00:00+01:00"),
        rule(effects=[{"type": "points_per_euro", "points": 1, "per_minor": 100_000}], id=13, name="Rien"),
        rule(id=14, name="Exclusive", exclusive=True, priority=-1),
        rule(id=15, name="Après", priority=-2),
    ]
    usage = {8: Usage(member_day=60), 9: Usage(budget_spent=100)}
    facts = member(tier="gold", tier_multiplier_percent=125)
    result = run(event, rules, facts=facts, program=terms(event), usage=usage)
    cashback_event = purchase(line(amount=2000))
    cashback = run(cashback_event, [
        rule(effects=[{"type": "cashback_percent", "basis_points": 250}, {"type": "cashback_percent", "basis_points": 500, "on": "lines"},
                      {"type": "fixed_cashback", "amount_minor": 150}], mode="cashback", name="Cagnotte"),
    ], program=terms(cashback_event, mode="cashback"))
    visit = run(Event(type="visit", occurred_at=paris(2026, 3, 14)), [
        rule([{"field": "event_count", "op": "eq", "value": 3, "within_days": 30}], event="visit", name="3e visite"),
    ])
    whys = [award.why for award in result.awards + cashback.awards] + [skip.why for skip in result.skipped + visit.skipped]
    return whys


def test_the_engine_emits_every_code_explain_knows():
    codes = {why.code for why in every_why()}
    assert codes == {code.split(":")[0] for code in explain_module.AWARDS} | set(explain_module.SKIPS)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_emitted_why_renders_without_holes(language):
    with translation.override(language):
        texts = [explain(why) for why in every_why()]
    for text in texts:
        assert "?" not in text and "%(" not in text and text


def test_english_sentences():
    assert english(Why("rule_points_per_euro", {"rule": "Double", "points": 2, "per_minor": 100, "on": "basket"})) == (
        "Rule “Double”: 2 points per €1.00 spent")
    assert english(Why("rule_multiplier", {"rule": "Week-end", "percent": 150, "on": "lines"})) == (
        "Rule “Week-end”: points ×1.5 on eligible items")
    assert english(Why("rule_cashback_percent", {"rule": "Cagnotte", "basis_points": 250, "on": "basket"})) == (
        "Rule “Cagnotte”: 2.5% cashback")
    assert english(Why("rule_fixed_cashback", {"rule": "Bonus", "amount_minor": 150})) == "Rule “Bonus”: €1.50 cashback bonus"
    assert english(Why("tier_multiplier", {"tier": "gold", "percent": 200})) == "Tier “gold” benefit: points ×2"
    assert english(Why("rule_fixed_points", {"rule": "Plafond", "points": 40, "capped_by": "per_member_per_day", "cap": 100})) == (
        "Rule “Plafond”: 40 bonus points (reduced by the rule's daily cap per member)")


def test_conditions_render_with_money_days_and_lists():
    failed = Why("condition_failed", {"rule": "r", "field": "amount", "op": "gte", "expected": 5000, "actual": 1250})
    assert english(failed) == "Condition not met: the basket amount is at least €50.00 (here: €12.50)"
    weekday = {"code": "condition_failed", "params": {"field": "weekday", "op": "in", "expected": [6, 7], "actual": 3}}
    assert english(weekday) == "Condition not met: the day of the week is one of Saturday, Sunday (here: Wednesday)"
    between = Why("condition_failed", {"field": "time", "op": "between", "expected": ["22:00", "02:00"], "actual": "11:00"})
    assert english(between) == "Condition not met: the time is between 22:00 and 02:00 (here: 11:00)"
    attribute = Why("condition_failed", {"field": "member.attribute.age", "op": "gte", "expected": 18, "actual": None})
    assert english(attribute) == "Condition not met: the member attribute “age” is at least 18 (here: —)"


def test_french_money_formatting_follows_the_language():
    with translation.override("fr"):
        text = explain(Why("rule_fixed_cashback", {"rule": "Bonus", "amount_minor": 150}))
    assert "1,50\u00a0€" in text


def test_unknown_codes_render_as_the_code():
    assert english(Why("something_new", {})) == "something_new"
    assert english({"code": "rule_fixed_points", "params": {}}) == "Rule “?”: ? bonus points"


def test_every_template_has_a_french_translation():
    translations = json.loads(TRANSLATIONS.read_text(encoding="utf-8"))
    msgids = set()
    with translation.override("en"):  # the English text is the msgid
        for name, value in vars(explain_module).items():
            if name in ("MONTHS", "WEEKDAYS"):
                continue  # Django's own, translated by Django
            items = value.values() if isinstance(value, dict) else [value]
            msgids.update(str(item) for item in items if isinstance(item, Promise))
    assert len(msgids) > 50
    missing = sorted(msgid for msgid in msgids if msgid not in translations)
    assert missing == []
    for msgid, french in translations.items():
        placeholders = sorted(part.split(")")[0] for part in msgid.split("%(")[1:])
        assert placeholders == sorted(part.split(")")[0] for part in french.split("%(")[1:]), msgid
