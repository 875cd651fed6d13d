from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "fidelo.referrals"
    label = "referrals"
    verbose_name = "Referrals"
