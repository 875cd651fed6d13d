"""Balance (available, pending, expiring soon) and history with reasons in words."""

import datetime as dt

import pytest

from fidelo.api.tests.helpers import API, ago, allow_transfers, assert_problem, buy
from fidelo.conftest import STAFF, make_member
from fidelo.core.clock import local_date, now
from fidelo.tenancy.selectors import forget_program
from fidelo.tenancy.services import program_update

pytestmark = pytest.mark.django_db

EN = {"Accept-Language": "en"}


def settings(org, **changes) -> None:
    program_update(organization=org, actor=STAFF, **changes)
    forget_program(org.id)


def balance(api, member) -> dict:
    response = api.get(f"{API}/members/{member.id}/balance")
    assert response.status_code == 200, response.content
    return response.json()


def history(api, member, headers=None, **params) -> dict:
    response = api.get(f"{API}/members/{member.id}/history", headers=headers, **params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_new_member_has_an_empty_balance_and_history(api, member):
    assert balance(api, member) == {
        "member_id": member.id, "unit": "PTS", "available": 0, "pending": 0, "expiring_within_30_days": 0, "next_expiry": None,
    }
    assert history(api, member) == {"items": [], "next_cursor": None}


def test_points_are_available_after_a_purchase(api, member, store):
    buy(api, member, store)
    assert balance(api, member) | {"member_id": None} == {
        "member_id": None, "unit": "PTS", "available": 42, "pending": 0, "expiring_within_30_days": 0, "next_expiry": None,
    }


def test_purchase_points_are_pending_during_the_return_window(api, org, member, store):
    settings(org, pending_days=14)
    buy(api, member, store)
    assert (balance(api, member)["available"], balance(api, member)["pending"]) == (0, 42)
    entry = history(api, member, EN)["items"][0]
    assert (entry["points"], entry["pending_points"], entry["kind"]) == (0, 42, "earn")
    assert entry["reason"].startswith("Purchase of €42.50 at Paris 11e (pending until ")
    assert entry["reason"].endswith(", the return period)")


def test_fresh_points_expiring_after_one_month_show_as_expiring_soon(api, org, member, store):
    settings(org, expiry_policy="months", expiry_months=1)
    occurred = dt.datetime.fromisoformat(ago(days=3))  # so that even a 31-day month ends within 30 days
    buy(api, member, store, occurred_at=occurred.isoformat())
    result = balance(api, member)
    assert (result["available"], result["expiring_within_30_days"]) == (42, 42)
    next_expiry = dt.datetime.fromisoformat(result["next_expiry"])
    assert now() < next_expiry <= now() + dt.timedelta(days=30)
    assert 28 <= (next_expiry - occurred).days <= 31


def test_points_expiring_in_a_year_are_not_expiring_soon(api, org, member, store):
    settings(org, expiry_policy="months", expiry_months=12)
    buy(api, member, store)
    result = balance(api, member)
    assert (result["available"], result["expiring_within_30_days"]) == (42, 0)
    assert dt.datetime.fromisoformat(result["next_expiry"]) > now() + dt.timedelta(days=360)


def test_the_balance_in_cashback_mode_is_in_cents(api, org, member, store):
    settings(org, currency_mode="cashback", earn_units=2, earn_per_minor=100)  # 2 % back
    buy(api, member, store)
    assert (balance(api, member)["unit"], balance(api, member)["available"]) == ("EUR", 85)


def test_history_tells_why_in_words_in_english(api, org, member, store):
    allow_transfers(org)
    friend = make_member(org, first_name="Bruno", last_name="Martin")
    purchase = buy(api, member, store)
    api.post(f"{API}/purchases/{purchase['external_id']}/refunds", {"external_id": "R-1", "amount_cents": 1000})
    api.post(f"{API}/members/{member.id}/adjustments", {"points": 5, "reason": "Geste commercial"}, key="a1")
    api.post(f"{API}/transfers", {"sender": {"id": member.id}, "recipient": {"id": friend.id}, "points": 7}, key="t1")
    items = history(api, member, EN)["items"]
    # The day of the purchase where the shop is (between 23:00 and midnight UTC, Paris is already tomorrow).
    earned_on = local_date(dt.datetime.fromisoformat(purchase["occurred_at"]), org.timezone).isoformat()
    assert [(e["reason_code"], e["kind"], e["points"]) for e in items] == [
        ("transfer_out", "transfer", -7), ("adjustment", "adjust", 5), ("refund", "reverse", -9), ("purchase", "earn", 42),
    ]
    reasons = [e["reason"] for e in items]
    assert reasons[0] == "Transfer to Bruno Martin"
    assert reasons[1].startswith("Adjustment by ") and reasons[1].endswith(": Geste commercial")
    assert reasons[2] == f"Refund of €10.00 on your purchase of {earned_on}"
    assert reasons[3] == "Purchase of €42.50 at Paris 11e"
    assert items[3]["source_type"] == "purchase" and items[3]["source_id"] == purchase["id"]
    assert all(dt.datetime.fromisoformat(e["occurred_at"]).tzinfo is not None for e in items)
    received = history(api, friend, EN)["items"]
    assert [(e["reason"], e["points"]) for e in received] == [("Transfer from Anne Dupont", 7)]
    assert sum(e["points"] for e in items) == balance(api, member)["available"] == 31


def test_history_speaks_french_by_default(api, member, store):
    buy(api, member, store)
    for headers in (None, {"Accept-Language": "fr-FR,fr;q=0.9"}):
        assert history(api, member, headers)["items"][0]["reason"] == "Achat de 42,50\u00a0€ à Paris 11e"


def test_history_pages_with_a_cursor_newest_first(api, member, store):
    for cents in (100, 200, 300, 400, 500):
        buy(api, member, store, total_cents=cents)
    everything = history(api, member)["items"]
    assert [e["points"] for e in everything] == [5, 4, 3, 2, 1]
    pages, cursor, seen = 0, None, []
    while True:
        page = history(api, member, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == everything
    assert_problem(api.get(f"{API}/members/{member.id}/history", cursor="garbage!"), 422, "invalid_cursor")


def test_history_shows_only_this_members_entries(api, org, member, store):
    other = make_member(org)
    buy(api, other, store)
    buy(api, member, store, total_cents=1000)
    assert [e["points"] for e in history(api, member)["items"]] == [10]
