from django.utils.translation import gettext_lazy as _

from fidelo.core.errors import Conflict, NotFound, ValidationFailed


class InvalidEvent(ValidationFailed):
    code = "invalid_event"
    title = _("Invalid event")


class DuplicateEvent(Conflict):
    code = "duplicate_event"
    title = _("This event was already recorded")


class EventNotFound(NotFound):
    code = "event_not_found"
    title = _("No such event")


class EventAlreadyCancelled(Conflict):
    code = "event_already_cancelled"
    title = _("This event was already cancelled")
