from django.apps import AppConfig


class PurchasesConfig(AppConfig):
    name = "fidelo.purchases"
    label = "purchases"
    verbose_name = "Purchases and refunds"
