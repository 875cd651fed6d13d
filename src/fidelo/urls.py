from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

from fidelo.api.v1.api import api


def health(_request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("api/v1/", api.urls),
    path("healthz", health),
    path("admin/", admin.site.urls),
    path("", include("fidelo.web.urls")),
]
