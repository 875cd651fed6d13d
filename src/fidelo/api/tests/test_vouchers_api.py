"""Vouchers at the till: look up, QR code, value on a basket, use exactly once, cancel, expiry."""

import datetime as dt

import pytest

from fidelo.api.tests.helpers import (
    API,
    assert_problem,
    client_for,
    nothing_written,
    state,
    unique,
    with_rewards,
)
from fidelo.conftest import STAFF, make_org, program_of
from fidelo.core.clock import now, travel_to
from fidelo.rewards.services import reward_create, reward_redeem, vouchers_expire_due
from fidelo.tenancy.services import store_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def rw(world):
    return with_rewards(world)


def issue(w, **fields) -> str:
    """A voucher of a new reward (1 point) for the member; its code."""
    values = {"kind": "voucher_amount", "title_fr": "Bon", "cost_points": 1, "amount_minor": 500, **fields}
    stores = values.pop("stores", None)
    program = program_of(w.org)
    reward = reward_create(organization=w.org, program=program, actor=STAFF, stores=stores, **values)
    return reward_redeem(program=program, member=w.member, reward=reward).voucher.code


def validate(w, code: str, **body):
    return w.api.post(f"{API}/vouchers/{code}/validate", {"store": "paris-11", "basket_cents": 2000, **body})


def use(w, code: str, key: str | None = None, client=None, **body):
    return (client or w.api).post(f"{API}/vouchers/{code}/use", {"store": "paris-11", "basket_cents": 2000, **body}, key=key or unique("use"))


def cancel(w, code: str, key: str | None = None):
    return w.api.post(f"{API}/vouchers/{code}/cancel", key=key or unique("cancel"))


def points(w) -> int:
    return w.api.get(f"{API}/members/{w.member.id}/balance").json()["available"]


def test_a_voucher_is_looked_up_by_its_code_however_it_is_typed(rw):
    voucher = rw.api.get(f"{API}/vouchers/{rw.voucher.code}").json()
    assert (voucher["code"], voucher["status"], voucher["member_id"], voucher["points"]) == (rw.voucher.code, "issued", rw.member.id, 10)
    typed = "-".join(rw.voucher.code[i:i + 4] for i in range(0, 16, 4)).lower()
    assert rw.api.get(f"{API}/vouchers/{typed}").json() == voucher
    assert_problem(rw.api.get(f"{API}/vouchers/NOPE"), 404, "voucher_not_found")


def test_the_voucher_qr_code_is_an_svg(rw):
    response = rw.api.get(f"{API}/vouchers/{rw.voucher.code}/qr.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg")
    assert_problem(rw.api.get(f"{API}/vouchers/NOPE/qr.svg"), 404, "voucher_not_found")


def test_validation_says_what_the_voucher_is_worth_and_changes_nothing(rw):
    with nothing_written():
        response = validate(rw, rw.voucher.code, basket_cents=2000)  # no Idempotency-Key needed
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["value_cents"], body["basket_cents"], body["voucher"]["code"], body["voucher"]["status"]) == (500, 2000, rw.voucher.code, "issued")
    assert validate(rw, rw.voucher.code, basket_cents=300).json()["value_cents"] == 300  # never more than the basket


def test_each_kind_of_voucher_is_valued_on_the_basket(rw):
    percent = issue(rw, kind="voucher_percent", percent_bp=1500)
    assert validate(rw, percent, basket_cents=2999).json()["value_cents"] == 449  # rounded down
    coffee = issue(rw, kind="free_product", product_sku="ESP", amount_minor=0)
    lines = [{"sku": "CRO", "quantity": 1, "unit_price_cents": 120}, {"sku": "ESP", "quantity": 2, "unit_price_cents": 180}]
    assert validate(rw, coffee, basket_cents=480, lines=lines).json()["value_cents"] == 180
    assert validate(rw, coffee, basket_cents=120, lines=lines[:1]).json()["value_cents"] == 0
    capped = issue(rw, kind="free_product", product_sku="ESP", amount_minor=150)
    assert validate(rw, capped, basket_cents=480, lines=lines).json()["value_cents"] == 150
    visit = issue(rw, kind="experience", amount_minor=0)
    assert validate(rw, visit, basket_cents=0).json()["value_cents"] == 0


def test_a_voucher_is_used_exactly_once(rw):
    before = points(rw)
    first = use(rw, rw.voucher.code, key="till-1/0001", basket_cents=2000, purchase_external_id="T-900",
                lines=[{"sku": "ESP", "quantity": 1, "unit_price_cents": 2000}])
    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["value_cents"], body["basket_cents"]) == (500, 2000)
    voucher = body["voucher"]
    assert (voucher["status"], voucher["used_store"], voucher["used_value_cents"], voucher["used_purchase_external_id"]) == ("used", "paris-11", 500, "T-900")
    assert voucher["used_at"] is not None
    assert rw.api.get(f"{API}/vouchers/{rw.voucher.code}").json() == voucher
    with nothing_written():  # the till retries: the first answer again
        again = use(rw, rw.voucher.code, key="till-1/0001", basket_cents=2000, purchase_external_id="T-900",
                    lines=[{"sku": "ESP", "quantity": 1, "unit_price_cents": 2000}])
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    with nothing_written(idempotency_records=1):  # another till, another key: refused
        problem = assert_problem(use(rw, rw.voucher.code, key="till-2/0001"), 409, "voucher_used")
    assert problem["used_at"] is not None
    for code in (rw.voucher.code,):
        with nothing_written(idempotency_records=1):
            assert_problem(cancel(rw, code), 409, "voucher_used")
        with nothing_written():
            assert_problem(validate(rw, code), 409, "voucher_used")
    assert points(rw) == before


def test_the_idempotency_key_is_required_at_the_till(rw):
    for path in (f"{API}/vouchers/{rw.voucher.code}/use", f"{API}/vouchers/{rw.voucher.code}/cancel"):
        with nothing_written():
            assert_problem(rw.api.post(path, {"store": "paris-11", "basket_cents": 100} if path.endswith("use") else None), 422,
                           "idempotency_key_required")
    with nothing_written():
        assert_problem(use(rw, rw.voucher.code, key="x" * 256), 422, "idempotency_key_invalid")


def test_a_cancelled_voucher_gives_the_points_back_once(rw):
    before = points(rw)
    first = cancel(rw, rw.voucher.code, key="c-1")
    assert first.status_code == 200, first.content
    assert (first.json()["status"], first.json()["closed_at"] is not None) == ("cancelled", True)
    assert points(rw) == before + 10
    with nothing_written():
        again = cancel(rw, rw.voucher.code, key="c-1")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    with nothing_written(idempotency_records=1):
        assert_problem(cancel(rw, rw.voucher.code, key="c-2"), 409, "voucher_cancelled")
    with nothing_written(idempotency_records=1):
        assert_problem(use(rw, rw.voucher.code), 409, "voucher_cancelled")
    assert points(rw) == before + 10


def test_cancelling_gives_the_stock_back(rw):
    code = issue(rw, stock=1)
    reward_id = rw.api.get(f"{API}/vouchers/{code}").json()["reward"]["id"]
    assert rw.api.get(f"{API}/rewards/{reward_id}").json()["stock"] == 0
    assert cancel(rw, code).status_code == 200
    assert rw.api.get(f"{API}/rewards/{reward_id}").json()["stock"] == 1


def test_an_expired_voucher_is_refused(rw):
    later = now() + dt.timedelta(days=31)
    with travel_to(later):
        with nothing_written():
            assert_problem(validate(rw, rw.voucher.code), 409, "voucher_expired")
        with nothing_written(idempotency_records=1):
            problem = assert_problem(use(rw, rw.voucher.code), 409, "voucher_expired")
        assert problem["expired_at"] == rw.voucher.expires_at.isoformat()
    assert vouchers_expire_due(at=later) == 1
    assert rw.api.get(f"{API}/vouchers/{rw.voucher.code}").json()["status"] == "expired"
    with nothing_written(idempotency_records=1):
        assert_problem(cancel(rw, rw.voucher.code), 409, "voucher_expired")
    with nothing_written(idempotency_records=1):
        assert_problem(use(rw, rw.voucher.code), 409, "voucher_expired")


def test_a_voucher_for_some_stores_only(rw):
    lyon = store_create(organization=rw.org, code="lyon-2", name="Lyon 2e")
    code = issue(rw, stores=[lyon])
    with nothing_written():
        assert_problem(validate(rw, code, store="paris-11"), 403, "voucher_store_not_allowed")
        assert_problem(validate(rw, code, store=None), 403, "voucher_store_not_allowed")  # an organization key without a store
    with nothing_written(idempotency_records=1):
        assert_problem(use(rw, code, store="paris-11"), 403, "voucher_store_not_allowed")
    assert validate(rw, code, store="lyon-2").json()["value_cents"] == 500
    till = client_for(rw.org, store=lyon)
    response = use(rw, code, client=till, store=None)  # a store key acts for its own store
    assert (response.status_code, response.json()["voucher"]["used_store"]) == (200, "lyon-2")


def test_a_store_key_cannot_use_a_voucher_for_another_store(rw):
    lyon = store_create(organization=rw.org, code="lyon-2", name="Lyon 2e")
    till = client_for(rw.org, store=lyon)
    with nothing_written():
        assert_problem(till.post(f"{API}/vouchers/{rw.voucher.code}/validate", {"store": "paris-11", "basket_cents": 100}), 403, "store_not_allowed")
    with nothing_written(idempotency_records=1):
        assert_problem(use(rw, rw.voucher.code, client=till, store="paris-11"), 403, "store_not_allowed")
    with nothing_written():
        assert_problem(validate(rw, rw.voucher.code, store="marseille-1"), 404, "store_not_found")


def test_the_minimum_basket(rw):
    code = issue(rw, min_basket_minor=2000)
    with nothing_written():
        problem = assert_problem(validate(rw, code, basket_cents=1999), 409, "minimum_basket_not_met")
    assert problem["minimum_basket_cents"] == 2000
    with nothing_written(idempotency_records=1):
        assert_problem(use(rw, code, basket_cents=1999), 409, "minimum_basket_not_met")
    assert use(rw, code, basket_cents=2000).json()["value_cents"] == 500


def test_partner_codes_and_donations_are_not_used_at_the_till(rw):
    partner = reward_redeem(program=program_of(rw.org), member=rw.member, reward=rw.partner).voucher
    with nothing_written():
        assert_problem(validate(rw, partner.code), 409, "voucher_not_usable_at_till")
    with nothing_written(idempotency_records=1):
        assert_problem(use(rw, partner.code), 409, "voucher_not_usable_at_till")
    with nothing_written(idempotency_records=1):  # the member has seen the partner's code: no points back
        assert_problem(cancel(rw, partner.code), 409, "voucher_not_cancellable")


def test_unknown_vouchers_and_other_organizations_vouchers_are_not_found(rw):
    other_org = make_org("salle-de-sport")
    other = client_for(other_org)
    for client, code in ((rw.api, "0000000000000000"), (other, rw.voucher.code)):
        with nothing_written():
            assert_problem(client.get(f"{API}/vouchers/{code}"), 404, "voucher_not_found")
            assert_problem(client.post(f"{API}/vouchers/{code}/validate", {"basket_cents": 100}), 404, "voucher_not_found")
        for action in ("use", "cancel"):
            with nothing_written(idempotency_records=1):
                assert_problem(client.post(f"{API}/vouchers/{code}/{action}", {"basket_cents": 100} if action == "use" else None, key=unique("k")),
                               404, "voucher_not_found")


@pytest.mark.parametrize(
    "body",
    [{"basket_cents": 12.5}, {"basket_cents": -1}, {"basket_cents": "2000"}, {"basket_cents": 10**12}, {},
     {"basket_cents": 100, "lines": [{"sku": "ESP", "quantity": 0, "unit_price_cents": 100}]},
     {"basket_cents": 100, "lines": [{"sku": "ESP", "quantity": 1, "unit_price_cents": 1.5}]},
     {"basket_cents": 100, "lines": [{"sku": "ESP", "quantity": 1}]},
     {"basket_cents": 100, "lines": [{"sku": "ESP", "quantity": 1, "unit_price_cents": 100, "name": "x"}]},
     {"basket_cents": 100, "discount_cents": 5}, {"basket_cents": 100, "store": 11}],
    ids=str,
)
def test_ill_typed_baskets_are_422(rw, body):
    with nothing_written():
        assert_problem(rw.api.post(f"{API}/vouchers/{rw.voucher.code}/validate", body), 422, "validation_error")
        assert_problem(rw.api.post(f"{API}/vouchers/{rw.voucher.code}/use", body, key="bad"), 422, "validation_error")


def test_one_use_one_change_whatever_the_retries(rw):
    before = state()
    for _ in range(3):
        assert use(rw, rw.voucher.code, key="till-1/0001").status_code == 200
    after = state()
    assert (after["idempotency"] - before["idempotency"], after["offer_event"] - before["offer_event"]) == (1, 1)
    assert after["transfer"] == before["transfer"]
