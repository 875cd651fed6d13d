"""Writes of rules: create, change (a new version), activate or deactivate.

The definition is validated by the engine against a catalog of what the organization has
(stores, tiers, stamp cards, badges, rewards, declared attributes). The catalog is built
by the caller (fidelo.awards.catalog), which sees those apps; this layer does not.
"""

from django.db import transaction

from fidelo.core.actors import Actor
from fidelo.core.audit import audit_record
from fidelo.core.clock import now
from fidelo.rules.engine.definition import Catalog, parse_rule, rule_to_json
from fidelo.rules.models import Rule, RuleBudget, RuleVersion
from fidelo.rules.selectors import forget_rules
from fidelo.tenancy.models import Organization


def rule_create(*, organization: Organization, definition: dict, catalog: Catalog, actor: Actor) -> Rule:
    parsed = parse_rule(definition, catalog=catalog)
    canonical = rule_to_json(parsed)
    at = now()
    with transaction.atomic():
        rule = Rule.objects.create(
            organization=organization, name=parsed.name, event_type=parsed.event_type, current_version=1, active=True,
            created_at=at, updated_at=at,
        )
        RuleVersion.objects.create(rule=rule, version=1, definition=canonical, created_at=at, created_by=str(actor))
        if parsed.limits.budget is not None:
            RuleBudget.objects.create(rule=rule)
        audit_record(organization_id=organization.id, actor=actor, action="rule.create", target_type="rule", target_id=rule.id, data=canonical)
        forget_rules(organization.id)
        transaction.on_commit(lambda: forget_rules(organization.id))
    return rule


def rule_update(*, rule: Rule, definition: dict, catalog: Catalog, actor: Actor) -> Rule:
    """A new version; the old ones stay (awards point to the version that fired)."""
    parsed = parse_rule(definition, catalog=catalog)
    canonical = rule_to_json(parsed)
    at = now()
    with transaction.atomic():
        rule = Rule.objects.select_for_update().get(pk=rule.pk)
        version = rule.current_version + 1
        RuleVersion.objects.create(rule=rule, version=version, definition=canonical, created_at=at, created_by=str(actor))
        Rule.objects.filter(pk=rule.pk).update(name=parsed.name, event_type=parsed.event_type, current_version=version, updated_at=at)
        if parsed.limits.budget is not None:
            RuleBudget.objects.get_or_create(rule=rule)
        audit_record(
            organization_id=rule.organization_id, actor=actor, action="rule.update", target_type="rule", target_id=rule.id,
            data={"version": version, **canonical},
        )
        forget_rules(rule.organization_id)
        transaction.on_commit(lambda: forget_rules(rule.organization_id))
    rule.refresh_from_db()
    return rule


def rule_set_active(*, rule: Rule, active: bool, actor: Actor) -> Rule:
    with transaction.atomic():
        Rule.objects.filter(pk=rule.pk).update(active=active, updated_at=now())
        audit_record(
            organization_id=rule.organization_id, actor=actor, action="rule.activate" if active else "rule.deactivate",
            target_type="rule", target_id=rule.id,
        )
        forget_rules(rule.organization_id)
        transaction.on_commit(lambda: forget_rules(rule.organization_id))
    rule.refresh_from_db()
    return rule
