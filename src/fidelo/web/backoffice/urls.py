"""URLs of the back office (staff screens), namespace "backoffice"."""

from django.urls import include, path
from django.views.i18n import set_language

from fidelo.web.backoffice import campaign_views, rules_views, views

app_name = "backoffice"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("language/", set_language, name="set_language"),
    path("program/", views.program_settings, name="program"),
    path("rewards/", views.rewards, name="rewards"),
    path("rewards/new/", views.reward_new, name="reward_create"),
    path("rewards/<int:reward_id>/", views.reward_edit, name="reward_edit"),
    path("campaigns/", campaign_views.campaign_list, name="campaigns"),
    path("campaigns/new/", campaign_views.campaign_new, name="campaign_create"),
    path("campaigns/<slug:code>/", campaign_views.campaign_edit, name="campaign_edit"),
    path("campaigns/<slug:code>/offers/", campaign_views.campaign_offer_save, name="campaign_offer_save"),
    path("campaigns/<slug:code>/offers/<int:reward_id>/remove/", campaign_views.campaign_offer_delete, name="campaign_offer_delete"),
    path("members/", views.members, name="members"),
    path("members/<int:member_id>/", views.member_detail, name="member_detail"),
    path("members/<int:member_id>/adjust/", views.member_adjust, name="member_adjust"),
    path("stores/", views.stores, name="stores"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<int:key_id>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
    path("rules/", rules_views.rules, name="rules"),
    path("rules/new/", rules_views.rule_new, name="rule_create"),
    path("rules/simulate/", rules_views.rule_simulation, name="rule_simulate"),
    path("rules/<int:rule_id>/", rules_views.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/toggle/", rules_views.rule_toggle, name="rule_toggle"),
    path("tiers/", rules_views.tiers, name="tiers"),
    path("tiers/settings/", rules_views.tier_settings, name="tier_settings"),
    # The leaderboard and statistics screens (backoffice:leaderboard, backoffice:dashboard):
    # analytics_urls has no app_name of its own, its names live in this namespace.
    path("", include("fidelo.web.backoffice.analytics_urls")),
]

