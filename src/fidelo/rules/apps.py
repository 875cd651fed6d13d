from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "fidelo.rules"
    label = "rules"
    verbose_name = "Earning rules"
