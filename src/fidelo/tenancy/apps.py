from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "fidelo.tenancy"
    label = "tenancy"
    verbose_name = "Organizations"
