"""Referrals: the organization's referral settings, each member's code, and who referred whom.

A referral links a new member (the referee) to the member whose code they joined with (the
referrer). It is pending until the referee's first purchase of at least the minimum amount,
within the completion window; then both sides are credited in the program's unit (points,
or cents in cashback mode) and it is completed. A full refund of that purchase takes both
credits back and marks it refused; a pending referral past its window expires.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fidelo.members.models import Member
from fidelo.tenancy.models import Organization


class ReferralSettings(models.Model):
    """How an organization's referrals work. No row: referrals are off."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="referral_settings")
    enabled = models.BooleanField(_("referrals enabled"), default=False)
    # In the program's unit: points, or cents in cashback mode. 0: that side gets nothing.
    referrer_points = models.PositiveIntegerField(_("reward for the referrer"), default=0)
    referee_points = models.PositiveIntegerField(_("welcome bonus for the new member"), default=0)
    # Completion: a purchase of at least this amount (cents), within this many days of
    # joining (0: no limit).
    min_purchase_minor = models.PositiveBigIntegerField(_("minimum first purchase (cents)"), default=0)
    completion_days = models.PositiveIntegerField(_("days to make that purchase (0: no limit)"), default=0)
    # Completed referrals that reward one referrer in a calendar year (0: no limit).
    max_per_referrer_per_year = models.PositiveIntegerField(_("rewarded referrals per referrer and year (0: no limit)"), default=0)
    # Where the referral link points (the merchant's own sign-up page); blank: the member portal.
    link_base_url = models.CharField(_("referral link address"), max_length=300, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)


class ReferralCode(models.Model):
    """A member's referral code: short, readable, unique per organization, made on demand."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="referral_code")
    code = models.CharField(max_length=16)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="referral_code_unique_per_org")]


class ReferralStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for a first purchase")
    COMPLETED = "completed", _("Rewarded")
    REFUSED = "refused", _("Cancelled after a refund")
    EXPIRED = "expired", _("Expired without a purchase")


class Referral(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    referrer = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="referrals_made")
    # A member is referred at most once.
    referee = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="referred_by")
    code = models.CharField(max_length=16)  # the code used, as it was
    status = models.CharField(max_length=16, choices=ReferralStatus.choices, default=ReferralStatus.PENDING)
    enrolled_at = models.DateTimeField()
    # The end of the completion window (from the settings when the referee joined); null: none.
    complete_by = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)  # refused or expired
    # The purchase that completed it.
    source_type = models.CharField(max_length=32, blank=True, default="")
    source_id = models.BigIntegerField(null=True, blank=True)
    referrer_points = models.PositiveIntegerField(default=0)
    referee_points = models.PositiveIntegerField(default=0)
    # True when the referrer had reached the yearly limit: only the referee was credited.
    referrer_capped = models.BooleanField(default=False)
    referrer_transfer_id = models.BigIntegerField(null=True, blank=True)
    referee_transfer_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=models.F("referee")), name="referral_not_self"),
        ]
        indexes = [
            models.Index(fields=["referrer", "status", "completed_at"], name="referral_referrer_idx"),
            models.Index(fields=["organization", "source_type", "source_id"], name="referral_source_idx"),
            models.Index(fields=["status", "complete_by"], name="referral_expiry_idx"),
            models.Index(fields=["organization", "enrolled_at"], name="referral_org_enrolled_idx"),
            models.Index(fields=["organization", "completed_at"], name="referral_org_completed_idx"),
        ]
