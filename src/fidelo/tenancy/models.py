"""Merchants (organizations), their stores, staff, API keys and loyalty program settings."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Organization(models.Model):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Paris")
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    locale = models.CharField(_("locale"), max_length=8, default="fr")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Store(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="stores")
    code = models.SlugField(_("code"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    city = models.CharField(_("city"), max_length=120, blank=True)
    is_online = models.BooleanField(_("web shop"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="store_code_unique_per_org")]

    def __str__(self) -> str:
        return self.name


class StaffRole(models.TextChoices):
    OWNER = "owner", _("Owner")
    MANAGER = "manager", _("Manager")
    CASHIER = "cashier", _("Cashier")


class StaffMembership(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="staff")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=StaffRole.choices, default=StaffRole.OWNER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="staff_unique_per_org")]


class ApiKey(models.Model):
    """An API key for an organization, optionally limited to one store.

    Only a SHA-256 digest of the secret is stored. Keys are 32 random bytes, so a fast
    digest is as safe as a slow password hash here and keeps each request cheap.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, null=True, blank=True, related_name="api_keys")
    name = models.CharField(_("name"), max_length=120)
    prefix = models.CharField(max_length=16, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class CurrencyMode(models.TextChoices):
    POINTS = "points", _("Points")
    CASHBACK = "cashback", _("Cashback")


class Rounding(models.TextChoices):
    DOWN = "down", _("Round down")
    NEAREST = "nearest", _("Round to nearest (half up)")
    UP = "up", _("Round up")


class ExpiryPolicy(models.TextChoices):
    NEVER = "never", _("Never")
    MONTHS = "months", _("N months after earning")
    END_OF_YEAR = "end_of_year", _("End of the year")


class RefundPolicy(models.TextChoices):
    ALLOW_DEBT = "allow_debt", _("Take the points back, even into a negative balance")
    STOP_AT_ZERO = "stop_at_zero", _("Take back what is left, never below zero")


class Program(models.Model):
    """The loyalty program of an organization: how members earn and what happens to points.

    Earning at the base rate: units = amount_minor * earn_units / earn_per_minor, rounded by
    `rounding`. In points mode, units are points (1 point per euro: 1 per 100 cents). In
    cashback mode, units are cents of the organization's currency (2% cashback: 2 per 100).
    """

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="program")
    name = models.CharField(_("program name"), max_length=200, default="")
    currency_mode = models.CharField(max_length=16, choices=CurrencyMode.choices, default=CurrencyMode.POINTS)
    earn_units = models.PositiveIntegerField(default=1)
    earn_per_minor = models.PositiveIntegerField(default=100)
    rounding = models.CharField(max_length=16, choices=Rounding.choices, default=Rounding.DOWN)
    expiry_policy = models.CharField(max_length=16, choices=ExpiryPolicy.choices, default=ExpiryPolicy.NEVER)
    expiry_months = models.PositiveIntegerField(default=12)
    pending_days = models.PositiveIntegerField(default=0)
    refund_policy = models.CharField(max_length=16, choices=RefundPolicy.choices, default=RefundPolicy.ALLOW_DEBT)
    transfers_allowed = models.BooleanField(default=False)
    transfer_min = models.PositiveIntegerField(default=1)
    transfer_max_per_day = models.PositiveIntegerField(default=10_000)
    # Custom member attributes the merchant declared: [{"key": "favorite_drink", "type": "string"}]
    # (types: string, number, boolean, date). Rules may only test declared attributes.
    member_attributes = models.JSONField(default=list, blank=True)
    # Branding of the member portal: a main color ("#RRGGBB") and the URL of a logo image.
    brand_color = models.CharField(_("brand color"), max_length=7, default="#1f6feb")
    brand_logo_url = models.CharField(_("logo URL"), max_length=500, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(earn_per_minor__gt=0), name="program_earn_per_minor_positive"),
        ]

    @property
    def unit(self) -> str:
        """The ledger this program keeps: 'PTS' for points, the currency code for cashback."""
        return "PTS" if self.currency_mode == CurrencyMode.POINTS else self.organization.currency
