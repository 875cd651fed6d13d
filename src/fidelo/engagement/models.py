"""Stamp cards (digital punch cards) and achievements (badges).

What earns stamps and badges is decided by earning rules (the rules engine's `stamps` and
`achievement` effects); this app keeps the definitions, each member's progress and the
append-only entries that explain it.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fidelo.members.models import Member
from fidelo.rewards.models import Reward
from fidelo.tenancy.models import Organization


class StampCard(models.Model):
    """A punch card: N stamps fill it, and a full card issues its reward (e.g. 10 coffees, the 11th free)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="stamp_cards")
    code = models.CharField(_("code"), max_length=64)
    name_fr = models.CharField(_("name (French)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True, default="")
    description_fr = models.TextField(_("description (French)"), blank=True, default="")
    description_en = models.TextField(_("description (English)"), blank=True, default="")
    stamps_required = models.PositiveIntegerField(_("stamps to fill the card"))
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("reward"))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="stamp_card_code_unique_per_org"),
            models.CheckConstraint(condition=Q(stamps_required__gte=1), name="stamp_card_needs_a_stamp"),
        ]

    def __str__(self) -> str:
        return self.name_fr

    def name(self, language: str) -> str:
        return self.name_en if language.startswith("en") and self.name_en else self.name_fr


class MemberStampCard(models.Model):
    """A member's progress on a card: the stamps on the current card and the cards filled so far.

    One row per member and card, locked while stamps are added or taken back. The lifetime
    counters feed the dashboard without scanning the entries.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="stamp_cards")
    card = models.ForeignKey(StampCard, on_delete=models.CASCADE, related_name="member_cards")
    stamps = models.PositiveIntegerField(default=0)  # on the current card
    completed = models.PositiveIntegerField(default=0)  # cards filled
    stamps_earned = models.PositiveBigIntegerField(default=0)  # lifetime, before reversals
    stamps_reversed = models.PositiveBigIntegerField(default=0)  # lifetime, taken back by refunds
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "card"], name="member_stamp_card_unique")]
        indexes = [models.Index(fields=["organization", "card"], name="member_stamp_card_org_idx")]


class StampEntryKind(models.TextChoices):
    EARN = "earn", _("Stamps earned")
    REVERSE = "reverse", _("Stamps taken back")


class StampEntry(models.Model):
    """Append-only: stamps given (delta > 0) or taken back (delta <= 0) on a member's card, and why.

    A reversal entry names the source it reverses; `forgiven` is what it could not take back
    (the card had been filled meanwhile), so that no source is ever reversed twice.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="stamp_entries")
    card = models.ForeignKey(StampCard, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=16, choices=StampEntryKind.choices)
    delta = models.IntegerField()
    forgiven = models.PositiveIntegerField(default=0)
    completions = models.PositiveIntegerField(default=0)  # cards this entry filled
    source_type = models.CharField(max_length=32, blank=True, default="")
    source_id = models.BigIntegerField(null=True, blank=True)
    rule_id = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="earn") & Q(delta__gt=0) & Q(forgiven=0)) | (Q(kind="reverse") & Q(delta__lte=0) & Q(completions=0)),
                name="stamp_entry_sign_matches_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "source_type", "source_id"], name="stamp_entry_source_idx"),
            models.Index(fields=["member", "card", "-at"], name="stamp_entry_member_idx"),
        ]


class StampCompletion(models.Model):
    """A card filled: the reward it issued (the voucher), or why it could not be issued."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="stamp_completions")
    card = models.ForeignKey(StampCard, on_delete=models.CASCADE, related_name="completions")
    entry = models.ForeignKey(StampEntry, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()  # the member's nth card of this kind
    voucher_id = models.BigIntegerField(null=True, blank=True)  # rewards.Voucher
    refused_code = models.CharField(max_length=64, blank=True, default="")  # e.g. out_of_stock: no reward issued
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "card", "number"], name="stamp_completion_once")]


class Badge(models.Model):
    """An achievement a member earns once (first referral, 5 visits in a month, 1 year of membership)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="badges")
    code = models.CharField(_("code"), max_length=64)
    name_fr = models.CharField(_("name (French)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True, default="")
    description_fr = models.TextField(_("description (French)"), blank=True, default="")
    description_en = models.TextField(_("description (English)"), blank=True, default="")
    icon = models.CharField(_("icon (emoji)"), max_length=16, blank=True, default="")
    image_url = models.CharField(_("image"), max_length=500, blank=True, default="")
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="badge_code_unique_per_org")]

    def __str__(self) -> str:
        return self.name_fr

    def name(self, language: str) -> str:
        return self.name_en if language.startswith("en") and self.name_en else self.name_fr


class MemberAchievement(models.Model):
    """A badge a member earned: once per member (a unique constraint settles races)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="achievements")
    badge = models.ForeignKey(Badge, on_delete=models.CASCADE, related_name="earned_by")
    earned_at = models.DateTimeField()
    source_type = models.CharField(max_length=32, blank=True, default="")
    source_id = models.BigIntegerField(null=True, blank=True)
    rule_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "badge"], name="member_achievement_once")]
        indexes = [models.Index(fields=["organization", "badge"], name="member_achievement_org_idx")]
