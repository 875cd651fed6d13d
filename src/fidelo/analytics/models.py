"""Rollup tables the leaderboard and the statistics read instead of scanning the raw ledger.

They are derived data: `analytics.services.rollups_refresh` keeps them up to date from the
rows appended to the ledger, purchases, visits, vouchers, offer events and members (by id
watermarks, outside the purchase path), and `rollups_rebuild` recomputes them from scratch.
Nothing else writes them. See docs/analytics.md.

Conventions: points in the program's unit (points, or cents in cashback mode), money in
cents, local days and months in the organization's time zone. `store_key` is a store id,
0 for "no store", and -1 on DailyStats for the all-stores row (distinct counts such as
active members cannot be summed over stores, so the all-stores row is kept too).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from fidelo.members.models import Member
from fidelo.tenancy.models import Organization

ALL_STORES = -1
NO_STORE = 0


class AnalyticsSettings(models.Model):
    """Per organization: what "active" means and what one point is worth (for the liability)."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="analytics_settings")
    active_days = models.PositiveIntegerField(
        _("active member: activity within (days)"), default=90,
        help_text=_("A member is active if they bought, checked in or redeemed within this many days."),
    )
    point_value_minor = models.PositiveIntegerField(
        _("value of 100 points (cents)"), default=100,
        help_text=_("What 100 points cost you, in cents, used for the value of unused points (points mode only)."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(active_days__gte=1), name="analytics_active_days_positive")]


class RollupState(models.Model):
    """Per organization and source table: what the rollups already include.

    `last_id`: every row with a smaller or equal id is included for good. Rows above it and up
    to `seen_id` were processed once and are processed again by the worker until they settle
    (ids are allocated before commit, so a lower id may become visible after a higher one;
    `checkpoints` remember when each `seen_id` was observed, and an id observed SETTLE
    seconds ago is safe: no transaction stays open that long). Reprocessing is idempotent:
    each touched member, day and reward is recomputed from the raw rows.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=16)
    last_id = models.BigIntegerField(default=0)
    seen_id = models.BigIntegerField(default=0)
    checkpoints = models.JSONField(default=list, blank=True)  # [[id, unix time observed], ...]
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "source"], name="rollup_state_unique")]


class RollupLock(models.Model):
    """One row per organization, locked (SELECT … FOR UPDATE) while its rollups are refreshed."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, primary_key=True, related_name="+")


class MemberStats(models.Model):
    """One member's lifetime figures (the leaderboard's rows)."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, primary_key=True, related_name="stats")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    enrolled_store_key = models.BigIntegerField(default=NO_STORE)
    enrolled_month = models.DateField()  # first day of the local month
    tier = models.CharField(max_length=32, blank=True, default="")
    # Lower-cased ASCII "last first" and "first last", for the prefix search by name.
    search_last = models.CharField(max_length=250, blank=True, default="")
    search_first = models.CharField(max_length=250, blank=True, default="")
    points_earned = models.BigIntegerField(default=0)  # earned minus taken back on refunds
    points_redeemed = models.BigIntegerField(default=0)  # spent on rewards minus given back
    points_expired = models.BigIntegerField(default=0)
    points_adjusted = models.BigIntegerField(default=0)  # manual adjustments, net
    points_transferred = models.BigIntegerField(default=0)  # received minus sent
    balance = models.BigIntegerField(default=0)  # available + pending
    purchases = models.IntegerField(default=0)
    revenue_minor = models.BigIntegerField(default=0)  # net of refunds
    visits = models.IntegerField(default=0)
    referrals = models.IntegerField(default=0)
    rewards = models.IntegerField(default=0)  # vouchers issued (rewards unlocked)
    first_activity_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-points_earned", "member"], name="mstats_points_idx"),
            models.Index(fields=["organization", "-balance", "member"], name="mstats_balance_idx"),
            models.Index(fields=["organization", "-revenue_minor", "member"], name="mstats_revenue_idx"),
            models.Index(fields=["organization", "-purchases", "member"], name="mstats_purchases_idx"),
            models.Index(fields=["organization", "-referrals", "member"], name="mstats_referrals_idx"),
            models.Index(fields=["organization", "-rewards", "member"], name="mstats_rewards_idx"),
            models.Index(fields=["organization", "last_activity_at"], name="mstats_activity_idx"),
            models.Index(fields=["organization", "enrolled_store_key", "last_activity_at"], name="mstats_store_activity_idx"),
            models.Index(fields=["organization", "enrolled_store_key", "-points_earned"], name="mstats_store_points_idx"),
            models.Index(fields=["organization", "search_last", "member"], name="mstats_name_idx"),
            models.Index(fields=["organization", "search_first"], name="mstats_search_first_idx"),
        ]


class DailyStats(models.Model):
    """Per organization, store (or all stores, -1) and local day: what happened that day."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    store_key = models.BigIntegerField()
    day = models.DateField()
    points_issued = models.BigIntegerField(default=0)
    points_reversed = models.BigIntegerField(default=0)
    points_redeemed = models.BigIntegerField(default=0)
    points_restored = models.BigIntegerField(default=0)
    points_expired = models.BigIntegerField(default=0)
    points_adjusted_in = models.BigIntegerField(default=0)
    points_adjusted_out = models.BigIntegerField(default=0)
    purchases = models.IntegerField(default=0)
    revenue_minor = models.BigIntegerField(default=0)
    refunds_minor = models.BigIntegerField(default=0)
    visits = models.IntegerField(default=0)
    new_members = models.IntegerField(default=0)
    active_members = models.IntegerField(default=0)  # distinct members who bought or checked in
    vouchers_issued = models.IntegerField(default=0)
    referrals = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "store_key", "day"], name="daily_stats_unique")]


class Breakdown(models.Model):
    """Member counts and sums per dimension value, kept by deltas as member rows change.

    Dimensions: `all` (key ""), `tier` (tier code), `cohort` (enrollment month, YYYY-MM),
    `has` (referrals, rewards, purchases), `rfm` ("YYYY-MM|f|m": month of the last activity,
    frequency and monetary bands). Recency is derived at read time from the month.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    store_key = models.BigIntegerField()  # the members' enrollment store
    dimension = models.CharField(max_length=16)
    key = models.CharField(max_length=40, blank=True, default="")
    members = models.BigIntegerField(default=0)
    returned = models.BigIntegerField(default=0)  # active again after their enrollment month
    balance = models.BigIntegerField(default=0)
    points_earned = models.BigIntegerField(default=0)
    revenue_minor = models.BigIntegerField(default=0)
    purchases = models.BigIntegerField(default=0)
    referrals = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "dimension", "store_key", "key"], name="breakdown_unique")]


class OfferStatsRollup(models.Model):
    """Per reward: distinct members who saw, requested and used it; vouchers issued and used."""

    reward_id = models.BigIntegerField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    seen = models.IntegerField(default=0)
    requested = models.IntegerField(default=0)
    used = models.IntegerField(default=0)
    vouchers_issued = models.IntegerField(default=0)
    vouchers_used = models.IntegerField(default=0)
    points_spent = models.BigIntegerField(default=0)


class CampaignOfferStatsRollup(models.Model):
    """Per campaign offer (campaign, reward): distinct members who saw, requested and used the reward
    through that campaign (the offer events that name it)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    campaign_id = models.BigIntegerField()
    reward_id = models.BigIntegerField()
    seen = models.IntegerField(default=0)
    requested = models.IntegerField(default=0)
    used = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign_id", "reward_id"], name="campaign_offer_stats_unique")]
        indexes = [models.Index(fields=["organization", "campaign_id"], name="campaign_offer_stats_org_idx")]
