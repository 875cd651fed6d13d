from django.utils.translation import gettext_lazy as _

from fidelo.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed


class StoreNotFound(NotFound):
    code = "store_not_found"
    title = _("Unknown store")


class InvalidApiKey(DomainError):
    code = "invalid_api_key"
    status = 401
    title = _("Missing, unknown or revoked API key")


class StoreNotAllowed(PermissionDenied):
    code = "store_not_allowed"
    title = _("This API key belongs to another store")


class InvalidSetting(ValidationFailed):
    code = "invalid_setting"
    title = _("Invalid program setting")
