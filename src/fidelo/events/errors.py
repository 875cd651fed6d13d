from django.utils.translation import gettext_lazy as _

from fidelo.core.errors import Conflict, ValidationFailed


class InvalidEvent(ValidationFailed):
    code = "invalid_event"
    title = _("Invalid event")


class DuplicateEvent(Conflict):
    code = "duplicate_event"
    title = _("This event was already recorded")
