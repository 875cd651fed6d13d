from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "fidelo.web"
    label = "web"
    verbose_name = "Web screens"
