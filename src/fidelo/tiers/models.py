"""Tiers: levels per organization, the qualification settings, the activity that qualifies,
each member's tier status, the tier history and VIP purchases.

A member's tier comes from what they earned in the qualification window (the activity
rows), never from their point balance. The current tier's code is copied to Member.tier,
which every earning and redemption reads anyway.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fidelo.members.models import Member
from fidelo.tenancy.models import Organization


class TierLevel(models.Model):
    """One level (e.g. silver, gold): its threshold in the organization's metric and its benefits."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="tier_levels")
    code = models.SlugField(_("code"), max_length=32)
    name_fr = models.CharField(_("name (French)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120, blank=True, default="")
    rank = models.PositiveSmallIntegerField(_("rank"))  # 1 = the lowest level
    # In the metric's unit (tier points, cents spent or visits) over the window; None: the level
    # is not earned, only bought (VIP).
    threshold = models.BigIntegerField(_("threshold"), null=True, blank=True)
    multiplier_percent = models.PositiveIntegerField(_("earn multiplier (%)"), default=100)  # 150 = x1.5 on base points
    perks_fr = models.TextField(_("perks (French)"), blank=True, default="")
    perks_en = models.TextField(_("perks (English)"), blank=True, default="")
    vip_price_minor = models.BigIntegerField(_("VIP price (cents)"), null=True, blank=True)  # None: not for sale
    vip_months = models.PositiveSmallIntegerField(_("VIP period (months)"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="tier_code_unique_per_org"),
            models.UniqueConstraint(fields=["organization", "rank"], name="tier_rank_unique_per_org"),
            models.CheckConstraint(condition=Q(multiplier_percent__gte=100, multiplier_percent__lte=1000), name="tier_multiplier_range"),
            models.CheckConstraint(condition=Q(threshold__isnull=True) | Q(threshold__gte=0), name="tier_threshold_not_negative"),
        ]
        ordering = ["organization", "rank"]

    def __str__(self) -> str:
        return self.name_fr

    def name(self, language: str) -> str:
        return self.name_en if language.startswith("en") and self.name_en else self.name_fr


class Metric(models.TextChoices):
    POINTS = "points", _("Tier points")
    SPEND = "spend", _("Amount spent")
    VISITS = "visits", _("Visits")


class Window(models.TextChoices):
    CALENDAR_YEAR = "calendar_year", _("Calendar year")
    ROLLING = "rolling", _("Rolling months")


class TierSettings(models.Model):
    """How members qualify: what is counted, over which window, and the grace before a downgrade."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="tier_settings")
    metric = models.CharField(_("qualifying on"), max_length=16, choices=Metric.choices, default=Metric.POINTS)
    window = models.CharField(_("qualification window"), max_length=16, choices=Window.choices, default=Window.CALENDAR_YEAR)
    window_months = models.PositiveSmallIntegerField(_("rolling window (months)"), default=12)
    grace_days = models.PositiveIntegerField(_("grace period (days)"), default=0)
    updated_at = models.DateTimeField(auto_now=True)


class TierActivity(models.Model):
    """What counts towards qualification, one row per earning event (or its reversal). Append-only."""

    organization_id = models.BigIntegerField()
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    occurred_at = models.DateTimeField()
    tier_points = models.BigIntegerField(default=0)  # negative for a reversal
    spend_minor = models.BigIntegerField(default=0)
    visits = models.IntegerField(default=0)
    source_type = models.CharField(max_length=32)
    source_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["member", "occurred_at"], name="tier_activity_member_idx")]


class Via(models.TextChoices):
    NONE = "", _("No tier")
    THRESHOLD = "threshold", _("Qualified")
    VIP = "vip", _("VIP membership")
    MANUAL = "manual", _("Set by staff")


class TierStatus(models.Model):
    """A member's tier: the one held by qualification (or set by staff), a VIP level bought, and
    the effective tier (the higher of the two, copied to Member.tier).

    The held tier is reviewed at window_end + grace: it becomes what the window that just
    ended supports. review_at is the next moment the downgrade job looks at this member.
    """

    member = models.OneToOneField(Member, on_delete=models.CASCADE, primary_key=True, related_name="tier_status")
    organization_id = models.BigIntegerField()
    tier_code = models.CharField(max_length=32, blank=True, default="")
    since = models.DateTimeField(null=True, blank=True)
    via = models.CharField(max_length=16, choices=Via.choices, blank=True, default="")
    held_code = models.CharField(max_length=32, blank=True, default="")
    held_via = models.CharField(max_length=16, choices=Via.choices, blank=True, default="")
    window_end = models.DateTimeField(null=True, blank=True)
    vip_code = models.CharField(max_length=32, blank=True, default="")
    vip_until = models.DateTimeField(null=True, blank=True)
    review_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["review_at"], name="tier_status_review_idx", condition=Q(review_at__isnull=False)),
            models.Index(fields=["organization_id", "tier_code"], name="tier_status_org_tier_idx"),
        ]


class TierChangeReason(models.TextChoices):
    UPGRADE = "upgrade", _("Threshold reached")
    DOWNGRADE = "downgrade", _("Not requalified at the end of the window")
    VIP = "vip", _("VIP membership bought")
    VIP_ENDED = "vip_ended", _("VIP membership ended")
    MANUAL = "manual", _("Set by staff")


class TierHistory(models.Model):
    """One change of a member's tier: from, to, why, when. Append-only."""

    organization_id = models.BigIntegerField()
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    from_code = models.CharField(max_length=32, blank=True, default="")
    to_code = models.CharField(max_length=32, blank=True, default="")
    reason = models.CharField(max_length=16, choices=TierChangeReason.choices)
    detail = models.CharField(max_length=200, blank=True, default="")  # e.g. the qualification reached, the staff's reason
    actor = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["member", "-at"], name="tier_history_member_idx")]


class TierVipPurchase(models.Model):
    """A VIP level bought by a member for a period (the payment itself happens elsewhere)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    tier_code = models.CharField(max_length=32)
    external_id = models.CharField(max_length=120)
    price_minor = models.BigIntegerField()
    months = models.PositiveSmallIntegerField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    occurred_at = models.DateTimeField()
    actor = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "external_id"], name="tier_vip_external_id_unique_per_org")]
