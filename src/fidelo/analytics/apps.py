from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "fidelo.analytics"
    label = "analytics"
    verbose_name = "Statistics and leaderboard"
