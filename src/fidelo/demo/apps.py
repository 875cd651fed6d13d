from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "fidelo.demo"
    label = "demo"
    verbose_name = "Demo data"
