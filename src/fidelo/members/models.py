"""Loyalty program members, their identifiers (card, email, phone) and consents."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fidelo.tenancy.models import Organization, Store


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    CLOSED = "closed", _("Closed")


class Member(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="members")
    card_number = models.CharField(_("card number"), max_length=20)
    external_id = models.CharField(_("external id"), max_length=120, blank=True, default="")
    first_name = models.CharField(_("first name"), max_length=120, blank=True, default="")
    last_name = models.CharField(_("last name"), max_length=120, blank=True, default="")
    email = models.CharField(_("email"), max_length=254, blank=True, default="")  # lower-cased
    phone = models.CharField(_("phone"), max_length=20, blank=True, default="")  # E.164
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    locale = models.CharField(_("locale"), max_length=8, default="fr")
    status = models.CharField(max_length=16, choices=MemberStatus.choices, default=MemberStatus.ACTIVE)
    enrolled_at = models.DateTimeField(_("enrolled at"))
    enrolled_store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    enrolled_channel = models.CharField(max_length=32, blank=True, default="")
    # The program's custom attributes (declared in Program.member_attributes) and the
    # interests the member shared: earning rules and segments read them.
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    interests = models.JSONField(_("interests"), default=list, blank=True)
    # The current tier's code, kept by fidelo.tiers (which holds the history): a copy on the
    # member row, which every earning and redemption reads anyway.
    tier = models.CharField(_("tier"), max_length=32, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "card_number"], name="member_card_unique_per_org"),
            models.UniqueConstraint(
                fields=["organization", "email"], condition=~Q(email=""), name="member_email_unique_per_org"
            ),
            models.UniqueConstraint(
                fields=["organization", "phone"], condition=~Q(phone=""), name="member_phone_unique_per_org"
            ),
            models.UniqueConstraint(
                fields=["organization", "external_id"], condition=~Q(external_id=""), name="member_external_id_unique_per_org"
            ),
        ]
        indexes = [models.Index(fields=["organization", "last_name", "first_name"], name="member_name_idx")]

    def __str__(self) -> str:
        return self.full_name or self.card_number

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    VOICE = "voice", _("Voicemail")


class Consent(models.Model):
    """One consent decision; the latest per channel is in force. Never updated (proof of consent)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=64)  # e.g. "pos:paris-11", "api", "portal", "import"
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["member", "channel", "-at"], name="consent_latest_idx")]
