"""Loyalty events other than purchases and visits: subscription payments, sign-up, birthday,
referral completed, review, social share, survey answered, profile completed, interests
shared, and custom events named by the merchant. Earning rules decide what they earn.
"""

from django.db import models
from django.db.models import Q

from fidelo.members.models import Member
from fidelo.tenancy.models import Organization, Store


class Event(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=32)
    name = models.CharField(max_length=64, blank=True, default="")  # custom events
    external_id = models.CharField(max_length=120)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    amount_minor = models.BigIntegerField(default=0)  # subscription payments
    attributes = models.JSONField(default=dict, blank=True)
    points_earned = models.BigIntegerField(default=0)  # base + bonus, program unit
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)  # what it earned was taken back

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "external_id"], name="event_external_id_unique_per_org"),
            models.CheckConstraint(condition=Q(amount_minor__gte=0), name="event_amount_not_negative"),
        ]
        indexes = [models.Index(fields=["member", "type", "name", "occurred_at"], name="event_member_type_idx")]
