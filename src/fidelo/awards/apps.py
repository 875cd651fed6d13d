from django.apps import AppConfig


class AwardsConfig(AppConfig):
    name = "fidelo.awards"
    label = "awards"
    verbose_name = "Awards (what rules gave)"
