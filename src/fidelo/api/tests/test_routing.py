"""Unknown routes and wrong methods under /api/ answer in problem+json; the docs page needs no CDN."""

import pytest

pytestmark = pytest.mark.django_db


def test_an_unknown_api_route_is_a_problem_404(api):
    response = api.get("/api/v1/nope")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_a_wrong_method_is_a_problem_405(api, member):
    response = api.client.delete(f"/api/v1/members/{member.id}", HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_the_docs_page_loads_swagger_from_this_server(client):
    page = client.get("/api/v1/docs").content.decode()
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
    assert "/static/" in page


def test_adjustments_name_the_api_key_in_the_member_history(org, member):
    from fidelo.conftest import STAFF, ApiClient
    from fidelo.tenancy.services import api_key_create

    client = ApiClient(api_key_create(organization=org, name="Accueil Paris", actor=STAFF).token)
    assert client.post(f"/api/v1/members/{member.id}/adjustments", {"points": 20, "reason": "Geste commercial"}, key="adj-1").status_code == 201
    entry = client.get(f"/api/v1/members/{member.id}/history", headers={"Accept-Language": "en"}).json()["items"][0]
    assert entry["reason"] == "Adjustment by Accueil Paris: Geste commercial"


def test_the_swagger_assets_are_served(client):
    import re

    page = client.get("/api/v1/docs").content.decode()
    asset = re.search(r'(/static/[^"\']+\.js)', page).group(1)
    response = client.get(asset)
    assert response.status_code == 200
