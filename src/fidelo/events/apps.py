from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "fidelo.events"
    label = "events"
    verbose_name = "Loyalty events"
