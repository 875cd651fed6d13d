"""URLs of Contacts > Fidélité and Statistiques, included in the back office's "backoffice" namespace."""

from django.urls import path

from fidelo.web.backoffice import analytics_views

urlpatterns = [
    path("loyalty/", analytics_views.leaderboard, name="leaderboard"),
    path("loyalty/ranking.csv", analytics_views.leaderboard_csv, name="leaderboard_csv"),
    path("loyalty/<slug:table>.csv", analytics_views.leaderboard_table_csv, name="leaderboard_table_csv"),
    path("statistics/", analytics_views.dashboard, name="dashboard"),
    path("statistics/<slug:table>.csv", analytics_views.dashboard_csv, name="dashboard_csv"),
]
