"""The till (POS): staff login, finding a member, purchases, vouchers, redemption and wallet at the till."""

import datetime as dt
import html

import pytest
from django.test import Client

from fidelo.api.tests.helpers import nothing_written
from fidelo.conftest import make_member, make_org
from fidelo.ledger.selectors import member_balance
from fidelo.purchases.models import Purchase
from fidelo.rewards.models import (
    OfferEvent,
    OfferEventKind,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from fidelo.rewards.services import reward_redeem
from fidelo.rewards.tests.helpers import make_reward
from fidelo.tenancy.services import store_create
from fidelo.web.tests.test_portal_fixtures import (
    make_staff,
    till_client,
    token_of,
    with_points,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # Argon2 takes a second per user


@pytest.fixture
def cashier(org):
    return make_staff(org)


@pytest.fixture
def till(cashier) -> Client:
    client = till_client(cashier)
    client.cookies["django_language"] = "en"
    return client


def points(member) -> int:
    return member_balance(member, "PTS").available


def member_page(till, org, member) -> str:
    return till.get(f"/pos/{org.slug}/members/{member.pk}/").content.decode()


# --- access ------------------------------------------------------------------------------------------------


def till_pages(org, member, voucher_code: str) -> list[tuple[str, str]]:
    base = f"/pos/{org.slug}"
    return [
        ("get", f"{base}/"), ("get", f"{base}/members/{member.pk}/"), ("get", f"{base}/vouchers/{voucher_code}/"),
        ("post", f"{base}/store/"), ("post", f"{base}/members/{member.pk}/purchase/"), ("post", f"{base}/members/{member.pk}/redeem/"),
        ("post", f"{base}/members/{member.pk}/wallet/"), ("post", f"{base}/vouchers/{voucher_code}/use/"),
    ]


def test_anonymous_is_sent_to_the_login(org, member, program):
    with_points(org, member, 100)
    code = reward_redeem(program=program, member=member, reward=make_reward(program, cost=10)).voucher.code
    with nothing_written():
        for method, url in till_pages(org, member, code):
            response = getattr(Client(), method)(url, {"amount": "10", "basket": "10", "form_token": "f" * 24})
            assert response.status_code == 302 and response["Location"].startswith("/pos/login/"), url


def test_a_cashier_of_another_organization_gets_404(org, member, program):
    with_points(org, member, 100)
    code = reward_redeem(program=program, member=member, reward=make_reward(program, cost=10)).voucher.code
    other = make_org("autre-cafe")
    stranger = till_client(make_staff(other, username="ailleurs"))
    assert stranger.get(f"/pos/{other.slug}/").status_code == 200
    with nothing_written():
        for method, url in till_pages(org, member, code):
            response = getattr(stranger, method)(url, {"amount": "10", "basket": "10", "reward": "1", "form_token": "f" * 24})
            assert response.status_code == 404, url
    # Its own till cannot reach this organization's members or vouchers either.
    assert stranger.get(f"/pos/{other.slug}/members/{member.pk}/").status_code == 404
    assert stranger.get(f"/pos/{other.slug}/vouchers/{code}/").status_code == 404


def test_login_and_index(org, cashier):
    client = Client()
    assert client.get("/pos/login/").status_code == 200
    assert client.post("/pos/login/", {"username": "caissier", "password": "faux"}).status_code == 200
    response = client.post("/pos/login/", {"username": "caissier", "password": "mot-de-passe-sûr-42"})
    assert response.status_code == 302 and response["Location"] == "/pos/"
    assert client.get("/pos/")["Location"] == f"/pos/{org.slug}/"
    assert client.post("/pos/logout/").status_code == 302
    assert client.get(f"/pos/{org.slug}/").status_code == 302


def test_a_user_without_membership_has_no_till(db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username="personne", password="x" * 12)
    assert till_client(user).get("/pos/").status_code == 403


def test_a_user_of_two_organizations_chooses(org):
    user = make_staff(org, username="multi")
    other = make_org("autre-cafe")
    from fidelo.tenancy.models import StaffMembership

    StaffMembership.objects.create(organization=other, user=user)
    page = till_client(user).get("/pos/").content.decode()
    assert f"/pos/{org.slug}/" in page and f"/pos/{other.slug}/" in page


# --- finding a member ---------------------------------------------------------------------------------------


def test_find_by_card_phone_email_or_scanned_code(org, member, program, till):
    with_points(org, member, 100)
    voucher = reward_redeem(program=program, member=member, reward=make_reward(program, cost=10)).voucher
    member_url = f"/pos/{org.slug}/members/{member.pk}/"
    for query in (member.card_number, "06 12 34 56 78", "+33612345678", "ANNE.DUPONT@exemple.fr"):
        assert till.get(f"/pos/{org.slug}/", {"q": query})["Location"] == member_url, query
    spaced = "-".join(voucher.code[i:i + 4] for i in range(0, 16, 4)).lower()
    assert till.get(f"/pos/{org.slug}/", {"q": spaced})["Location"] == f"/pos/{org.slug}/vouchers/{voucher.code}/"
    for unknown in ("000000000000", "nobody@exemple.fr", "ZZZZ", "!!!"):
        response = till.get(f"/pos/{org.slug}/", {"q": unknown})
        assert response.status_code == 404 and b"data-error" in response.content, unknown


def test_member_page_shows_balance(org, member, till):
    with_points(org, member, 120)
    page = member_page(till, org, member)
    assert "data-balance>120 pts<" in page and member.card_number in page


def test_a_member_of_another_organization_is_404(org, till):
    stranger = make_member(make_org("autre-cafe"), email="x@autre.fr")
    assert till.get(f"/pos/{org.slug}/members/{stranger.pk}/").status_code == 404
    assert till.get(f"/pos/{org.slug}/", {"q": stranger.card_number}).status_code == 404


def test_choose_the_store(org, till, store):
    response = till.post(f"/pos/{org.slug}/store/", {"store": store.pk, "next": f"/pos/{org.slug}/"})
    assert response.status_code == 302
    assert f'value="{store.pk}" selected' in till.get(f"/pos/{org.slug}/").content.decode()
    foreign = store_create(organization=make_org("autre-cafe"), code="ailleurs", name="Ailleurs")
    till.post(f"/pos/{org.slug}/store/", {"store": foreign.pk, "next": "https://evil.example/"})
    assert "selected" not in till.get(f"/pos/{org.slug}/").content.decode()


# --- purchases ------------------------------------------------------------------------------------------


def test_record_a_purchase_credits_points_once(org, member, till, store):
    till.post(f"/pos/{org.slug}/store/", {"store": store.pk})
    token = token_of(member_page(till, org, member))
    for _ in range(2):  # a double tap
        response = till.post(f"/pos/{org.slug}/members/{member.pk}/purchase/", {"amount": "12,50", "form_token": token})
        assert response.status_code == 302
    purchase = Purchase.objects.get()
    assert purchase.total_minor == 1250 and purchase.store_id == store.pk and points(member) == 12
    page = till.get(response["Location"]).content.decode()
    assert "€12.50 recorded: 12 pts credited" in page


@pytest.mark.parametrize("amount", ["", "abc", "-3", "0", "12,345", "1e5", "999999999999999"])
def test_a_bad_amount_is_refused_and_nothing_is_written(org, member, till, amount):
    token = token_of(member_page(till, org, member))
    with nothing_written():
        response = till.post(f"/pos/{org.slug}/members/{member.pk}/purchase/", {"amount": amount, "form_token": token})
    assert response.status_code == 422 and "Enter the amount of the purchase" in response.content.decode()


def test_purchase_without_token_or_with_unknown_store(org, member, till):
    with nothing_written():
        assert till.post(f"/pos/{org.slug}/members/{member.pk}/purchase/", {"amount": "10"}).status_code == 400
        response = till.post(f"/pos/{org.slug}/members/{member.pk}/purchase/", {"amount": "10", "store": "99999", "form_token": "g" * 24})
        assert response.status_code == 422


def test_purchase_for_a_closed_member_is_refused(org, member, till):
    from fidelo.members.models import Member, MemberStatus

    Member.objects.filter(pk=member.pk).update(status=MemberStatus.CLOSED)
    token = token_of(member_page(till, org, member))
    with nothing_written(idempotency_records=1):
        response = till.post(f"/pos/{org.slug}/members/{member.pk}/purchase/", {"amount": "10", "form_token": token})
    assert response.status_code == 409 and "account is closed" in response.content.decode()


# --- vouchers -----------------------------------------------------------------------------------------------


def test_validate_then_use_a_voucher(org, member, program, till, store):
    till.post(f"/pos/{org.slug}/store/", {"store": store.pk})
    with_points(org, member, 100)
    voucher = reward_redeem(program=program, member=member, reward=make_reward(program, cost=40, amount_minor=500, min_basket_minor=2000)).voucher
    url = f"/pos/{org.slug}/vouchers/{voucher.code}/"
    with nothing_written():
        below = till.get(url, {"basket": "15"})
        checked = till.get(url, {"basket": "25,00"})
    assert below.status_code == 409 and "below this voucher's minimum (€20.00)" in html.unescape(below.content.decode())
    page = checked.content.decode()
    assert "<strong>€5.00</strong>" in page and "<strong>€20.00</strong>" in page
    token = token_of(page)
    for _ in range(2):  # a double tap uses once
        response = till.post(f"{url}use/", {"basket": "25,00", "form_token": token})
        assert response.status_code == 302
    voucher.refresh_from_db()
    assert voucher.status == VoucherStatus.USED and voucher.used_value_minor == 500 and voucher.used_store_id == store.pk
    assert OfferEvent.objects.filter(kind=OfferEventKind.USED).count() == 1
    assert "Voucher used: €5.00 off; €20.00 to pay." in till.get(url).content.decode()
    # Another till (another form) is refused.
    with nothing_written(idempotency_records=1):
        response = till.post(f"{url}use/", {"basket": "25,00", "form_token": "h" * 24})
    assert response.status_code == 409 and "already used" in response.content.decode()


def test_voucher_refusals_at_the_till(org, member, program, till, store):
    other_store = store_create(organization=org, code="lyon", name="Lyon")
    with_points(org, member, 100)
    only_lyon = reward_redeem(program=program, member=member, reward=make_reward(program, cost=10, stores=[other_store])).voucher
    till.post(f"/pos/{org.slug}/store/", {"store": store.pk})
    with nothing_written():
        response = till.get(f"/pos/{org.slug}/vouchers/{only_lyon.code}/", {"basket": "30"})
        assert response.status_code == 403 and "cannot be used in this store" in response.content.decode()
        response = till.get(f"/pos/{org.slug}/vouchers/{only_lyon.code}/", {"basket": "trente"})
        assert response.status_code == 422
        response = till.post(f"/pos/{org.slug}/vouchers/{only_lyon.code}/use/", {"basket": "", "form_token": "i" * 24})
        assert response.status_code == 422
    assert till.get(f"/pos/{org.slug}/vouchers/NOPE0000NOPE0000/").status_code == 404


def test_free_product_voucher_takes_the_product_price(org, member, program, till):
    with_points(org, member, 100)
    voucher = reward_redeem(program=program, member=member, reward=make_reward(program, RewardKind.FREE_PRODUCT, cost=10, amount_minor=400)).voucher
    page = till.get(f"/pos/{org.slug}/vouchers/{voucher.code}/", {"basket": "10", "product": "3,20"}).content.decode()
    assert "<strong>€3.20</strong>" in page


# --- redemption and wallet at the till ---------------------------------------------------------------------------


def test_redeem_a_reward_for_the_member_at_the_till(org, member, program, till):
    reward = make_reward(program, cost=40, title_fr="Remise")
    with_points(org, member, 100)
    token = token_of(member_page(till, org, member), "form_token")
    page = member_page(till, org, member)
    token = page.split(f'action="/pos/{org.slug}/members/{member.pk}/redeem/"', 1)[1].split('name="form_token" value="', 1)[1].split('"', 1)[0]
    for _ in range(2):
        response = till.post(f"/pos/{org.slug}/members/{member.pk}/redeem/", {"reward": reward.pk, "form_token": token})
        assert response.status_code == 302
    voucher = Voucher.objects.get()
    assert voucher.channel == "pos" and points(member) == 60
    assert response["Location"] == f"/pos/{org.slug}/vouchers/{voucher.code}/"


def test_redeem_at_the_till_refused_without_points(org, member, program, till):
    reward = make_reward(program, cost=400)
    with_points(org, member, 100)
    with nothing_written(idempotency_records=1):
        response = till.post(f"/pos/{org.slug}/members/{member.pk}/redeem/", {"reward": reward.pk, "form_token": "j" * 24})
    assert response.status_code == 409 and "your balance is 100 points, 400 are needed" in response.content.decode()
    with nothing_written():
        assert till.post(f"/pos/{org.slug}/members/{member.pk}/redeem/", {"reward": "x", "form_token": "k" * 24}).status_code == 422


def test_redeem_a_campaign_offer_at_the_till_at_its_campaign_cost(org, member, program, till):
    from fidelo.conftest import STAFF
    from fidelo.core.clock import now
    from fidelo.rewards.campaign_selectors import campaign_stats
    from fidelo.rewards.campaigns import campaign_create, campaign_offer_set

    reward = make_reward(program, cost=40, title_fr="Remise")
    campaign = campaign_create(organization=org, actor=STAFF, code="hiver", name_fr="Offres d'hiver", starts_at=now() - dt.timedelta(days=1))
    campaign_offer_set(campaign=campaign, reward=reward, actor=STAFF, cost_points=25)
    with_points(org, member, 100)
    page = member_page(till, org, member)
    assert f'value="c:hiver:{reward.pk}"' in page and "Offres d&#x27;hiver" in page
    token = page.split(f'action="/pos/{org.slug}/members/{member.pk}/redeem/"', 1)[1].split('name="form_token" value="', 1)[1].split('"', 1)[0]
    response = till.post(f"/pos/{org.slug}/members/{member.pk}/redeem/", {"reward": f"c:hiver:{reward.pk}", "form_token": token})
    assert response.status_code == 302
    voucher = Voucher.objects.get()
    assert (voucher.campaign_id, voucher.points, points(member)) == (campaign.pk, 25, 75)
    assert campaign_stats(campaign)[0].requested == 1
    with nothing_written():  # an unknown campaign is refused like an unknown reward
        response = till.post(f"/pos/{org.slug}/members/{member.pk}/redeem/", {"reward": f"c:nope:{reward.pk}", "form_token": "m" * 24})
        assert response.status_code == 422


def test_spend_wallet_credit_over_two_baskets(org, member, program, till):
    reward = make_reward(program, RewardKind.WALLET_CREDIT, cost=10, amount_minor=700)
    with_points(org, member, 100)
    reward_redeem(program=program, member=member, reward=reward)
    page = member_page(till, org, member)
    assert "data-wallet>€7.00<" in page
    first = till.post(f"/pos/{org.slug}/members/{member.pk}/wallet/", {"basket": "5", "form_token": "l" * 24}, follow=True)
    assert "Paid €5.00 with the wallet; €2.00 left in it." in first.content.decode()
    second = till.post(f"/pos/{org.slug}/members/{member.pk}/wallet/", {"basket": "10", "form_token": "m" * 24}, follow=True)
    assert "Paid €2.00 with the wallet; €0.00 left in it." in second.content.decode()
    with nothing_written(idempotency_records=1):
        empty = till.post(f"/pos/{org.slug}/members/{member.pk}/wallet/", {"basket": "10", "form_token": "n" * 24})
    assert empty.status_code == 409 and "wallet is empty" in empty.content.decode()
    with nothing_written():
        assert till.post(f"/pos/{org.slug}/members/{member.pk}/wallet/", {"basket": "0", "form_token": "o" * 24}).status_code == 422
    assert member_balance(member, "EUR").available == 0
