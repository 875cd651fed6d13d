"""Reads of events."""

from fidelo.events.errors import EventNotFound
from fidelo.events.models import Event


def access_event(organization_id: int, external_id: str) -> Event:
    event = Event.objects.select_related("member").filter(organization_id=organization_id, external_id=external_id).first()
    if event is None:
        raise EventNotFound(f"No event with external id {external_id!r}", external_id=external_id)
    return event
