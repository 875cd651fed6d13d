"""Reads of rules: the active rules of an organization (cached), lists, versions."""

import logging
import time
from dataclasses import dataclass, field

from django.db.models import F, QuerySet

from fidelo.rules.engine.definition import Catalog, parse_rule
from fidelo.rules.engine.errors import RuleInvalid
from fidelo.rules.engine.evaluate import Needs, RuleSet, needs
from fidelo.rules.engine.types import Rule as EngineRule
from fidelo.rules.errors import RuleNotFound
from fidelo.rules.models import Rule, RuleVersion
from fidelo.tenancy.models import Program

logger = logging.getLogger(__name__)

CACHE_SECONDS = 5.0  # like the program settings: other processes see a change within this

@dataclass(frozen=True)
class ActiveRules:
    rules: tuple[EngineRule, ...]
    needs: Needs
    event_types: frozenset[str]  # quick exit: an event no rule listens to costs nothing
    by_type: dict = field(default_factory=dict)  # event type -> (rules, needs), filled on first use
    derived: dict = field(default_factory=dict)  # what callers derive from this rule set (see remember), kept as long as it

    def remember(self, key, build):
        """`build()`, computed once for this rule set (it is cached a few seconds and never changes)."""
        found = self.derived.get(key)
        if found is None:
            found = self.derived[key] = build()
        return found

    def for_event(self, event_type: str) -> bool:
        return event_type in self.event_types

    def for_type(self, event_type: str) -> tuple[tuple[EngineRule, ...], Needs]:
        """The rules listening to an event type, and what they need to know of the member."""
        found = self.by_type.get(event_type)
        if found is None:
            listening = RuleSet(rule for rule in self.rules if rule.event_type == event_type)
            found = self.by_type[event_type] = (listening, needs(listening))
        return found


_active: dict[int, tuple[float, ActiveRules]] = {}


def read_back_catalog(program: Program) -> Catalog:
    """Stored definitions were checked against the full catalog when written; reading them
    back checks only their shape (a store closed since must not break the rule)."""
    attributes = {item["key"]: item.get("type", "string") for item in program.member_attributes or []}
    return Catalog(currency_mode=program.currency_mode, attributes=attributes)


def active_rules(program: Program) -> ActiveRules:
    organization_id = program.organization_id
    cached = _active.get(organization_id)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    rows = (
        RuleVersion.objects.filter(rule__organization_id=organization_id, rule__active=True, version=F("rule__current_version"))
        .values_list("rule_id", "version", "definition")
        .order_by("rule_id")
    )
    catalog = read_back_catalog(program)
    rules = []
    for rule_id, version, definition in rows:
        try:
            rules.append(parse_rule(definition, catalog=catalog, id=rule_id, version=version))
        except RuleInvalid:
            # The program changed under it (a currency mode, an attribute no longer
            # declared): the rule no longer applies rather than breaking every purchase.
            logger.warning("rule %s version %s no longer valid for organization %s; skipped", rule_id, version, organization_id)
    rules = RuleSet(rules)
    found = ActiveRules(rules=rules, needs=needs(rules), event_types=frozenset(rule.event_type for rule in rules))
    _active[organization_id] = (time.monotonic() + CACHE_SECONDS, found)
    return found


def forget_rules(organization_id: int) -> None:
    _active.pop(organization_id, None)


def clear_caches() -> None:
    _active.clear()


def rules_of(organization_id: int, *, include_inactive: bool = True) -> QuerySet[Rule]:
    rules = Rule.objects.filter(organization_id=organization_id)
    if not include_inactive:
        rules = rules.filter(active=True)
    return rules.order_by("-active", "name", "id")


def access_rule(organization_id: int, rule_id: int) -> Rule:
    rule = Rule.objects.filter(organization_id=organization_id, pk=rule_id).first()
    if rule is None:
        raise RuleNotFound(f"No rule {rule_id}", rule_id=rule_id)
    return rule


def rule_definition(rule: Rule, version: int | None = None) -> dict:
    return RuleVersion.objects.values_list("definition", flat=True).get(rule=rule, version=version or rule.current_version)


def rule_versions(rule: Rule) -> QuerySet[RuleVersion]:
    return rule.versions.order_by("-version")


def current_definitions(rules: list[Rule]) -> dict[int, dict]:
    """The current version's definition of each rule, in one query."""
    rows = RuleVersion.objects.filter(rule__in=rules, version=F("rule__current_version")).values_list("rule_id", "definition")
    return dict(rows)
