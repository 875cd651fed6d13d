from django.apps import AppConfig


class TiersConfig(AppConfig):
    name = "fidelo.tiers"
    label = "tiers"
    verbose_name = "Tiers"
