from django.utils.translation import gettext_lazy as _

from fidelo.core.errors import Conflict, NotFound, ValidationFailed


class InvalidPurchase(ValidationFailed):
    code = "invalid_purchase"
    title = _("Invalid purchase")


class CurrencyMismatch(ValidationFailed):
    code = "currency_mismatch"
    title = _("Wrong currency")


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"
    title = _("Unknown purchase")


class DuplicatePurchase(Conflict):
    code = "purchase_exists"
    title = _("A purchase with this external id was already recorded")


class InvalidRefund(ValidationFailed):
    code = "invalid_refund"
    title = _("Invalid refund")


class RefundExceedsPurchase(Conflict):
    code = "refund_exceeds_purchase"
    title = _("The refund exceeds what is left of the purchase")


class DuplicateRefund(Conflict):
    code = "refund_exists"
    title = _("A refund with this external id was already recorded")
