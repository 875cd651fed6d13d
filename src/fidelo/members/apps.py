from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "fidelo.members"
    label = "members"
    verbose_name = "Members"
