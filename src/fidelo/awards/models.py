"""What the earning rules gave that must be counted or taken back, with the rule version and why.

The ledger holds the points themselves: one "bonus" credit per event for all its points
awards, kept apart from the base points, whose params name each rule, version, amount and
explanation (the member history shows them). This table holds a row for every stamp,
badge, reward and tier-points award, and for every points award of a rule with limits or
a budget: it serves the limits (per member per day, month, ever), the budgets given back,
and refunds and cancellations. The points of rules without limits need no row of their
own: a purchase keeps its bonus total (Purchase.points_bonus, bonus_reversed); another
event's share one row without a rule (see awards.services.bonus_rows).
"""

from django.db import models
from django.db.models import Q

from fidelo.members.models import Member
from fidelo.rules.models import Rule
from fidelo.tenancy.models import Organization


class Award(models.Model):
    # No query reads awards by organization or by rule alone (organizations and rules are never
    # deleted): their keys have no index of their own, two index entries less per award row.
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+", db_index=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="awards", db_index=False)  # first column of award_member_rule_day_idx
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, null=True, blank=True, related_name="awards", db_index=False)  # None: the tier's multiplier
    rule_version = models.PositiveIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=16)  # points, stamps, achievement, reward, tier_points
    amount = models.BigIntegerField()
    target = models.CharField(max_length=64, blank=True, default="")  # stamp card, badge, reward id
    source_type = models.CharField(max_length=32)  # purchase, visit, event
    source_id = models.BigIntegerField()
    transfer_id = models.BigIntegerField(null=True, blank=True)  # the ledger credit of a points award
    why = models.JSONField(default=dict)  # {"code": ..., "params": {...}}
    line_amounts = models.JSONField(default=list, blank=True)
    reversed = models.BigIntegerField(default=0)
    local_day = models.DateField()  # the event's day in the organization's time zone (daily limits)
    campaign = models.CharField(max_length=64, blank=True, default="", db_default="")  # points taken from this campaign's budget
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="award_amount_positive"),
            models.CheckConstraint(condition=Q(reversed__gte=0) & Q(reversed__lte=models.F("amount")), name="award_reversal_in_range"),
        ]
        indexes = [
            models.Index(fields=["member", "rule", "local_day"], name="award_member_rule_day_idx"),
            models.Index(fields=["source_type", "source_id"], name="award_source_idx"),
        ]
