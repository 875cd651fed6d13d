"""The member portal and the till in a real browser (Playwright on Debian's Chromium) against the
live server; the sign-in mail goes through a real SMTP server on loopback."""

import pytest

from fidelo.conftest import STAFF, make_member, make_org, program_of
from fidelo.core.clock import now
from fidelo.ledger.selectors import member_balance
from fidelo.ledger.services import Why, points_earn
from fidelo.rewards.models import Voucher
from fidelo.rewards.tests.helpers import make_reward
from fidelo.tenancy.services import program_update
from fidelo.web.tests import test_portal_fixtures as fixtures
from fidelo.web.tests.browser import save_screenshot
from fidelo.web.tests.test_portal_fixtures import Inbox

smtp = fixtures.smtp  # the SMTP server fixture

pytestmark = pytest.mark.browser


def credit(program, member, points: int) -> None:
    points_earn(program=program, member=member, amount=points, occurred_at=now(), pending_days=0, expires_at=None,
                why=Why(reason="bonus", params={"label": "bienvenue", "label_en": "welcome"}, source_type="bonus", actor="system"))


@pytest.fixture
def shop(transactional_db):
    org = make_org("cafe-des-arts")
    program_update(organization=org, actor=STAFF, name="Club des Arts", brand_color="#8a2b5c", transfers_allowed=True, transfer_min=5)
    program = program_of(org)
    anne = make_member(org, first_name="Anne", last_name="Dupont", email="anne@exemple.fr", locale="en")
    credit(program, anne, 150)
    return org, program, anne


def sign_in_by_mail(page, live_url, org, member, inbox: Inbox) -> None:
    page.goto(live_url(f"/portal/{org.slug}/"))
    assert "/signin/" in page.url
    page.fill("#email", member.email)
    with page.expect_navigation():
        page.click("button[type=submit].primary")
    assert "/signin/code/" in page.url
    link = inbox.link()
    assert link.startswith(live_url("/"))
    page.goto(link)
    with page.expect_navigation():
        page.click("[data-signin]")


def test_a_member_signs_in_with_the_mailed_link_redeems_and_sees_the_voucher(shop, browser_page_en, live_url, smtp: Inbox):
    org, program, anne = shop
    reward = make_reward(program, cost=100, title_fr="Remise de 5 €", title_en="€5 off", amount_minor=500)
    page = browser_page_en
    sign_in_by_mail(page, live_url, org, anne, smtp)
    assert page.url == live_url(f"/portal/{org.slug}/")
    assert page.inner_text("[data-balance]") == "150 pts"
    assert page.inner_text("[data-card]") == anne.card_number
    save_screenshot(page, "portal-home")

    page.click("nav >> text=Rewards")
    page.click(f"[data-reward='{reward.pk}'] >> text=Redeem")
    assert page.inner_text("[data-cost]") == "100 pts"
    with page.expect_navigation():
        page.click("[data-confirm-redeem]")
    voucher = Voucher.objects.get(member=anne)
    assert page.url == live_url(f"/portal/{org.slug}/vouchers/{voucher.code}/")
    assert page.inner_text("[data-code]") == voucher.code
    assert page.locator(".qr svg").count() == 1
    save_screenshot(page, "portal-voucher")
    assert voucher.channel == "portal" and member_balance(anne, "PTS").available == 50


def test_a_member_confirms_a_transfer(shop, browser_page_en, live_url, smtp: Inbox):
    org, _program, anne = shop
    bruno = make_member(org, first_name="Bruno", last_name="Leclerc", email="bruno@exemple.fr")
    page = browser_page_en
    sign_in_by_mail(page, live_url, org, anne, smtp)
    page.click("nav >> text=Transfer")
    page.fill("#recipient", bruno.card_number)
    page.fill("#points", "40")
    with page.expect_navigation():
        page.click("button[type=submit].primary")
    assert page.inner_text("[data-summary]") == "You are sending 40 pts to Bruno L."
    assert member_balance(bruno, "PTS").available == 0  # nothing moves before the confirmation
    save_screenshot(page, "portal-transfer-confirm")
    with page.expect_navigation():
        page.click("[data-confirm-transfer]")
    assert page.inner_text("[data-done]") == "40 pts sent to Bruno L."
    assert member_balance(anne, "PTS").available == 110 and member_balance(bruno, "PTS").available == 40
