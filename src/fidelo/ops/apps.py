from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operator commands: serve, worker, bench."""

    name = "fidelo.ops"
    label = "ops"
    verbose_name = "Operations"
