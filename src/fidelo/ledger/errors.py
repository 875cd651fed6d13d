from django.utils.translation import gettext_lazy as _

from fidelo.core.errors import Conflict, PermissionDenied, ValidationFailed


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    title = _("Not enough points")


class InvalidAmount(ValidationFailed):
    code = "invalid_amount"
    title = _("Invalid amount")


class ReasonRequired(ValidationFailed):
    code = "reason_required"
    title = _("A reason is required")


class TransfersNotAllowed(PermissionDenied):
    code = "transfers_not_allowed"
    title = _("This program does not allow transfers between members")


class TransferRefused(ValidationFailed):
    code = "transfer_refused"
    title = _("Transfer refused")


class TransferLimitReached(Conflict):
    code = "transfer_limit_reached"
    title = _("Daily transfer limit reached")
