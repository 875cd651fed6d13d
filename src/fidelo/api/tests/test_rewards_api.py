"""The rewards catalog through the API: create, list, get, update, partner codes, offer tracking, charity totals."""

import datetime as dt

import pytest

from fidelo.api.tests.helpers import (
    API,
    ago,
    assert_problem,
    nothing_written,
    send,
    state,
    with_rewards,
)
from fidelo.conftest import make_member
from fidelo.core.clock import now
from fidelo.core.models import AuditEntry
from fidelo.rewards.models import Reward
from fidelo.tenancy.services import store_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def rw(world):
    return with_rewards(world)


def in_days(days: float) -> str:
    return (now() + dt.timedelta(days=days)).isoformat()


def create(api, key: str, **fields):
    body = {"kind": "voucher_amount", "title_fr": "Bon de 5 €", "cost_points": 10, "amount_cents": 500, **fields}
    return api.post(f"{API}/rewards", body, key=key)


def test_a_reward_is_created_with_every_field_and_read_back(world):
    lyon = store_create(organization=world.org, code="lyon-2", name="Lyon 2e")
    body = {
        "kind": "voucher_percent", "title_fr": "15 % sur le panier", "title_en": "15% off", "description_fr": "Dès 20 €",
        "description_en": "From 20 €", "image_url": "https://exemple.fr/15.png", "cost_points": 150, "stock": 100,
        "valid_from": "2026-01-01T00:00:00+01:00", "valid_until": "2036-01-01T00:00:00+01:00", "limit_per_member": 2,
        "allowed_tiers": ["gold"], "stores": ["paris-11", "lyon-2", "paris-11"], "active": False, "percent_bp": 1500,
        "min_basket_cents": 2000, "voucher_days": 60, "refund_points_on_expiry": True,
    }
    response = world.api.post(f"{API}/rewards", body, key="r-1")
    assert response.status_code == 201, response.content
    reward = response.json()
    assert reward == {
        **{k: v for k, v in body.items() if k not in {"valid_from", "valid_until", "stores"}},
        "id": reward["id"], "created_at": reward["created_at"], "stores": ["lyon-2", "paris-11"],
        "valid_from": "2025-12-31T23:00:00Z", "valid_until": "2035-12-31T23:00:00Z",
        "amount_cents": 0, "product_sku": "", "charity_name": "",
    }
    assert world.api.get(f"{API}/rewards/{reward['id']}").json() == reward
    stored = Reward.objects.get(pk=reward["id"])
    assert sorted(stored.stores.values_list("pk", flat=True)) == sorted([world.store.pk, lyon.pk])
    assert AuditEntry.objects.filter(action="reward.create", target_id=str(reward["id"])).count() == 1


def test_the_catalog_lists_what_is_on_offer_now_cheapest_first(rw):
    api = rw.api
    create(api, "c1", title_fr="Pas encore", cost_points=1, valid_from=in_days(3))
    create(api, "c2", title_fr="Fini", cost_points=2, valid_from=ago(days=10), valid_until=ago(days=1))
    create(api, "c3", title_fr="Inactif", cost_points=3, active=False)
    create(api, "c4", title_fr="Épuisé", cost_points=4, stock=0)
    create(api, "c5", title_fr="Café offert", kind="free_product", cost_points=8, product_sku="ESP")
    offered = api.get(f"{API}/rewards").json()
    assert [r["title_fr"] for r in offered["items"]] == ["Place de cinéma", "Café offert", "Bon de 5 €", "5 € dans la cagnotte"]
    assert offered["next_cursor"] is None
    everything = api.get(f"{API}/rewards", all="true").json()["items"]
    assert [r["title_fr"] for r in everything][:4] == ["Pas encore", "Fini", "Inactif", "Épuisé"]
    assert len(everything) == 8


def test_the_catalog_is_paginated_with_a_cursor(rw):
    for n in range(3):
        create(rw.api, f"p{n}", title_fr=f"Bon {n}", cost_points=10)  # same cost as "Bon de 5 €": the id breaks the tie
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = rw.api.get(f"{API}/rewards", **params).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(Reward.objects.filter(organization=rw.org).order_by("cost_points", "pk").values_list("pk", flat=True))
    assert len(seen) == 6
    for bad in ("nope", "eyJhIjogMX0", "WyJrIiwgIngiLCAxXQ"):  # not base64 JSON; {"a": 1}; ["k", "x", 1]
        assert_problem(rw.api.get(f"{API}/rewards", cursor=bad), 422, "invalid_cursor")


def test_refused_rewards_write_nothing(world):
    refusals = [
        ({"amount_cents": 0}, 422, "invalid_reward"),  # a fixed amount voucher needs its amount
        ({"kind": "donation"}, 422, "invalid_reward"),  # a donation needs its association
        ({"valid_from": in_days(5), "valid_until": in_days(1)}, 422, "invalid_reward"),
        ({"title_fr": "   "}, 422, "invalid_reward"),
        ({"valid_from": "2026-03-01T10:00:00"}, 422, "naive_datetime"),
        ({"stores": ["marseille-1"]}, 404, "store_not_found"),
    ]
    for n, (fields, status, code) in enumerate(refusals):
        with nothing_written(idempotency_records=1):
            assert_problem(create(world.api, f"bad-{n}", **fields), status, code)


@pytest.mark.parametrize(
    "fields",
    [
        {"cost_points": "10"}, {"cost_points": 10.0}, {"cost_points": 0}, {"cost_points": -5}, {"cost_points": 10**10},
        {"cost_points": True}, {"amount_cents": 4.99}, {"amount_cents": -1}, {"amount_cents": 10**12}, {"percent_bp": 10001},
        {"stock": -1}, {"limit_per_member": 0}, {"voucher_days": 0}, {"voucher_days": 10_000}, {"kind": "cash"},
        {"title_fr": None}, {"title_fr": "x" * 201}, {"allowed_tiers": "gold"}, {"stores": "paris-11"}, {"active": "yes"},
        {"valid_until": "tomorrow"}, {"valid_from": "1999-01-01T00:00:00+01:00"}, {"bonus": 1},
    ],
    ids=str,
)
def test_ill_typed_or_absurd_reward_fields_are_422(world, fields):
    with nothing_written():
        assert_problem(create(world.api, "bad", **fields), 422, "validation_error")


def test_a_reward_is_updated_field_by_field(rw):
    path = f"{API}/rewards/{rw.reward.id}"
    before = rw.api.get(path).json()
    response = send(rw.api, "PATCH", path, {"title_en": "5 € voucher", "stock": 3, "stores": ["paris-11"], "valid_until": in_days(30)})
    assert response.status_code == 200, response.content
    after = response.json()
    assert (after["title_en"], after["stock"], after["stores"], after["title_fr"]) == ("5 € voucher", 3, ["paris-11"], "Bon de 5 €")
    assert after["valid_until"] is not None
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"title_en", "stock", "stores", "valid_until"}
    # null clears where it means something: unlimited stock, no end date, every store.
    cleared = send(rw.api, "PATCH", path, {"stock": None, "valid_until": None, "stores": []}).json()
    assert (cleared["stock"], cleared["valid_until"], cleared["stores"]) == (None, None, [])
    assert rw.api.get(path).json() == cleared
    assert AuditEntry.objects.filter(action="reward.update", target_id=str(rw.reward.id)).count() == 2


def test_refused_updates_write_nothing(rw):
    path = f"{API}/rewards/{rw.reward.id}"
    cases = [
        ({"title_fr": None}, 422, "validation_error"),
        ({"cost_points": 2.5}, 422, "validation_error"),
        ({"kind": "donation"}, 422, "validation_error"),  # the kind is set at creation
        ({"amount_cents": 0}, 422, "invalid_reward"),
        ({"valid_from": in_days(9), "valid_until": in_days(2)}, 422, "invalid_reward"),
        ({"stores": ["nowhere"]}, 404, "store_not_found"),
    ]
    for body, status, code in cases:
        with nothing_written():
            assert_problem(send(rw.api, "PATCH", path, body), status, code)
    with nothing_written():
        assert_problem(send(rw.api, "PATCH", f"{API}/rewards/999999", {"title_en": "x"}), 404, "reward_not_found")


def test_an_unknown_reward_is_404(world):
    for path in (f"{API}/rewards/424242", f"{API}/rewards/424242/stats", f"{API}/rewards/{2**63}"):
        assert_problem(world.api.get(path), 404, "reward_not_found")


def test_partner_codes_are_uploaded_and_handed_out_once_each(rw):
    rw.api.post(f"{API}/members/{rw.member.id}/adjustments", {"points": 100, "reason": "Geste"}, key="a1")
    path = f"{API}/rewards/{rw.partner.id}/codes"
    response = rw.api.post(path, {"codes": ["CINE-B", "CINE-C", " CINE-D ", "CINE-C"]}, key="codes-1")
    assert response.status_code == 201, response.content
    assert response.json() == {"reward_id": rw.partner.id, "added": 2}  # CINE-B was already there
    handed = []
    for n in range(4):
        voucher = rw.api.post(f"{API}/members/{rw.member.id}/redemptions", {"reward_id": rw.partner.id}, key=f"cine-{n}").json()
        handed.append(voucher["partner_code"])
        assert rw.api.get(f"{API}/vouchers/{voucher['code']}").json()["partner_code"] == voucher["partner_code"]
    assert handed == ["CINE-A", "CINE-B", "CINE-C", "CINE-D"]
    with nothing_written(idempotency_records=1):
        assert_problem(rw.api.post(f"{API}/members/{rw.member.id}/redemptions", {"reward_id": rw.partner.id}, key="cine-5"),
                       409, "partner_codes_exhausted")


def test_only_a_partner_reward_takes_codes(rw):
    with nothing_written(idempotency_records=1):
        assert_problem(rw.api.post(f"{API}/rewards/{rw.reward.id}/codes", {"codes": ["X"]}, key="k"), 422, "reward_has_no_codes")
    for body in ({"codes": []}, {"codes": "X"}, {"codes": [1]}, {"codes": ["x" * 201]}):
        with nothing_written():
            assert_problem(rw.api.post(f"{API}/rewards/{rw.partner.id}/codes", body, key="k2"), 422, "validation_error")
    with nothing_written(idempotency_records=1):
        assert_problem(rw.api.post(f"{API}/rewards/{rw.partner.id}/codes", {"codes": ["  "]}, key="k3"), 422, "invalid_reward")


def test_offer_tracking_counts_members_who_saw_requested_and_used(rw):
    other = make_member(rw.org)
    seen_path = f"{API}/rewards/{rw.reward.id}/seen"
    first = rw.api.post(seen_path, {"member": {"id": rw.member.id}}, key="s1")
    assert first.status_code == 201, first.content
    assert {k: first.json()[k] for k in ("reward_id", "member_id", "kind")} == {"reward_id": rw.reward.id, "member_id": rw.member.id, "kind": "seen"}
    rw.api.post(seen_path, {"member": {"id": rw.member.id}}, key="s2")  # the same member twice counts once
    rw.api.post(seen_path, {"member": {"email": other.email}}, key="s3")
    rw.api.post(seen_path, {"member": {"id": rw.friend.id}}, key="s4")
    rw.api.post(f"{API}/vouchers/{rw.voucher.code}/use", {"store": "paris-11", "basket_cents": 1000}, key="u1")
    stats = rw.api.get(f"{API}/rewards/{rw.reward.id}/stats").json()
    # with_rewards() redeemed one voucher for the member; it was just used.
    assert stats == {"reward_id": rw.reward.id, "seen": 3, "requested": 1, "used": 1, "penetration_rate": 0.3333, "usage_rate": 1.0}
    assert rw.api.get(f"{API}/rewards/{rw.partner.id}/stats").json() == {
        "reward_id": rw.partner.id, "seen": 0, "requested": 0, "used": 0, "penetration_rate": None, "usage_rate": None,
    }
    with nothing_written(idempotency_records=1):
        assert_problem(rw.api.post(seen_path, {"member": {"card": "999999999999"}}, key="s5"), 404, "member_not_found")


def test_charity_totals_add_up_donations_per_association(world):
    world.api.post(f"{API}/members/{world.member.id}/adjustments", {"points": 100, "reason": "Geste"}, key="a1")
    ids = [
        create(world.api, key, kind="donation", title_fr=title, charity_name=name, cost_points=cost, amount_cents=cents).json()["id"]
        for key, title, name, cost, cents in [
            ("d1", "Don aux Restos", "Les Restos du Cœur", 20, 200), ("d2", "Don SPA", "SPA", 10, 100),
        ]
    ]
    assert world.api.get(f"{API}/rewards/charity/totals").json() == {"currency": "EUR", "items": []}
    for n, reward_id in enumerate([ids[0], ids[0], ids[1]]):
        donation = world.api.post(f"{API}/members/{world.member.id}/redemptions", {"reward_id": reward_id, "channel": "portal"}, key=f"don-{n}")
        assert donation.status_code == 201, donation.content
        assert (donation.json()["status"], donation.json()["expires_at"], donation.json()["used_value_cents"]) == ("used", None, donation.json()["reward"]["amount_cents"])
    assert world.api.get(f"{API}/rewards/charity/totals").json() == {
        "currency": "EUR",
        "items": [
            {"association": "Les Restos du Cœur", "donations": 2, "points": 40, "amount_cents": 400},
            {"association": "SPA", "donations": 1, "points": 10, "amount_cents": 100},
        ],
    }


def test_creating_a_reward_is_idempotent(world):
    first = create(world.api, "same")
    before = state()
    again = create(world.api, "same")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert state() == before
    assert_problem(create(world.api, "same", cost_points=11), 409, "idempotency_key_reused")
