from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "fidelo.ledger"
    label = "ledger"
    verbose_name = "Ledger"
