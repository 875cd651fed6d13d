from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "fidelo.core"
    label = "core"
    verbose_name = "Fidelo core"
