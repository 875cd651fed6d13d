"""Member portal pages: permissions, home, catalog and redemption, vouchers, transfers, auto-redemption."""

import pytest
from django.test import Client

from fidelo.api.tests.helpers import nothing_written
from fidelo.conftest import STAFF, make_member, make_org, program_of
from fidelo.core.clock import now
from fidelo.ledger.selectors import member_balance
from fidelo.ledger.services import Why, points_earn
from fidelo.rewards.models import (
    OfferEvent,
    OfferEventKind,
    PartnerCode,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from fidelo.rewards.services import reward_add_codes, reward_redeem
from fidelo.rewards.tests.helpers import make_reward
from fidelo.tenancy.services import program_update
from fidelo.web.tests.test_portal_fixtures import (
    allow_transfers,
    portal_client,
    token_of,
    with_points,
)

pytestmark = pytest.mark.django_db

MEMBER_PAGES = ["", "rewards/", "vouchers/", "transfer/", "auto-redemption/"]


def balance_of(org, member) -> int:
    return member_balance(member, "PTS").available


# --- permissions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", MEMBER_PAGES)
def test_anonymous_is_sent_to_sign_in(org, page):
    response = Client().get(f"/portal/{org.slug}/{page}")
    assert response.status_code == 302 and response["Location"].startswith(f"/portal/{org.slug}/signin/")


def test_anonymous_posts_write_nothing(org, member, program):
    reward = make_reward(program, cost=10)
    with_points(org, member, 100)
    with nothing_written():
        assert Client().post(f"/portal/{org.slug}/rewards/{reward.pk}/", {"form_token": "x" * 24}).status_code == 302
        assert Client().post(f"/portal/{org.slug}/auto-redemption/", {"reward": reward.pk}).status_code == 302


@pytest.mark.parametrize("page", MEMBER_PAGES)
def test_a_member_of_another_organization_cannot_see_this_one(org, page):
    other = make_org("autre-cafe")
    stranger = make_member(other, email="x@autre.fr")
    client = portal_client(other, stranger)
    assert client.get(f"/portal/{other.slug}/{page}").status_code == 200
    response = client.get(f"/portal/{org.slug}/{page}")
    assert response.status_code == 302 and "/signin/" in response["Location"]


def test_unknown_organization_is_404(member):
    assert Client().get("/portal/nulle-part/").status_code == 404
    assert Client().get("/portal/nulle-part/signin/").status_code == 404


def test_forms_need_the_csrf_token(org, member, program):
    reward = make_reward(program, cost=10)
    with_points(org, member, 100)
    client = portal_client(org, member, Client(enforce_csrf_checks=True))
    with nothing_written():
        assert client.post(f"/portal/{org.slug}/rewards/{reward.pk}/", {"form_token": "a" * 24}).status_code == 403


# --- home -------------------------------------------------------------------------------------------


def test_home_shows_balance_card_progress_and_history(org, member, program):
    make_reward(program, cost=500, title_fr="Café offert", title_en="Free coffee")
    points_earn(program=program, member=member, amount=120, occurred_at=now(), pending_days=0,
                why=Why(reason="bonus", params={"label": "bienvenue"}, source_type="bonus", actor="system"))
    points_earn(program=program, member=member, amount=30, occurred_at=now(), pending_days=14,
                why=Why(reason="bonus", params={"label": "achat"}, source_type="bonus", actor="system"))
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    page = client.get(f"/portal/{org.slug}/").content.decode()
    assert 'data-balance>120 pts<' in page
    assert 'data-pending>30 pts<' in page
    assert member.card_number in page and "<svg" in page  # the card's QR code
    assert "Free coffee" in page and 'aria-valuenow="24"' in page  # 120 of 500
    assert "Bonus: bienvenue" in page


def test_history_is_paginated(org, member, program):
    for n in range(25):
        points_earn(program=program, member=member, amount=n + 1, occurred_at=now(), pending_days=0,
                    why=Why(reason="bonus", params={"label": f"b{n}"}, source_type="bonus", actor="system"))
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    first = client.get(f"/portal/{org.slug}/").content.decode()
    assert "Bonus: b24" in first and "Bonus: b0<" not in first
    older = first.split('href="?cursor=', 1)[1].split('"', 1)[0]
    second = client.get(f"/portal/{org.slug}/?cursor={older}").content.decode()
    assert "Bonus: b0" in second and "Bonus: b24" not in second
    assert client.get(f"/portal/{org.slug}/?cursor=%%%bad").status_code == 302


def test_home_query_count_does_not_grow_with_history(org, member, program, django_assert_max_num_queries):
    make_reward(program, cost=10_000)
    for n in range(30):
        points_earn(program=program, member=member, amount=n + 1, occurred_at=now(), pending_days=0,
                    why=Why(reason="bonus", params={"label": f"b{n}"}, source_type="bonus", actor="system"))
    client = portal_client(org, member)
    client.get(f"/portal/{org.slug}/")  # warm the program cache
    with django_assert_max_num_queries(12):  # organization, session, member, balances (2 units), history, next reward
        assert client.get(f"/portal/{org.slug}/").status_code == 200


def test_cashback_program_shows_euros(member):
    org = make_org("cashback-shop", currency_mode="cashback")
    shopper = make_member(org, email="shop@exemple.fr")
    program = program_of(org)
    points_earn(program=program, member=shopper, amount=1250, occurred_at=now(), pending_days=0,
                why=Why(reason="bonus", params={"label": "x"}, source_type="bonus", actor="system"))
    client = portal_client(org, shopper)
    client.cookies["django_language"] = "en"
    assert "€12.50" in client.get(f"/portal/{org.slug}/").content.decode()


# --- catalog and redemption ------------------------------------------------------------------------------


def test_catalog_lists_rewards_and_records_seen_once(org, member, program):
    cheap = make_reward(program, cost=10, title_fr="Petit café")
    dear = make_reward(program, cost=10_000, title_fr="Grand voyage")
    make_reward(program, cost=5, title_fr="Éteinte", active=False)
    with_points(org, member, 50)
    client = portal_client(org, member)
    page = client.get(f"/portal/{org.slug}/rewards/").content.decode()
    assert "Petit café" in page and "Grand voyage" in page and "Éteinte" not in page
    client.get(f"/portal/{org.slug}/rewards/")
    seen = OfferEvent.objects.filter(member=member, kind=OfferEventKind.SEEN)
    assert sorted(seen.values_list("reward_id", flat=True)) == sorted([cheap.pk, dear.pk])


def test_redeem_confirm_then_voucher_with_qr(org, member, program):
    reward = make_reward(program, cost=40, title_fr="Remise 5 €")
    with_points(org, member, 100)
    client = portal_client(org, member)
    confirm = client.get(f"/portal/{org.slug}/rewards/{reward.pk}/")
    assert confirm.status_code == 200 and Voucher.objects.count() == 0  # the confirmation step writes nothing
    token = token_of(confirm.content.decode())
    response = client.post(f"/portal/{org.slug}/rewards/{reward.pk}/", {"form_token": token})
    voucher = Voucher.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/portal/{org.slug}/vouchers/{voucher.code}/"
    assert voucher.channel == "portal" and voucher.member_id == member.pk and balance_of(org, member) == 60
    page = client.get(response["Location"]).content.decode()
    assert voucher.code in page and "<svg" in page and "Remise 5 €" in page
    assert voucher.code in client.get(f"/portal/{org.slug}/vouchers/").content.decode()


def test_double_submit_redeems_once(org, member, program):
    reward = make_reward(program, cost=40)
    with_points(org, member, 100)
    client = portal_client(org, member)
    token = token_of(client.get(f"/portal/{org.slug}/rewards/{reward.pk}/").content.decode())
    first = client.post(f"/portal/{org.slug}/rewards/{reward.pk}/", {"form_token": token})
    second = client.post(f"/portal/{org.slug}/rewards/{reward.pk}/", {"form_token": token})
    assert Voucher.objects.count() == 1
    assert first["Location"] == second["Location"]
    assert balance_of(org, member) == 60


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda program: make_reward(program, cost=500), "your balance is 100 points, 500 are needed"),
        (lambda program: make_reward(program, cost=10, stock=0), "out of stock"),
        (lambda program: make_reward(program, cost=10, allowed_tiers=["gold"]), "reserved for other tiers"),
        (lambda program: make_reward(program, cost=10, active=False), "not offered at the moment"),
    ],
    ids=["insufficient_points", "out_of_stock", "tier_not_allowed", "reward_inactive"],
)
def test_refusals_are_shown_and_nothing_changes(org, member, program, setup, message):
    reward = setup(program)
    with_points(org, member, 100)
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    token = token_of(client.get(f"/portal/{org.slug}/rewards/{reward.pk}/").content.decode())
    with nothing_written(idempotency_records=1):  # the refusal is the key's answer: a retry is refused the same way
        response = client.post(f"/portal/{org.slug}/rewards/{reward.pk}/", {"form_token": token})
    assert response.status_code in (403, 409)
    assert message in response.content.decode()


def test_limit_per_member_is_shown(org, member, program):
    reward = make_reward(program, cost=10, limit_per_member=1)
    with_points(org, member, 100)
    reward_redeem(program=program, member=member, reward=reward)
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    token = token_of(client.get(f"/portal/{org.slug}/rewards/{reward.pk}/").content.decode())
    with nothing_written(idempotency_records=1):
        response = client.post(f"/portal/{org.slug}/rewards/{reward.pk}/", {"form_token": token})
    assert response.status_code == 409 and "limit for this reward (1 per member)" in response.content.decode()


def test_redeem_without_a_valid_token_writes_nothing(org, member, program):
    reward = make_reward(program, cost=10)
    with_points(org, member, 100)
    client = portal_client(org, member)
    with nothing_written():
        for data in ({}, {"form_token": "short"}, {"form_token": "bad token with spaces!!"}):
            response = client.post(f"/portal/{org.slug}/rewards/{reward.pk}/", data)
            assert response.status_code == 400 and b"data-error" in response.content


def test_reward_of_another_organization_is_404(org, member):
    other = make_org("autre-cafe")
    foreign = make_reward(program_of(other), cost=10)
    client = portal_client(org, member)
    with nothing_written():
        assert client.get(f"/portal/{org.slug}/rewards/{foreign.pk}/").status_code == 404
        assert client.post(f"/portal/{org.slug}/rewards/{foreign.pk}/", {"form_token": "b" * 24}).status_code == 404


def test_partner_code_is_shown_and_not_cancellable(org, member, program):
    reward = make_reward(program, RewardKind.PARTNER_CODE, cost=10)
    reward_add_codes(reward=reward, codes=["CINE-1234"], actor=STAFF)
    with_points(org, member, 100)
    client = portal_client(org, member)
    token = token_of(client.get(f"/portal/{org.slug}/rewards/{reward.pk}/").content.decode())
    page = client.get(client.post(f"/portal/{org.slug}/rewards/{reward.pk}/", {"form_token": token})["Location"]).content.decode()
    assert "CINE-1234" in page and "data-cancel" not in page
    assert PartnerCode.objects.get().voucher_id == Voucher.objects.get().pk


# --- vouchers ----------------------------------------------------------------------------------------------


def test_cancel_an_unused_voucher_gives_points_back_once(org, member, program):
    reward = make_reward(program, cost=40)
    with_points(org, member, 100)
    voucher = reward_redeem(program=program, member=member, reward=reward).voucher
    client = portal_client(org, member)
    page = client.get(f"/portal/{org.slug}/vouchers/{voucher.code}/").content.decode()
    token = token_of(page)
    for _ in range(2):  # a double submit cancels once
        response = client.post(f"/portal/{org.slug}/vouchers/{voucher.code}/cancel/", {"form_token": token})
        assert response.status_code == 302
    voucher.refresh_from_db()
    assert voucher.status == VoucherStatus.CANCELLED and balance_of(org, member) == 100
    # Cancelling again (a new form) is refused clearly.
    client.cookies["django_language"] = "en"
    with nothing_written(idempotency_records=1):
        response = client.post(f"/portal/{org.slug}/vouchers/{voucher.code}/cancel/", {"form_token": "c" * 24}, follow=True)
    assert "was cancelled" in response.content.decode()


def test_someone_elses_voucher_is_404(org, member, program):
    reward = make_reward(program, cost=10)
    other = make_member(org, email="autre@exemple.fr")
    with_points(org, other, 100)
    voucher = reward_redeem(program=program, member=other, reward=reward).voucher
    client = portal_client(org, member)
    with nothing_written():
        assert client.get(f"/portal/{org.slug}/vouchers/{voucher.code}/").status_code == 404
        assert client.post(f"/portal/{org.slug}/vouchers/{voucher.code}/cancel/", {"form_token": "d" * 24}).status_code == 404
    assert voucher.code not in client.get(f"/portal/{org.slug}/vouchers/").content.decode()


def test_vouchers_filter_and_paginate(org, member, program):
    reward = make_reward(program, cost=1)
    with_points(org, member, 100)
    codes = [reward_redeem(program=program, member=member, reward=reward).voucher.code for _ in range(22)]
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    first = client.get(f"/portal/{org.slug}/vouchers/").content.decode()
    assert codes[-1] in first and codes[0] not in first
    assert codes[0] in client.get(f"/portal/{org.slug}/vouchers/?page=2").content.decode()
    assert codes[0] not in client.get(f"/portal/{org.slug}/vouchers/?status=used").content.decode()
    assert client.get(f"/portal/{org.slug}/vouchers/?status=nonsense&page=zzz").status_code == 200


# --- transfers ------------------------------------------------------------------------------------------------


def transfer(client, org, recipient: str, points: str):
    review = client.post(f"/portal/{org.slug}/transfer/", {"step": "review", "recipient": recipient, "points": points})
    return review


def confirm(client, org, review, recipient: str, points: str):
    token = token_of(review.content.decode())
    return client.post(f"/portal/{org.slug}/transfer/", {"step": "confirm", "recipient": recipient, "points": points, "form_token": token})


def test_transfer_not_offered(org, member):
    with_points(org, member, 100)
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    page = client.get(f"/portal/{org.slug}/transfer/").content.decode()
    assert "does not allow transfers" in page and 'name="recipient"' not in page
    recipient = make_member(org, email="b@exemple.fr")
    with nothing_written(idempotency_records=1):
        response = client.post(f"/portal/{org.slug}/transfer/", {"step": "confirm", "recipient": recipient.email, "points": "10",
                                                                  "form_token": "e" * 24})
    assert response.status_code == 403 and "does not allow transfers" in response.content.decode()


def test_a_member_confirms_a_transfer(org, member):
    allow_transfers(org, transfer_min=5, transfer_max_per_day=500)
    recipient = make_member(org, first_name="Bruno", last_name="Martin", email="bruno@exemple.fr")
    with_points(org, member, 100)
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    with nothing_written():
        review = transfer(client, org, recipient.card_number, "30")
    assert review.status_code == 200 and "You are sending 30 pts to Bruno M." in review.content.decode()
    done = confirm(client, org, review, recipient.card_number, "30")
    assert done.status_code == 200 and "30 pts sent to Bruno M." in done.content.decode()
    again = client.post(f"/portal/{org.slug}/transfer/", {"step": "confirm", "recipient": recipient.card_number, "points": "30",
                                                          "form_token": token_of(review.content.decode())})
    assert again.status_code == 200  # the same form twice: one transfer
    assert balance_of(org, member) == 70 and balance_of(org, recipient) == 30
    # By email too; both histories show it.
    confirm(client, org, transfer(client, org, "BRUNO@exemple.fr", "10"), "BRUNO@exemple.fr", "10")
    assert balance_of(org, recipient) == 40
    assert "Transfer to Bruno Martin" in client.get(f"/portal/{org.slug}/").content.decode()
    bruno = portal_client(org, recipient)
    bruno.cookies["django_language"] = "en"
    assert "Transfer from Anne Dupont" in bruno.get(f"/portal/{org.slug}/").content.decode()


@pytest.mark.parametrize(
    "recipient, points, status, message",
    [
        ("999999999999", "10", 422, "No member found"),
        ("nobody@exemple.fr", "10", 422, "No member found"),
        ("SELF", "abc", 422, "whole number"),
        ("SELF", "-5", 422, "whole number"),
        ("SELF", "0", 422, "whole number"),
        ("", "10", 422, "card number or email"),
    ],
)
def test_bad_transfer_input_is_refused_before_confirming(org, member, recipient, points, status, message):
    allow_transfers(org)
    with_points(org, member, 100)
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    recipient = member.card_number if recipient == "SELF" else recipient
    with nothing_written():
        response = transfer(client, org, recipient, points)
    assert response.status_code == status and message in response.content.decode()


@pytest.mark.parametrize(
    "points, message",
    [("3", "minimum transfer is 5"), ("110", "your balance is 100 points, 110 are needed"), ("130", "at most 120 points a day")],
)
def test_transfer_refusals_at_confirmation(org, member, points, message):
    allow_transfers(org, transfer_min=5, transfer_max_per_day=120)
    recipient = make_member(org, email="b@exemple.fr")
    with_points(org, member, 100)
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    review = transfer(client, org, recipient.email, points)
    with nothing_written(idempotency_records=1):
        response = confirm(client, org, review, recipient.email, points)
    assert response.status_code in (409, 422) and message in response.content.decode()


def test_transfer_to_self_is_refused(org, member):
    allow_transfers(org)
    with_points(org, member, 100)
    client = portal_client(org, member)
    client.cookies["django_language"] = "en"
    review = transfer(client, org, member.card_number, "10")
    with nothing_written(idempotency_records=1):
        response = confirm(client, org, review, member.card_number, "10")
    assert response.status_code == 422 and "to yourself" in response.content.decode()


# --- auto-redemption and language -------------------------------------------------------------------------------


def test_auto_redemption_choice(org, member, program):
    reward = make_reward(program, cost=10, title_fr="Café")
    client = portal_client(org, member)
    assert client.post(f"/portal/{org.slug}/auto-redemption/", {"reward": reward.pk}).status_code == 302
    assert member.auto_redemption.reward_id == reward.pk
    assert f'value="{reward.pk}" checked' in client.get(f"/portal/{org.slug}/auto-redemption/").content.decode()
    assert client.post(f"/portal/{org.slug}/auto-redemption/", {"reward": "none"}).status_code == 302
    from fidelo.rewards.models import AutoRedemption

    assert not AutoRedemption.objects.filter(member=member).exists()
    foreign = make_reward(program_of(make_org("autre-cafe")), cost=10)
    with nothing_written():
        for bad in ("abc", str(foreign.pk), "99999999999999999999"):
            assert client.post(f"/portal/{org.slug}/auto-redemption/", {"reward": bad}).status_code == 422


def test_language_switch_and_branding(org, member):
    program_update(organization=org, actor=STAFF, brand_color="#aa3300", brand_logo_url="https://exemple.fr/logo.png")
    client = portal_client(org, member)
    response = client.post(f"/portal/{org.slug}/language/", {"language": "en", "next": f"/portal/{org.slug}/rewards/"})
    assert response.status_code == 302 and response["Location"] == f"/portal/{org.slug}/rewards/"
    page = client.get(f"/portal/{org.slug}/").content.decode()
    assert 'lang="en"' in page and "My digital card" in page
    assert "--brand: #aa3300" in page and 'src="https://exemple.fr/logo.png"' in page
    # An outside "next" is ignored.
    assert client.post(f"/portal/{org.slug}/language/", {"language": "fr", "next": "https://ailleurs.example/"})["Location"] == f"/portal/{org.slug}/"
