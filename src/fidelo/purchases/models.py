"""Purchases (online or in store, with lines) and their refunds."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fidelo.members.models import Member
from fidelo.tenancy.models import Organization, Store


class SalesChannel(models.TextChoices):
    OFFLINE = "offline", _("In store")
    ONLINE = "online", _("Online")


class Purchase(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+", db_index=False)  # first column of purchase_org_time_idx
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="purchases", db_index=False)  # first column of purchase_member_idx
    store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    external_id = models.CharField(max_length=120)
    channel = models.CharField(max_length=16, choices=SalesChannel.choices, default=SalesChannel.OFFLINE)
    occurred_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    total_minor = models.BigIntegerField()
    refunded_minor = models.BigIntegerField(default=0)
    points_earned = models.BigIntegerField(default=0)
    points_reversed = models.BigIntegerField(default=0)
    # What earning rules added on top of the base points (kept apart in the ledger as
    # "bonus" credits, see fidelo.awards), and how much of it refunds took back.
    points_bonus = models.BigIntegerField(default=0, db_default=0)
    bonus_reversed = models.BigIntegerField(default=0, db_default=0)
    has_lines = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "external_id"], name="purchase_external_id_unique_per_org"),
            models.CheckConstraint(condition=Q(total_minor__gte=0), name="purchase_total_not_negative"),
            models.CheckConstraint(condition=Q(refunded_minor__gte=0) & Q(refunded_minor__lte=models.F("total_minor")), name="purchase_refund_in_range"),
            models.CheckConstraint(condition=Q(points_reversed__gte=0) & Q(points_reversed__lte=models.F("points_earned")), name="purchase_reversal_in_range"),
        ]
        indexes = [
            models.Index(fields=["member", "-occurred_at"], name="purchase_member_idx"),
            models.Index(fields=["organization", "occurred_at"], name="purchase_org_time_idx"),
        ]


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="lines", db_index=False)  # first column of purchase_line_position_unique
    position = models.PositiveIntegerField()  # 1-based, as sent
    sku = models.CharField(max_length=120, blank=True, default="")
    name = models.CharField(max_length=200, blank=True, default="")
    category = models.CharField(max_length=120, blank=True, default="")
    brand = models.CharField(max_length=120, blank=True, default="")
    quantity = models.PositiveIntegerField()
    unit_price_minor = models.BigIntegerField()
    discount_minor = models.BigIntegerField(default=0)
    amount_minor = models.BigIntegerField()  # quantity * unit price - discount
    points_earned = models.BigIntegerField(default=0)
    refunded_quantity = models.PositiveIntegerField(default=0)
    points_reversed = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["purchase", "position"], name="purchase_line_position_unique"),
            models.CheckConstraint(condition=Q(refunded_quantity__lte=models.F("quantity")), name="purchase_line_refund_in_range"),
        ]


class Refund(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refunds")
    external_id = models.CharField(max_length=120)
    amount_minor = models.BigIntegerField()
    points_reversed = models.BigIntegerField(default=0)
    points_forgiven = models.BigIntegerField(default=0)
    lines = models.JSONField(default=list, blank=True)  # [{"position": 2, "quantity": 1}]
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "external_id"], name="refund_external_id_unique_per_org"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_positive"),
        ]


class Visit(models.Model):
    """A check-in (a gym entry, a salon appointment): earns nothing at the base rate; rules may reward it."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="visits", db_index=False)  # first column of visit_member_idx
    store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    external_id = models.CharField(max_length=120)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "external_id"], name="visit_external_id_unique_per_org")]
        indexes = [models.Index(fields=["member", "-occurred_at"], name="visit_member_idx")]
