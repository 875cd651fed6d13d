"""Errors of rule management (the definition's own refusals are in engine.errors)."""

from django.utils.translation import gettext_lazy as _

from fidelo.core.errors import Conflict, NotFound


class RuleNotFound(NotFound):
    code = "rule_not_found"
    title = _("No such rule")


class RuleBudgetSpent(Conflict):
    code = "rule_budget_spent"
    title = _("The rule's budget is spent")
