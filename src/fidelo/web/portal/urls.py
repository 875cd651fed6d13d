"""URLs of the portal screens."""

urlpatterns: list = []
