"""A member's side of the catalog: redemptions, vouchers, auto-redemption and the euro wallet."""

import datetime as dt

import pytest

from fidelo.api.tests.helpers import (
    API,
    assert_problem,
    client_for,
    nothing_written,
    send,
    state,
    unique,
    with_rewards,
)
from fidelo.conftest import STAFF, program_of
from fidelo.core.clock import now
from fidelo.rewards.models import AutoRedemption
from fidelo.rewards.services import reward_create
from fidelo.tenancy.services import store_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def rw(world):
    return with_rewards(world)


def points(api, member) -> int:
    return api.get(f"{API}/members/{member.id}/balance").json()["available"]


def redeem(w, reward_id: int, key: str | None = None, member=None, **extra):
    member = member or w.member
    return w.api.post(f"{API}/members/{member.id}/redemptions", {"reward_id": reward_id, **extra}, key=key or unique("redeem"))


def reward(w, **fields):
    values = {"kind": "voucher_amount", "title_fr": "Bon", "cost_points": 10, "amount_minor": 500, **fields}
    return reward_create(organization=w.org, program=program_of(w.org), actor=STAFF, **values)


# --- redemptions ---------------------------------------------------------------------------------


def test_a_redemption_spends_the_points_and_returns_the_voucher(rw):
    response = redeem(rw, rw.reward.id, key="r-1", channel="pos")
    assert response.status_code == 201, response.content
    voucher = response.json()
    assert len(voucher["code"]) == 16
    assert (voucher["status"], voucher["points"], voucher["channel"], voucher["member_id"]) == ("issued", 10, "pos", rw.member.id)
    assert voucher["reward"] == {
        "id": rw.reward.id, "kind": "voucher_amount", "title_fr": "Bon de 5 €", "title_en": "", "amount_cents": 500, "percent_bp": 0,
        "min_basket_cents": 0, "product_sku": "", "charity_name": "",
    }
    assert voucher["partner_code"] is None
    assert voucher["qr_url"] == f"{API}/vouchers/{voucher['code']}/qr.svg"
    issued, expires = dt.datetime.fromisoformat(voucher["issued_at"]), dt.datetime.fromisoformat(voucher["expires_at"])
    assert expires - issued == dt.timedelta(days=30) and issued.tzinfo is not None
    assert points(rw.api, rw.member) == 12  # 22 - 10
    assert rw.api.get(f"{API}/vouchers/{voucher['code']}").json() == voucher
    latest = rw.api.get(f"{API}/members/{rw.member.id}/history").json()["items"][0]
    assert (latest["points"], latest["reason_code"]) == (-10, "redemption")


def test_a_retried_redemption_returns_the_first_voucher_and_spends_once(rw):
    first = redeem(rw, rw.reward.id, key="r-1")
    with nothing_written():
        again = redeem(rw, rw.reward.id, key="r-1")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert points(rw.api, rw.member) == 12
    with nothing_written():
        assert_problem(redeem(rw, rw.reward.id, key="r-1", channel="portal"), 409, "idempotency_key_reused")


def test_the_idempotency_key_is_required_for_a_redemption(rw):
    with nothing_written():
        assert_problem(rw.api.post(f"{API}/members/{rw.member.id}/redemptions", {"reward_id": rw.reward.id}), 422, "idempotency_key_required")


def test_not_enough_points_is_refused_with_the_balance(rw):
    dear = reward(rw, cost_points=500)
    with nothing_written(idempotency_records=1):
        problem = assert_problem(redeem(rw, dear.id), 409, "insufficient_points")
    assert (problem["balance"], problem["requested"]) == (22, 500)


def test_each_refusal_has_its_own_code_and_writes_nothing(rw):
    cases = {
        "reward_not_found": (404, 999_999),
        "reward_inactive": (409, reward(rw, active=False).id),
        "reward_not_yet_valid": (409, reward(rw, valid_from=now() + dt.timedelta(days=2)).id),
        "reward_expired": (409, reward(rw, valid_from=now() - dt.timedelta(days=9), valid_until=now() - dt.timedelta(days=1)).id),
        "tier_not_allowed": (403, reward(rw, allowed_tiers=["gold"]).id),  # nobody has a tier yet
        "out_of_stock": (409, reward(rw, stock=0).id),
    }
    for code, (status, reward_id) in cases.items():
        with nothing_written(idempotency_records=1):
            problem = assert_problem(redeem(rw, reward_id), status, code)
        if code == "tier_not_allowed":
            assert problem["allowed_tiers"] == ["gold"]


def test_the_last_unit_goes_to_one_member(rw):
    last = reward(rw, stock=1)
    assert redeem(rw, last.id).status_code == 201
    with nothing_written(idempotency_records=1):
        assert_problem(redeem(rw, last.id), 409, "out_of_stock")
    assert rw.api.get(f"{API}/rewards/{last.id}").json()["stock"] == 0


def test_the_limit_per_member(rw):
    once = reward(rw, limit_per_member=1, cost_points=1)
    assert redeem(rw, once.id).status_code == 201
    with nothing_written(idempotency_records=1):
        problem = assert_problem(redeem(rw, once.id), 409, "limit_per_member_reached")
    assert problem["limit"] == 1


def test_a_reward_of_another_organization_is_not_found(rw):
    from fidelo.conftest import make_org

    other_org = make_org("salle-de-sport")
    theirs = reward_create(organization=other_org, program=program_of(other_org), actor=STAFF, kind="experience", title_fr="Cours", cost_points=1)
    with nothing_written(idempotency_records=1):
        assert_problem(redeem(rw, theirs.id), 404, "reward_not_found")
    with nothing_written(idempotency_records=1):
        assert_problem(redeem(rw, 2**70), 404, "reward_not_found")


@pytest.mark.parametrize(
    "body",
    [{"reward_id": "1"}, {"reward_id": 1.0}, {"reward_id": 0}, {"reward_id": -3}, {"reward_id": None}, {}, {"reward_id": 1, "channel": "till"},
     {"reward_id": 1, "channel": "auto"}, {"reward_id": 1, "points": 5}],
    ids=str,
)
def test_ill_typed_redemptions_are_422(rw, body):
    with nothing_written():
        assert_problem(rw.api.post(f"{API}/members/{rw.member.id}/redemptions", body, key="bad"), 422, "validation_error")


def test_a_redemption_for_an_unknown_member_is_404(rw):
    with nothing_written(idempotency_records=1):
        assert_problem(rw.api.post(f"{API}/members/999999/redemptions", {"reward_id": rw.reward.id}, key="k"), 404, "member_not_found")


# --- the member's vouchers ----------------------------------------------------------------------


def test_the_member_vouchers_newest_first_by_status_and_by_page(rw):
    second = redeem(rw, rw.reward.id).json()
    third = redeem(rw, rw.partner.id).json()
    rw.api.post(f"{API}/vouchers/{second['code']}/cancel", key="c1")
    listed = rw.api.get(f"{API}/members/{rw.member.id}/vouchers").json()
    assert [v["code"] for v in listed["items"]][:3] == [third["code"], second["code"], rw.voucher.code]
    assert len(listed["items"]) == 4  # and the wallet credit, used on the spot
    assert listed["next_cursor"] is None
    assert [v["code"] for v in rw.api.get(f"{API}/members/{rw.member.id}/vouchers", status="cancelled").json()["items"]] == [second["code"]]
    issued = rw.api.get(f"{API}/members/{rw.member.id}/vouchers", status="issued").json()["items"]
    assert [(v["code"], v["partner_code"]) for v in issued] == [(rw.voucher.code, None)]
    used = rw.api.get(f"{API}/members/{rw.member.id}/vouchers", status="used").json()["items"]
    assert (third["code"], "CINE-A") in [(v["code"], v["partner_code"]) for v in used]  # delivered when handed out
    codes, cursor = [], None
    while True:
        page = rw.api.get(f"{API}/members/{rw.member.id}/vouchers", limit=3, **({"cursor": cursor} if cursor else {})).json()
        codes += [v["code"] for v in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert codes == [v["code"] for v in listed["items"]]
    assert_problem(rw.api.get(f"{API}/members/{rw.member.id}/vouchers", status="lost"), 422, "validation_error")
    assert_problem(rw.api.get(f"{API}/members/{rw.member.id}/vouchers", cursor="WyJrIiwgIjIwMjYiLCAxXQ"), 422, "invalid_cursor")
    assert rw.api.get(f"{API}/members/{rw.friend.id}/vouchers").json() == {"items": [], "next_cursor": None}


# --- auto-redemption ------------------------------------------------------------------------------


def test_a_member_chooses_and_drops_a_reward_to_issue_automatically(rw):
    path = f"{API}/members/{rw.member.id}/auto-redemption"
    response = send(rw.api, "PUT", path, {"reward_id": rw.reward.id})
    assert response.status_code == 200, response.content
    assert response.json() == {"member_id": rw.member.id, "reward_id": rw.reward.id}
    assert send(rw.api, "PUT", path, {"reward_id": rw.partner.id}).json()["reward_id"] == rw.partner.id
    assert AutoRedemption.objects.get(member=rw.member).reward_id == rw.partner.id
    assert send(rw.api, "PUT", path, {"reward_id": None}).json() == {"member_id": rw.member.id, "reward_id": None}
    assert not AutoRedemption.objects.exists()
    with nothing_written():
        assert_problem(send(rw.api, "PUT", path, {"reward_id": 999_999}), 404, "reward_not_found")
        for body in ({}, {"reward_id": "1"}, {"reward_id": 1.5}, {"reward_id": 0}, {"reward": 1}):
            assert_problem(send(rw.api, "PUT", path, body), 422, "validation_error")
        assert_problem(send(rw.api, "PUT", f"{API}/members/999999/auto-redemption", {"reward_id": None}), 404, "member_not_found")


# --- the wallet ---------------------------------------------------------------------------------------


def test_the_wallet_is_spent_at_the_till_up_to_what_it_holds(rw):
    wallet = f"{API}/members/{rw.member.id}/wallet"
    assert rw.api.get(wallet).json() == {"member_id": rw.member.id, "currency": "EUR", "balance_cents": 500}
    first = rw.api.post(f"{wallet}/spend", {"basket_cents": 300, "store": "paris-11"}, key="w-1")
    assert first.status_code == 200, first.content
    assert first.json() == {"member_id": rw.member.id, "currency": "EUR", "applied_cents": 300, "balance_cents": 200}
    with nothing_written():
        again = rw.api.post(f"{wallet}/spend", {"basket_cents": 300, "store": "paris-11"}, key="w-1")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    rest = rw.api.post(f"{wallet}/spend", {"basket_cents": 1000}, key="w-2").json()
    assert (rest["applied_cents"], rest["balance_cents"]) == (200, 0)
    assert rw.api.get(wallet).json()["balance_cents"] == 0
    assert points(rw.api, rw.member) == 22  # the points are another ledger
    with nothing_written(idempotency_records=1):
        problem = assert_problem(rw.api.post(f"{wallet}/spend", {"basket_cents": 100}, key="w-3"), 409, "wallet_empty")
    assert problem["balance_cents"] == 0


def test_a_member_without_wallet_has_zero_and_cannot_spend(world):
    assert world.api.get(f"{API}/members/{world.friend.id}/wallet").json()["balance_cents"] == 0
    with nothing_written(idempotency_records=1):
        assert_problem(world.api.post(f"{API}/members/{world.friend.id}/wallet/spend", {"basket_cents": 100}, key="w"), 409, "wallet_empty")


@pytest.mark.parametrize(
    "body",
    [{"basket_cents": 0}, {"basket_cents": -100}, {"basket_cents": 12.5}, {"basket_cents": "300"}, {"basket_cents": 10**12}, {},
     {"basket_cents": True}, {"basket_cents": 100, "amount_cents": 100}],
    ids=str,
)
def test_ill_typed_wallet_spending_is_422(rw, body):
    with nothing_written():
        assert_problem(rw.api.post(f"{API}/members/{rw.member.id}/wallet/spend", body, key="bad"), 422, "validation_error")


def test_wallet_spending_at_an_unknown_store_or_for_another_store_is_refused(rw):
    lyon = store_create(organization=rw.org, code="lyon-2", name="Lyon 2e")
    path = f"{API}/members/{rw.member.id}/wallet/spend"
    with nothing_written(idempotency_records=1):
        assert_problem(rw.api.post(path, {"basket_cents": 100, "store": "nowhere"}, key="w1"), 404, "store_not_found")
    till = client_for(rw.org, store=lyon)
    with nothing_written(idempotency_records=1):
        assert_problem(till.post(path, {"basket_cents": 100, "store": "paris-11"}, key="w2"), 403, "store_not_allowed")
    assert till.post(path, {"basket_cents": 100}, key="w3").json()["balance_cents"] == 400


def test_a_wallet_credit_reward_fills_the_wallet(world):
    credit = reward(world, kind="wallet_credit", title_fr="10 € dans la cagnotte", cost_points=40, amount_minor=1000)
    voucher = redeem(world, credit.id).json()
    assert (voucher["status"], voucher["used_value_cents"], voucher["expires_at"]) == ("used", 1000, None)
    assert world.api.get(f"{API}/members/{world.member.id}/wallet").json()["balance_cents"] == 1000
    assert points(world.api, world.member) == 2
    before = state()
    assert_problem(world.api.post(f"{API}/vouchers/{voucher['code']}/use", {"basket_cents": 100}, key="u"), 409, "voucher_not_usable_at_till")
    assert state()["voucher"] == before["voucher"]
