"""The till in a real browser (Playwright on Debian's Chromium) against the live server."""

import pytest

from fidelo.rewards.models import VoucherStatus
from fidelo.rewards.services import reward_redeem
from fidelo.rewards.tests.helpers import make_reward
from fidelo.tenancy.services import store_create
from fidelo.web.tests import test_portal_browser
from fidelo.web.tests.browser import make_staff, save_screenshot

shop = test_portal_browser.shop  # the shop fixture

pytestmark = pytest.mark.browser


def test_a_cashier_validates_and_uses_a_voucher(shop, browser_page_en, live_url):
    org, program, anne = shop
    store = store_create(organization=org, code="paris-11", name="Paris 11e", city="Paris")
    reward = make_reward(program, cost=100, title_fr="Remise de 5 €", title_en="€5 off", amount_minor=500, min_basket_minor=2000)
    voucher = reward_redeem(program=program, member=anne, reward=reward).voucher
    make_staff(org, email="lea@exemple.fr", role="cashier", first_name="Léa")
    page = browser_page_en
    page.goto(live_url(f"/pos/{org.slug}/"))
    assert "/pos/login/" in page.url
    page.fill("#id_username", "lea@exemple.fr")
    page.fill("#id_password", "fidelo-staff-password-1")
    with page.expect_navigation():
        page.click("button[type=submit].primary")
    assert page.url == live_url(f"/pos/{org.slug}/")
    with page.expect_navigation():
        page.select_option("#pos-store", str(store.pk))

    # The scanned QR code gives the voucher's code: typed in the search field.
    page.fill("#q", voucher.code)
    with page.expect_navigation():
        page.click("button[type=submit].primary")
    assert page.url == live_url(f"/pos/{org.slug}/vouchers/{voucher.code}/")
    page.fill("#basket", "15")
    with page.expect_navigation():
        page.click("[data-check]")
    assert "minimum" in page.inner_text("[data-error]")
    page.fill("#basket", "32,00")
    with page.expect_navigation():
        page.click("[data-check]")
    assert "€5.00" in page.inner_text("[data-value]") and "€27.00" in page.inner_text("[data-value]")
    save_screenshot(page, "pos-voucher-check")
    with page.expect_navigation():
        page.click("[data-use]")
    assert page.get_attribute("[data-status]", "data-status") == "used"
    assert "€5.00 off" in page.inner_text(".msg-success")
    voucher.refresh_from_db()
    assert voucher.status == VoucherStatus.USED and voucher.used_value_minor == 500 and voucher.used_store_id == store.pk
