"""Earning rules, stored per organization and versioned.

A rule's definition is JSON a form can build (see docs/rules.md): structured conditions and
effects, never code. Changing a rule writes a new immutable version; awards record the
version that fired, so the ledger keeps saying why, even after the rule changed.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from fidelo.tenancy.models import Organization


class Rule(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=200)  # the current version's, for lists
    event_type = models.CharField(_("event"), max_length=32)
    current_version = models.PositiveIntegerField(default=1)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["organization", "active"], name="rule_org_active_idx")]

    def __str__(self) -> str:
        return self.name


class RuleVersion(models.Model):
    """One version of a rule's definition. Never updated."""

    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "version"], name="rule_version_unique")]


class RuleBudget(models.Model):
    """What a rule with a budget has given so far (program unit), raised under a check."""

    rule = models.OneToOneField(Rule, on_delete=models.CASCADE, related_name="budget")
    spent = models.BigIntegerField(default=0)
