"""The points ledger: accounts, append-only double-entry transfers, and lots.

Units: a ledger per unit, 'PTS' for points or a currency code (cents) for cashback; a
transfer never crosses units. Every amount is a positive integer (database constraint).

Balance convention: balance = credits - debits. Points enter a member's account from the
organization's `issued` account (which goes negative), and leave it to `redeemed`,
`expired`, back to `issued` (refund reversals) or to another member. So all balances of a
unit sum to zero.

Only member accounts keep a cached balance; system accounts derive theirs from transfers.
Caching them would put one row on every purchase of a merchant and serialize them all.
"""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from fidelo.members.models import Member
from fidelo.tenancy.models import Organization


class AccountKind(models.TextChoices):
    AVAILABLE = "available", _("Available points")
    PENDING = "pending", _("Pending points")
    ISSUED = "issued", _("Issued (source of earned points)")
    REDEEMED = "redeemed", _("Redeemed")
    EXPIRED = "expired", _("Expired")
    ADJUSTMENTS = "adjustments", _("Manual adjustments")
    WALLET_ISSUED = "wallet_issued", _("Wallet credit issued")
    WALLET_SPENT = "wallet_spent", _("Wallet credit spent")


MEMBER_KINDS = (AccountKind.AVAILABLE, AccountKind.PENDING)


class Account(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, null=True, blank=True, related_name="accounts")
    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    unit = models.CharField(max_length=3)
    # Cached credits - debits for member accounts; NULL for system accounts (derived).
    balance = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind", "unit"], condition=Q(member__isnull=False), name="account_unique_per_member"
            ),
            models.UniqueConstraint(
                fields=["organization", "kind", "unit"], condition=Q(member__isnull=True), name="account_unique_per_org"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.unit}" + (f" member {self.member_id}" if self.member_id else "")


class TransferKind(models.TextChoices):
    EARN = "earn", _("Earned")
    RELEASE = "release", _("Released")
    REDEEM = "redeem", _("Redeemed")
    REVERSE = "reverse", _("Taken back")
    EXPIRE = "expire", _("Expired")
    TRANSFER = "transfer", _("Transfer between members")
    ADJUST = "adjust", _("Manual adjustment")
    RESTORE = "restore", _("Given back")
    CREDIT = "credit", _("Wallet credit")


class AppendOnlyQuerySet(models.QuerySet):
    def delete(self):
        raise PermissionError("ledger transfers are append-only: record a correcting transfer instead")

    def update(self, **kwargs):
        raise PermissionError("ledger transfers are append-only: record a correcting transfer instead")


class Transfer(models.Model):
    """One movement of `amount` from `debit` to `credit`. Never updated nor deleted.

    Database triggers refuse UPDATE (and DELETE on PostgreSQL) on this table (migration
    0002); the ORM refuses both.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+", db_index=False)  # first column of transfer_org_kind_idx
    unit = models.CharField(max_length=3)
    debit = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", db_index=False)  # first column of transfer_debit_idx
    credit = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", db_index=False)  # first column of transfer_credit_idx
    amount = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=TransferKind.choices)
    # Why it happened, in words a member can read: a reason code rendered through gettext
    # with its parameters (see ledger.reasons), plus free text a staff member typed.
    reason = models.CharField(max_length=32)
    reason_params = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=500, blank=True, default="")
    source_type = models.CharField(max_length=32, blank=True, default="")
    source_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=200, blank=True, default="")
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField()

    objects = AppendOnlyQuerySet.as_manager()

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("ledger transfers are append-only: record a correcting transfer instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("ledger transfers are append-only: record a correcting transfer instead")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(condition=~Q(debit=F("credit")), name="transfer_accounts_differ"),
        ]
        indexes = [
            models.Index(fields=["debit", "-id"], name="transfer_debit_idx"),
            models.Index(fields=["credit", "-id"], name="transfer_credit_idx"),
            models.Index(fields=["organization", "kind", "occurred_at"], name="transfer_org_kind_idx"),
            models.Index(fields=["source_type", "source_id"], name="transfer_source_idx"),
        ]


class LotStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    AVAILABLE = "available", _("Available")
    CLOSED = "closed", _("Closed")  # nothing left: spent, reversed or expired


class Lot(models.Model):
    """Points earned together, with one expiry date; spending consumes earliest expiry first.

    `remaining` is what is left of the lot. For a member: the remaining of pending lots sums
    to the pending balance, and the remaining of available lots sums to the available
    balance when it is positive (zero when the member is in debt).
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="lots", db_index=False)  # first column of lot_member_spend_idx
    unit = models.CharField(max_length=3)
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=LotStatus.choices)
    earned_at = models.DateTimeField()
    available_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="lot_amount_positive"),
            models.CheckConstraint(condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")), name="lot_remaining_in_range"),
        ]
        indexes = [
            # In spending order (ledger.sql.SPEND_ORDER): a spending reads its first lots, not all of them.
            models.Index(fields=["member", "status", "expires_at", "earned_at", "id"], name="lot_member_spend_order_idx"),
            models.Index(fields=["status", "available_at"], name="lot_release_idx"),
            models.Index(fields=["status", "expires_at"], name="lot_expiry_idx"),
        ]
