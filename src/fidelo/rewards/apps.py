from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "fidelo.rewards"
    label = "rewards"
    verbose_name = "Rewards and vouchers"
