from django.utils.translation import gettext_lazy as _

from fidelo.core.errors import Conflict, NotFound, ValidationFailed


class InvalidStampCard(ValidationFailed):
    code = "invalid_stamp_card"
    title = _("Invalid stamp card")


class StampCardNotFound(NotFound):
    code = "stamp_card_not_found"
    title = _("Unknown stamp card")


class StampCardExists(Conflict):
    code = "stamp_card_exists"
    title = _("A stamp card with this code already exists")


class StampCardInactive(Conflict):
    code = "stamp_card_inactive"
    title = _("This stamp card is not in use at the moment")


class InvalidStamps(ValidationFailed):
    code = "invalid_stamps"
    title = _("Invalid number of stamps")


class InvalidBadge(ValidationFailed):
    code = "invalid_badge"
    title = _("Invalid badge")


class BadgeNotFound(NotFound):
    code = "badge_not_found"
    title = _("Unknown badge")


class BadgeExists(Conflict):
    code = "badge_exists"
    title = _("A badge with this code already exists")


class BadgeInactive(Conflict):
    code = "badge_inactive"
    title = _("This badge is not awarded at the moment")
