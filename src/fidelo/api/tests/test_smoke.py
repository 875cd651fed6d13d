"""The API answers, documents itself and refuses callers without a key."""


def test_openapi_document_lists_the_purchase_endpoint(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/purchases" in response.json()["paths"]


def test_docs_page_renders(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content


def test_purchase_without_key_is_401_problem(client, db):
    response = client.post("/api/v1/purchases", data="{}", content_type="application/json")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_api_key"


def test_purchase_earns_points_at_base_rate(api, member, store):
    response = api.post(
        "/api/v1/purchases",
        {
            "member": {"card": member.card_number}, "store": store.code, "external_id": "T-1",
            "occurred_at": "2026-03-01T10:00:00+01:00", "total_cents": 4250, "currency": "EUR",
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["points"]["earned"] == 42
    assert response.json()["points"]["status"] == "available"
    balance = api.get(f"/api/v1/members/{member.id}/balance").json()
    assert balance["available"] == 42
