"""The rewards catalog, vouchers, partner code pools, auto-redemption, campaign offers and offer tracking."""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from fidelo.members.models import Member
from fidelo.tenancy.models import Organization, Store


class RewardKind(models.TextChoices):
    VOUCHER_AMOUNT = "voucher_amount", _("Discount voucher (fixed amount)")
    VOUCHER_PERCENT = "voucher_percent", _("Discount voucher (percentage)")
    FREE_PRODUCT = "free_product", _("Free product or service")
    EXPERIENCE = "experience", _("Experience")
    DONATION = "donation", _("Charity donation")
    WALLET_CREDIT = "wallet_credit", _("Wallet credit")
    PARTNER_CODE = "partner_code", _("Partner reward")


# Kinds that give the member a voucher to present (at the till, or to a partner).
VOUCHER_KINDS = {
    RewardKind.VOUCHER_AMOUNT, RewardKind.VOUCHER_PERCENT, RewardKind.FREE_PRODUCT, RewardKind.EXPERIENCE, RewardKind.PARTNER_CODE,
}


class Reward(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="rewards")
    kind = models.CharField(max_length=20, choices=RewardKind.choices)
    title_fr = models.CharField(_("title (French)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True, default="")
    description_fr = models.TextField(_("description (French)"), blank=True, default="")
    description_en = models.TextField(_("description (English)"), blank=True, default="")
    image_url = models.CharField(_("image"), max_length=500, blank=True, default="")
    cost_points = models.PositiveIntegerField(_("cost in points"))
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True)  # None: unlimited
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    limit_per_member = models.PositiveIntegerField(_("limit per member"), null=True, blank=True)
    allowed_tiers = models.JSONField(_("tiers allowed"), default=list, blank=True)  # tier codes; empty: everyone
    stores = models.ManyToManyField(Store, blank=True, related_name="+")  # empty: every store
    active = models.BooleanField(_("active"), default=True)
    # What the voucher is worth: a fixed amount or a percentage (basis points) of the basket,
    # from a minimum basket; a free product names its SKU and the most it covers.
    amount_minor = models.PositiveBigIntegerField(default=0)
    percent_bp = models.PositiveIntegerField(default=0)  # 1500 = 15 %
    min_basket_minor = models.PositiveBigIntegerField(default=0)
    product_sku = models.CharField(max_length=120, blank=True, default="")
    charity_name = models.CharField(_("association"), max_length=200, blank=True, default="")
    voucher_days = models.PositiveIntegerField(_("voucher valid for (days)"), default=30)
    refund_points_on_expiry = models.BooleanField(_("give the points back when the voucher expires"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(cost_points__gt=0), name="reward_cost_positive"),
            models.CheckConstraint(condition=Q(percent_bp__lte=10000), name="reward_percent_at_most_100"),
        ]
        indexes = [models.Index(fields=["organization", "active"], name="reward_org_active_idx")]

    def __str__(self) -> str:
        return self.title_fr

    def title(self, language: str) -> str:
        return self.title_en if language.startswith("en") and self.title_en else self.title_fr


class PartnerCode(models.Model):
    """One code from a partner's uploaded pool, handed out once."""

    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="codes")
    code = models.CharField(max_length=200)
    voucher = models.OneToOneField("Voucher", on_delete=models.PROTECT, null=True, blank=True, related_name="partner_code")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["reward", "code"], name="partner_code_unique_per_reward")]
        indexes = [models.Index(fields=["reward", "voucher"], name="partner_code_free_idx")]


class VoucherStatus(models.TextChoices):
    ISSUED = "issued", _("Issued")
    USED = "used", _("Used")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")


class Voucher(models.Model):
    """A redemption: what the member got for their points (a voucher, a donation, wallet credit)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="vouchers", db_index=False)  # first column of voucher_member_reward_idx
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="vouchers", db_index=False)  # first column of voucher_reward_idx
    code = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=16, choices=VoucherStatus.choices)
    points = models.PositiveIntegerField()
    # The lots the points came from, to give them back with their own expiry dates.
    spent_lots = models.JSONField(default=list, blank=True)
    redeem_transfer_id = models.BigIntegerField()
    channel = models.CharField(max_length=16, default="api")  # "portal", "pos", "api", "auto"
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    used_value_minor = models.BigIntegerField(default=0)
    used_purchase_external_id = models.CharField(max_length=120, blank=True, default="")
    closed_at = models.DateTimeField(null=True, blank=True)  # cancelled or expired
    # Redeemed through a campaign offer (at the offer's cost); None: from the catalog.
    # No full index: most vouchers have none, and every redemption would pay for it; the partial
    # index below holds only the campaigns' vouchers.
    campaign = models.ForeignKey("Campaign", on_delete=models.PROTECT, null=True, blank=True, related_name="vouchers", db_index=False)

    class Meta:
        indexes = [
            models.Index(fields=["member", "reward", "status"], name="voucher_member_reward_idx"),
            models.Index(fields=["status", "expires_at"], name="voucher_expiry_idx"),
            models.Index(fields=["reward", "status"], name="voucher_reward_idx"),
            models.Index(fields=["campaign"], name="voucher_campaign_idx", condition=Q(campaign__isnull=False)),
        ]


class AutoRedemption(models.Model):
    """A member's choice: issue this reward as soon as the balance allows it."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="auto_redemption")
    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class OfferEventKind(models.TextChoices):
    SEEN = "seen", _("Seen")
    REQUESTED = "requested", _("Requested")
    USED = "used", _("Used")


class OfferEvent(models.Model):
    """Offer tracking: a member saw, requested or used a reward (penetration and usage rates)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="offer_events", db_index=False)  # first column of offer_event_idx
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=OfferEventKind.choices)
    at = models.DateTimeField()
    # Seen, requested or used through this campaign's offer of the reward (None: the catalog).
    # The reward's own totals count every event; a campaign offer's count only its own.
    campaign = models.ForeignKey("Campaign", on_delete=models.CASCADE, null=True, blank=True, related_name="offer_events", db_index=False)

    class Meta:
        indexes = [
            models.Index(fields=["reward", "kind", "member"], name="offer_event_idx"),
            models.Index(fields=["campaign", "reward", "kind", "member"], name="offer_event_campaign_idx",
                         condition=Q(campaign__isnull=False)),
        ]


class Campaign(models.Model):
    """A promotion that offers rewards for a while, some at a special cost ("Offres du moment").

    The later communication campaigns (email, SMS) reuse it: what they announce is a campaign.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="campaigns")
    code = models.SlugField(_("code"), max_length=64)
    name_fr = models.CharField(_("name (French)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True, default="")
    description_fr = models.TextField(_("description (French)"), blank=True, default="")
    description_en = models.TextField(_("description (English)"), blank=True, default="")
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)  # None: until switched off
    active = models.BooleanField(_("active"), default=True)
    # A budget shared by the earning rules that belong to the campaign (program unit: points,
    # or cents in cashback mode): their points stop when it is spent. None: no budget.
    budget = models.BigIntegerField(_("budget"), null=True, blank=True)
    budget_spent = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="campaign_code_unique_per_org"),
            models.CheckConstraint(condition=Q(budget__isnull=True) | Q(budget__gt=0), name="campaign_budget_positive"),
            models.CheckConstraint(condition=Q(budget_spent__gte=0), name="campaign_budget_spent_not_negative"),
            models.CheckConstraint(condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")), name="campaign_ends_after_start"),
        ]
        indexes = [models.Index(fields=["organization", "active", "starts_at"], name="campaign_org_active_idx")]

    def __str__(self) -> str:
        return self.name_fr

    def name(self, language: str) -> str:
        return self.name_en if language.startswith("en") and self.name_en else self.name_fr

    def description(self, language: str) -> str:
        return self.description_en if language.startswith("en") and self.description_en else self.description_fr


class CampaignOffer(models.Model):
    """A reward a campaign offers; `cost_points` (if set) replaces the reward's cost in this campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="offers")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="campaign_offers")
    cost_points = models.PositiveIntegerField(_("special cost in points"), null=True, blank=True)  # None: the reward's cost
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "reward"], name="campaign_offer_unique"),
            models.CheckConstraint(condition=Q(cost_points__isnull=True) | Q(cost_points__gt=0), name="campaign_offer_cost_positive"),
        ]

    @property
    def cost(self) -> int:
        """What the member pays through this offer."""
        return self.cost_points if self.cost_points is not None else self.reward.cost_points
