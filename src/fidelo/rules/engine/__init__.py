"""The pure earning-rules engine: rule definitions in, awards out, no Django, no database.

    rule = parse_rule(definition, catalog=Catalog(currency_mode="points", ...), id=7, version=2)
    facts_to_load = needs(rules)
    result = evaluate(event, member_facts, program_terms, rules, usage_by_rule_id)

See docs/rules.md.
"""

from fidelo.rules.engine.compile import counter_key, main_award
from fidelo.rules.engine.definition import Catalog, parse_rule, rule_to_json
from fidelo.rules.engine.errors import RuleInvalid
from fidelo.rules.engine.evaluate import (
    Gates,
    Needs,
    RuleSet,
    count_limits,
    evaluate,
    may_fire,
    needs,
)

__all__ = [
    "Catalog", "Gates", "Needs", "RuleInvalid", "RuleSet", "count_limits", "counter_key", "evaluate", "main_award", "may_fire", "needs", "parse_rule",
    "rule_to_json",
]
