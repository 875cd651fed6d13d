"""URLs of the pos screens."""

urlpatterns: list = []
