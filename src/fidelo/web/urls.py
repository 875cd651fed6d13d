"""The web screens: back office (staff), member portal, till (POS)."""

from django.urls import include, path

urlpatterns = [
    path("backoffice/", include("fidelo.web.backoffice.urls")),
    path("portal/", include("fidelo.web.portal.urls")),
    path("pos/", include("fidelo.web.pos.urls")),
]
