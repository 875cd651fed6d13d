"""Bad input on every endpoint: a 4xx problem+json with a stable code, and nothing written.

Two kinds of refusal:
- the request is malformed (JSON, schema, types, sizes, Idempotency-Key): refused before any
  service runs, nothing at all is stored;
- the request is well formed but the domain refuses it (unknown member, wrong currency...):
  the refusal is stored as the key's response, so that a retry is refused the same way,
  and nothing else is written.
"""

import json

import pytest
from django.conf import settings

from fidelo.api.tests.helpers import (
    API,
    POSTS,
    ago,
    assert_problem,
    buy,
    nothing_written,
    purchase_payload,
)
from fidelo.core.money import MAX_MINOR

pytestmark = pytest.mark.django_db

# --- every POST endpoint --------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", POSTS, ids=str)
def test_malformed_json_is_400(world, endpoint):
    with nothing_written():
        for raw in ["{not json", '{"a": 1', "nul\x00", "\xff\xfe", "{'single': 'quotes'}"]:
            response = world.api.post(endpoint.path(world), raw=raw, key="k1")
            assert_problem(response, 400, "malformed_request")


@pytest.mark.parametrize("endpoint", POSTS, ids=str)
def test_a_body_that_is_not_the_expected_object_is_422(world, endpoint):
    with nothing_written():
        for raw in ["", "[]", "42", '"text"', "null", "{}"]:
            if endpoint.name == "member.enroll" and raw == "{}":
                continue  # every field of an enrollment is optional: see below
            response = world.api.post(endpoint.path(world), raw=raw, key="k1")
            problem = assert_problem(response, 422, "validation_error")
            assert problem["errors"], problem


def test_an_empty_enrollment_is_refused_by_the_service(world):
    with nothing_written(idempotency_records=1):
        assert_problem(world.api.post(f"{API}/members", {}, key="k1"), 422, "member_identity_missing")


@pytest.mark.parametrize("endpoint", POSTS, ids=str)
def test_a_huge_payload_is_413(world, endpoint):
    body = endpoint.body(world)
    body["padding"] = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    with nothing_written():
        assert_problem(world.api.post(endpoint.path(world), body, key="k1"), 413, "payload_too_large")


@pytest.mark.parametrize("endpoint", POSTS, ids=str)
def test_unknown_fields_are_refused(world, endpoint):
    body = endpoint.body(world)
    body["bonus_points"] = 1000
    with nothing_written():
        problem = assert_problem(world.api.post(endpoint.path(world), body, key="k1"), 422, "validation_error")
    assert problem["errors"][0]["field"] == "body.bonus_points"
    assert problem["errors"][0]["type"] == "extra_forbidden"


# A string field of each POST, and in it a NUL character (PostgreSQL cannot store NUL in text).
NUL_FIELDS = {
    "purchase.create": ("member", "card"),
    "refund.create": ("external_id",),
    "member.enroll": ("first_name",),
    "member.adjust": ("reason",),
    "transfer.create": ("recipient", "card"),
    "visit.create": ("external_id",),
}


@pytest.mark.parametrize("endpoint", POSTS, ids=str)
def test_nul_characters_are_refused_not_a_500(world, endpoint):
    body = endpoint.body(world)
    *parents, field = NUL_FIELDS[endpoint.name]
    target = body
    for parent in parents:
        target = target[parent]
    target[field] = target[field] + "\x00"
    with nothing_written():
        problem = assert_problem(world.api.post(endpoint.path(world), body, key="k1"), 422, "validation_error")
    assert problem["errors"][0]["field"] == ".".join(["body", *NUL_FIELDS[endpoint.name]])


@pytest.mark.parametrize("endpoint", [e for e in POSTS if e.name in {"member.enroll", "member.adjust", "transfer.create"}], ids=str)
def test_the_idempotency_key_is_required_where_there_is_no_external_id(world, endpoint):
    with nothing_written():
        response = world.api.client.post(
            endpoint.path(world), data=json.dumps(endpoint.body(world)), content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {world.api.token}",
        )
        assert_problem(response, 422, "idempotency_key_required")
    with nothing_written():
        assert_problem(world.api.post(endpoint.path(world), endpoint.body(world), key="   "), 422, "idempotency_key_required")


@pytest.mark.parametrize("endpoint", POSTS, ids=str)
def test_an_overlong_or_unprintable_idempotency_key_is_refused(world, endpoint):
    with nothing_written():
        for key in ("k" * 256, "order\x001", "order\t1"):
            assert_problem(world.api.post(endpoint.path(world), endpoint.body(world), key=key), 422, "idempotency_key_invalid")


# --- POST /purchases: refused by the schema ----------------------------------------------------

SCHEMA_REFUSALS = {
    "member missing": {"member": None},
    "member not an object": {"member": "0612345678"},
    "member unknown field": {"member": {"loyalty_card": "123"}},
    "external_id missing": {"external_id": None},
    "external_id empty": {"external_id": ""},
    "external_id too long": {"external_id": "x" * 121},
    "occurred_at missing": {"occurred_at": None},
    "occurred_at not a date": {"occurred_at": "yesterday"},
    "occurred_at not a day": {"occurred_at": "2026-02-30T10:00:00+01:00"},
    "occurred_at offset out of range": {"occurred_at": "2026-03-01T10:00:00+25:00"},
    "occurred_at before 2000": {"occurred_at": "1999-12-31T23:59:59+01:00"},
    "occurred_at in year 1": {"occurred_at": "0001-01-01T00:00:00+01:00"},
    "total missing": {"total_cents": None},
    "total as a string": {"total_cents": "4250"},
    "total as a float": {"total_cents": 42.5},
    "total as a whole float": {"total_cents": 4250.0},
    "total as a boolean": {"total_cents": True},
    "total negative": {"total_cents": -1},
    "total absurd": {"total_cents": MAX_MINOR + 1},
    "total astronomically absurd": {"total_cents": 10**40},
    "currency missing": {"currency": None},
    "currency not a code": {"currency": "EURO"},
    "currency a number": {"currency": 978},
    "channel unknown": {"channel": "telephone"},
    "store a number": {"store": 11},
    "lines not a list": {"lines": {"sku": "A"}},
    "line without quantity": {"lines": [{"unit_price_cents": 4250}]},
    "line quantity zero": {"lines": [{"quantity": 0, "unit_price_cents": 4250}]},
    "line quantity float": {"lines": [{"quantity": 1.5, "unit_price_cents": 2000}]},
    "line negative price": {"lines": [{"quantity": 1, "unit_price_cents": -4250}]},
    "line price as a float": {"lines": [{"quantity": 1, "unit_price_cents": 42.5}]},
    "line absurd price": {"lines": [{"quantity": 1, "unit_price_cents": MAX_MINOR + 1}]},
    "line unknown field": {"lines": [{"quantity": 1, "unit_price_cents": 4250, "vat": 20}]},
    "too many lines": {"total_cents": 501, "lines": [{"quantity": 1, "unit_price_cents": 1}] * 501},
}


@pytest.mark.parametrize("change", SCHEMA_REFUSALS.values(), ids=SCHEMA_REFUSALS.keys())
def test_purchase_refused_by_the_schema_writes_nothing(world, change):
    body = purchase_payload(world.member, world.store)
    for field, value in change.items():
        if value is None:
            del body[field]
        else:
            body[field] = value
    with nothing_written():
        problem = assert_problem(world.api.post(f"{API}/purchases", body, key="k1"), 422, "validation_error")
    assert problem["errors"] and all({"field", "message", "type"} <= set(e) for e in problem["errors"])


def test_a_missing_field_is_named_in_the_problem(world):
    body = purchase_payload(world.member, world.store)
    del body["total_cents"]
    problem = assert_problem(world.api.post(f"{API}/purchases", body, key="k1"), 422, "validation_error")
    assert problem["errors"] == [{"field": "body.total_cents", "message": "Field required", "type": "missing"}]
    assert "total_cents" in problem["detail"]


# --- POST /purchases: refused by the service (the refusal is stored under the key) -------------

DOMAIN_REFUSALS = {
    "unknown card": ({"member": {"card": "999999999999"}}, 404, "member_not_found"),
    "unknown email": ({"member": {"email": "personne@exemple.fr"}}, 404, "member_not_found"),
    "unknown member id": ({"member": {"id": 10**9}}, 404, "member_not_found"),
    "member id beyond 64 bits": ({"member": {"id": 10**30}}, 404, "member_not_found"),
    "two identifiers": ({"member": {"card": "MEMBER", "email": "anne.dupont@exemple.fr"}}, 422, "member_identifier_invalid"),
    "no identifier": ({"member": {}}, 422, "member_identifier_invalid"),
    "unknown store": ({"store": "marseille-1"}, 404, "store_not_found"),
    "wrong currency": ({"currency": "USD"}, 422, "currency_mismatch"),
    "naive datetime": ({"occurred_at": "2026-03-01T10:00:00"}, 422, "naive_datetime"),
    "in the future": ({"occurred_at": "2099-01-01T10:00:00+01:00"}, 422, "occurred_in_future"),
    "lines do not add up": ({"total_cents": 4250, "lines": [{"quantity": 2, "unit_price_cents": 2000}]}, 422, "lines_total_mismatch"),
    "discount above the line": (
        {"total_cents": 0, "lines": [{"quantity": 1, "unit_price_cents": 100, "discount_cents": 200}]}, 422, "invalid_line",
    ),
}


@pytest.mark.parametrize("change, status, code", DOMAIN_REFUSALS.values(), ids=DOMAIN_REFUSALS.keys())
def test_purchase_refused_by_the_service_writes_only_the_refusal(world, change, status, code):
    body = {**purchase_payload(world.member, world.store), **change}
    if body["member"].get("card") == "MEMBER":
        body["member"]["card"] = world.member.card_number
    with nothing_written(idempotency_records=1):
        assert_problem(world.api.post(f"{API}/purchases", body), status, code)


def test_future_tolerance_is_a_few_minutes(world):
    # A till whose clock is a little fast is fine...
    buy(world.api, world.member, world.store, occurred_at=ago(minutes=-5))
    # ...a purchase an hour ahead is not.
    body = purchase_payload(world.member, world.store, occurred_at=ago(minutes=-60))
    assert_problem(world.api.post(f"{API}/purchases", body), 422, "occurred_in_future")


def test_lowercase_currency_is_accepted(world):
    assert buy(world.api, world.member, world.store, currency="eur")["currency"] == "EUR"


def test_the_largest_amount_is_accepted(world):
    purchase = buy(world.api, world.member, world.store, total_cents=MAX_MINOR)
    assert purchase["points"]["earned"] == MAX_MINOR // 100


# --- refunds ----------------------------------------------------------------------------------


@pytest.fixture
def with_lines(world):
    return buy(
        world.api, world.member, world.store, total_cents=5000,
        lines=[{"sku": "CAFE", "quantity": 2, "unit_price_cents": 1500}, {"sku": "THE", "quantity": 1, "unit_price_cents": 2000}],
    )


REFUND_SCHEMA_REFUSALS = {
    "external_id missing": {"amount_cents": 100},
    "amount zero": {"external_id": "R", "amount_cents": 0},
    "amount negative": {"external_id": "R", "amount_cents": -100},
    "amount as a float": {"external_id": "R", "amount_cents": 10.5},
    "amount as a string": {"external_id": "R", "amount_cents": "100"},
    "amount absurd": {"external_id": "R", "amount_cents": MAX_MINOR + 1},
    "line quantity zero": {"external_id": "R", "lines": [{"position": 1, "quantity": 0}]},
    "line position zero": {"external_id": "R", "lines": [{"position": 0, "quantity": 1}]},
    "currency not a code": {"external_id": "R", "currency": "euros"},
    "occurred_at in year 1": {"external_id": "R", "occurred_at": "0001-01-01T00:00:00+01:00"},
    "unknown field": {"external_id": "R", "reason": "cassé"},
}


@pytest.mark.parametrize("body", REFUND_SCHEMA_REFUSALS.values(), ids=REFUND_SCHEMA_REFUSALS.keys())
def test_refund_refused_by_the_schema_writes_nothing(world, with_lines, body):
    with nothing_written():
        response = world.api.post(f"{API}/purchases/{with_lines['external_id']}/refunds", body, key="k1")
        assert_problem(response, 422, "validation_error")


REFUND_DOMAIN_REFUSALS = {
    "more than the purchase": ({"amount_cents": 5001}, 409, "refund_exceeds_purchase"),
    "amount and lines at once": ({"amount_cents": 100, "lines": [{"position": 1, "quantity": 1}]}, 422, "refund_amount_and_lines"),
    "wrong currency": ({"amount_cents": 100, "currency": "GBP"}, 422, "currency_mismatch"),
    "naive datetime": ({"amount_cents": 100, "occurred_at": "2026-03-01T10:00:00"}, 422, "naive_datetime"),
    "in the future": ({"amount_cents": 100, "occurred_at": "2099-03-01T10:00:00Z"}, 422, "occurred_in_future"),
    "unknown line": ({"lines": [{"position": 9, "quantity": 1}]}, 422, "unknown_line"),
    "unknown sku": ({"lines": [{"sku": "CHOCOLAT", "quantity": 1}]}, 422, "unknown_line"),
    "more of a line than bought": ({"lines": [{"sku": "CAFE", "quantity": 3}]}, 409, "refund_exceeds_purchase"),
}


@pytest.mark.parametrize("change, status, code", REFUND_DOMAIN_REFUSALS.values(), ids=REFUND_DOMAIN_REFUSALS.keys())
def test_refund_refused_by_the_service_writes_only_the_refusal(world, with_lines, change, status, code):
    with nothing_written(idempotency_records=1):
        response = world.api.post(f"{API}/purchases/{with_lines['external_id']}/refunds", {"external_id": "R-1", **change})
        assert_problem(response, status, code)


def test_refund_of_an_unknown_purchase_is_404(world):
    with nothing_written(idempotency_records=1):
        assert_problem(world.api.post(f"{API}/purchases/NOPE/refunds", {"external_id": "R-1"}), 404, "purchase_not_found")


def test_refund_by_lines_of_a_purchase_without_lines(world):
    with nothing_written(idempotency_records=1):
        response = world.api.post(f"{API}/purchases/{world.purchase['external_id']}/refunds", {"external_id": "R-1", "lines": [{"position": 1, "quantity": 1}]})
        assert_problem(response, 422, "purchase_has_no_lines")


def test_refund_of_a_fully_refunded_purchase(world):
    path = f"{API}/purchases/{world.purchase['external_id']}/refunds"
    assert world.api.post(path, {"external_id": "R-1"}).status_code == 201
    with nothing_written(idempotency_records=1):
        assert_problem(world.api.post(path, {"external_id": "R-2"}), 409, "refund_exceeds_purchase")
    with nothing_written(idempotency_records=1):
        assert_problem(world.api.post(path, {"external_id": "R-3", "amount_cents": 1}), 409, "refund_exceeds_purchase")


# --- members ----------------------------------------------------------------------------------

ENROLL_SCHEMA_REFUSALS = {
    "first name too long": {"first_name": "A" * 121},
    "email too long": {"email": "a" * 250 + "@exemple.fr"},
    "phone too long": {"phone": "0" * 33},
    "birthday not a date": {"birthday": "31/02/1990"},
    "consent not a boolean": {"first_name": "Zoé", "consents": {"email": "yes"}},
    "unknown consent channel": {"first_name": "Zoé", "consents": {"fax": True}},
    "name a number": {"first_name": 42},
}


@pytest.mark.parametrize("body", ENROLL_SCHEMA_REFUSALS.values(), ids=ENROLL_SCHEMA_REFUSALS.keys())
def test_enrollment_refused_by_the_schema_writes_nothing(world, body):
    with nothing_written():
        assert_problem(world.api.post(f"{API}/members", body, key="k1"), 422, "validation_error")


ENROLL_DOMAIN_REFUSALS = {
    "invalid email": ({"email": "anne@"}, 422, "invalid_email"),
    "invalid email with spaces": ({"email": "anne dupont@exemple.fr"}, 422, "invalid_email"),
    "invalid phone": ({"phone": "12"}, 422, "invalid_phone"),
    "phone made of letters": ({"phone": "abcdefgh"}, 422, "invalid_phone"),
    "nothing to identify": ({"first_name": "  "}, 422, "member_identity_missing"),
    "unsupported locale": ({"first_name": "Hans", "locale": "de"}, 422, "invalid_locale"),
    "birthday in the future": ({"first_name": "Zoé", "birthday": "2099-01-01"}, 422, "invalid_member"),
    "unknown store": ({"first_name": "Zoé", "store": "marseille-1"}, 404, "store_not_found"),
    "same email": ({"email": "anne.dupont@exemple.fr"}, 409, "member_exists"),
    "same email in capitals": ({"email": "  Anne.DUPONT@Exemple.fr "}, 409, "member_exists"),
    "same phone, international format": ({"phone": "+33612345678"}, 409, "member_exists"),
    "same phone, other spacing": ({"phone": "06.12.34.56.78"}, 409, "member_exists"),
}


@pytest.mark.parametrize("body, status, code", ENROLL_DOMAIN_REFUSALS.values(), ids=ENROLL_DOMAIN_REFUSALS.keys())
def test_enrollment_refused_by_the_service_writes_only_the_refusal(world, body, status, code):
    with nothing_written(idempotency_records=1):
        assert_problem(world.api.post(f"{API}/members", body, key="k1"), status, code)


def test_duplicate_member_names_the_clashing_fields(world):
    body = {"email": world.member.email.upper(), "phone": "+33 6 12 34 56 78"}
    problem = assert_problem(world.api.post(f"{API}/members", body, key="k1"), 409, "member_exists")
    assert problem["fields"] == ["email", "phone"]


GET_REFUSALS = {
    "lookup without identifier": ("/members/lookup", {}, 422, "member_identifier_invalid"),
    "lookup with two identifiers": ("/members/lookup", {"card": "1", "email": "a@b.fr"}, 422, "member_identifier_invalid"),
    "lookup unknown card": ("/members/lookup", {"card": "999999999999"}, 404, "member_not_found"),
    "lookup unknown phone": ("/members/lookup", {"phone": "07 00 00 00 00"}, 404, "member_not_found"),
    "lookup invalid phone": ("/members/lookup", {"phone": "abc"}, 422, "invalid_phone"),
    "lookup invalid email": ("/members/lookup", {"email": "nobody"}, 422, "invalid_email"),
    "lookup NUL": ("/members/lookup", {"card": "1\x00"}, 422, "validation_error"),
    "search bad cursor": ("/members", {"cursor": "not-a-cursor"}, 422, "invalid_cursor"),
    "search NUL": ("/members", {"q": "Du\x00"}, 422, "validation_error"),
    "search limit zero": ("/members", {"limit": 0}, 422, "validation_error"),
    "search limit too big": ("/members", {"limit": 201}, 422, "validation_error"),
    "search limit not a number": ("/members", {"limit": "ten"}, 422, "validation_error"),
    "member id not a number": ("/members/anne", {}, 422, "validation_error"),
    "unknown member": ("/members/999999999", {}, 404, "member_not_found"),
    "member id beyond 64 bits": ("/members/99999999999999999999999", {}, 404, "member_not_found"),
    "balance of unknown member": ("/members/999999999/balance", {}, 404, "member_not_found"),
    "history of unknown member": ("/members/999999999/history", {}, 404, "member_not_found"),
    "card of unknown member": ("/members/999999999/card.svg", {}, 404, "member_not_found"),
    "history bad cursor": ("/members/MEMBER/history", {"cursor": "@@@"}, 422, "invalid_cursor"),
    "history cursor of another kind": ("/members/MEMBER/history", {"cursor": "eDEy"}, 422, "invalid_cursor"),
    "history cursor not a number": ("/members/MEMBER/history", {"cursor": "dHh4"}, 422, "invalid_cursor"),
    "history limit too big": ("/members/MEMBER/history", {"limit": 1000}, 422, "validation_error"),
    "unknown purchase": ("/purchases/NOPE", {}, 404, "purchase_not_found"),
    "purchase id with NUL": ("/purchases/T%00", {}, 422, "validation_error"),
}


@pytest.mark.parametrize("path, params, status, code", GET_REFUSALS.values(), ids=GET_REFUSALS.keys())
def test_reads_with_bad_input_are_4xx_problems(world, path, params, status, code):
    with nothing_written():
        assert_problem(world.api.get(API + path.replace("MEMBER", str(world.member.id)), **params), status, code)


# --- adjustments, transfers, visits -----------------------------------------------------------

ADJUSTMENT_REFUSALS = {
    "points missing": ({"reason": "Geste"}, 422, "validation_error", 0),
    "reason missing": ({"points": 10}, 422, "validation_error", 0),
    "points as a float": ({"points": 10.0, "reason": "Geste"}, 422, "validation_error", 0),
    "points as a string": ({"points": "10", "reason": "Geste"}, 422, "validation_error", 0),
    "points absurd": ({"points": 10**9 + 1, "reason": "Geste"}, 422, "validation_error", 0),
    "points absurdly negative": ({"points": -(10**12), "reason": "Geste"}, 422, "validation_error", 0),
    "reason too long": ({"points": 10, "reason": "x" * 501}, 422, "validation_error", 0),
    "points zero": ({"points": 0, "reason": "Geste"}, 422, "invalid_amount", 1),
    "blank reason": ({"points": 10, "reason": "   "}, 422, "reason_required", 1),
    "more than the balance": ({"points": -43, "reason": "Erreur de caisse"}, 409, "insufficient_points", 1),
}


@pytest.mark.parametrize("body, status, code, stored", ADJUSTMENT_REFUSALS.values(), ids=ADJUSTMENT_REFUSALS.keys())
def test_adjustment_refusals(world, body, status, code, stored):
    with nothing_written(idempotency_records=stored):
        assert_problem(world.api.post(f"{API}/members/{world.member.id}/adjustments", body, key="k1"), status, code)


def test_adjustment_of_an_unknown_member(world):
    with nothing_written(idempotency_records=1):
        response = world.api.post(f"{API}/members/999999999/adjustments", {"points": 10, "reason": "Geste"}, key="k1")
        assert_problem(response, 404, "member_not_found")


TRANSFER_REFUSALS = {
    "points zero": ({"points": 0}, 422, "validation_error", 0),
    "points negative": ({"points": -5}, 422, "validation_error", 0),
    "points as a float": ({"points": 5.0}, 422, "validation_error", 0),
    "points absurd": ({"points": 10**9 + 1}, 422, "validation_error", 0),
    "sender missing": ({"sender": None}, 422, "validation_error", 0),
    "unknown recipient": ({"recipient": {"card": "999999999999"}}, 404, "member_not_found", 1),
    "to oneself": ({"recipient": {"email": "anne.dupont@exemple.fr"}}, 422, "transfer_to_self", 1),
    "more than the balance": ({"points": 43}, 409, "insufficient_points", 1),
}


@pytest.mark.parametrize("change, status, code, stored", TRANSFER_REFUSALS.values(), ids=TRANSFER_REFUSALS.keys())
def test_transfer_refusals(world, change, status, code, stored):
    body = {"sender": {"id": world.member.id}, "recipient": {"card": world.friend.card_number}, "points": 5}
    for field, value in change.items():
        if value is None:
            del body[field]
        else:
            body[field] = value
    with nothing_written(idempotency_records=stored):
        assert_problem(world.api.post(f"{API}/transfers", body, key="k1"), status, code)


VISIT_REFUSALS = {
    "external_id missing": ({"external_id": None}, 422, "validation_error", 0),
    "occurred_at missing": ({"occurred_at": None}, 422, "validation_error", 0),
    "occurred_at in year 1": ({"occurred_at": "0001-01-01T00:00:00+01:00"}, 422, "validation_error", 0),
    "unknown member": ({"member": {"card": "999999999999"}}, 404, "member_not_found", 1),
    "unknown store": ({"store": "marseille-1"}, 404, "store_not_found", 1),
    "naive datetime": ({"occurred_at": "2026-03-01T10:00:00"}, 422, "naive_datetime", 1),
    "in the future": ({"occurred_at": "2099-03-01T10:00:00+01:00"}, 422, "occurred_in_future", 1),
}


@pytest.mark.parametrize("change, status, code, stored", VISIT_REFUSALS.values(), ids=VISIT_REFUSALS.keys())
def test_visit_refusals(world, change, status, code, stored):
    body = {"member": {"card": world.member.card_number}, "store": world.store.code, "external_id": "V-1", "occurred_at": ago(minutes=5)}
    for field, value in change.items():
        if value is None:
            del body[field]
        else:
            body[field] = value
    with nothing_written(idempotency_records=stored):
        assert_problem(world.api.post(f"{API}/visits", body, key="k1"), status, code)


def test_a_wrong_method_is_refused(world):
    with nothing_written():
        response = world.api.client.delete(f"{API}/members/{world.member.id}", HTTP_AUTHORIZATION=f"Bearer {world.api.token}")
    assert response.status_code == 405
