from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "fidelo.engagement"
    label = "engagement"
    verbose_name = "Stamp cards and achievements"
