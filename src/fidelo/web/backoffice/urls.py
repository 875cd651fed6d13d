"""URLs of the backoffice screens."""

urlpatterns: list = []
