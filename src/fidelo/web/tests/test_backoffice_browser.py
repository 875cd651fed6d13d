"""The back office in a real browser (Playwright on Debian's Chromium) against the live server."""

import datetime as dt
import json

import pytest

from fidelo.conftest import STAFF, make_member, make_org
from fidelo.core.clock import now
from fidelo.ledger.services import points_adjust
from fidelo.rewards.models import Reward
from fidelo.tenancy.selectors import program_for
from fidelo.tenancy.services import api_key_create, store_create
from fidelo.web.tests.browser import make_staff, save_screenshot, staff_login

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(transactional_db):
    org = make_org("cafe-des-arts")
    store = store_create(organization=org, code="paris-11", name="Paris 11e", city="Paris")
    make_staff(org)
    members = [
        make_member(org, first_name=first, last_name=last, email=f"{last.lower()}@exemple.fr")
        for first, last in [("Anne", "Dupont"), ("Bruno", "Leclerc"), ("Chloé", "Martin"), ("David", "Bernard")]
    ]
    return org, store, members


def test_log_in_and_change_the_earn_rate_then_a_purchase_earns_at_the_new_rate(shop, browser_page, live_server):
    org, store, members = shop
    page = browser_page
    staff_login(page, live_server.url, next_path="/backoffice/program/")
    assert page.url == live_server.url + "/backoffice/program/"
    page.fill("#id_earn_units", "5")
    page.fill("#id_brand_logo_url", "https://exemple.fr/logo.png")
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector(".message.success")
    assert page.input_value("#id_earn_units") == "5"
    save_screenshot(page, "backoffice-program")

    # A purchase through the API, over HTTP to the same server, earns at the new rate.
    token = api_key_create(organization=org, name="caisse", actor=STAFF, store=store).token
    anne = members[0]
    body = {
        "member": {"card": anne.card_number}, "external_id": "T-1", "total_cents": 4250, "currency": "EUR",
        "occurred_at": (now() - dt.timedelta(minutes=5)).isoformat(),
    }
    response = page.request.post(
        live_server.url + "/api/v1/purchases", data=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": "browser-1"},
    )
    assert response.status == 201, response.text()
    expected = 4250 * 5 // 100  # the program rounds down
    page.goto(f"{live_server.url}/backoffice/members/{anne.id}/")
    assert page.inner_text("[data-testid=balance-available]") == str(expected)
    assert program_for(org.id).brand_logo_url == "https://exemple.fr/logo.png"


def test_a_bad_setting_is_refused_on_the_form(shop, browser_page, live_server):
    org, _, _ = shop
    page = browser_page
    staff_login(page, live_server.url, next_path="/backoffice/program/")
    page.fill("#id_brand_logo_url", "javascript:alert(1)")
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector("[data-field=brand_logo_url] .errorlist")
    assert program_for(org.id).brand_logo_url == ""


def test_create_a_reward(shop, browser_page, live_server):
    org, store, _ = shop
    page = browser_page
    staff_login(page, live_server.url)
    page.click("nav.sidebar a[href='/backoffice/rewards/']")
    page.click("a[href='/backoffice/rewards/new/']")
    page.select_option("#id_kind", "voucher_amount")
    page.fill("#id_title_fr", "Bon de 5 €")
    page.fill("#id_title_en", "5 € voucher")
    page.fill("#id_cost_points", "250")
    page.fill("#id_amount", "5")
    page.fill("#id_min_basket", "20")
    page.fill("#id_stock", "100")
    page.check(f"input[name=stores][value='{store.id}']")
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector(".message.success, .errorlist")
    assert page.locator(".errorlist").count() == 0, page.inner_text("form.stacked")
    assert page.locator("table >> text=Bon de 5 €").count() == 1
    reward = Reward.objects.get(organization=org)
    assert (reward.kind, reward.cost_points, reward.amount_minor, reward.min_basket_minor, reward.stock) == ("voucher_amount", 250, 500, 2000, 100)
    # A second reward for a fuller screenshot, then the catalog.
    page.click("a[href='/backoffice/rewards/new/']")
    page.select_option("#id_kind", "free_product")
    page.fill("#id_title_fr", "Café offert")
    page.fill("#id_cost_points", "100")
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector(".message.success")
    save_screenshot(page, "backoffice-rewards")


def test_adjust_a_members_points_with_a_reason(shop, browser_page, live_server):
    org, _, members = shop
    program = program_for(org.id)
    for i, member in enumerate(members):
        points_adjust(program=program, member=member, delta=100 * (i + 1), note="Points de bienvenue", actor=STAFF)
    page = browser_page
    staff_login(page, live_server.url)
    page.click("nav.sidebar a[href='/backoffice/members/']")
    page.fill("input[name=q]", "Dupont")
    page.click("form.toolbar button[type=submit]")
    page.wait_for_url("**/backoffice/members/?q=Dupont*")
    assert page.locator("tbody tr").count() == 1
    page.goto(f"{live_server.url}/backoffice/members/")
    save_screenshot(page, "backoffice-members")

    page.click("text=Anne Dupont")
    page.fill("#id_delta", "40")
    page.fill("#id_note", "Geste commercial : commande en retard")
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector(".message.success")
    assert page.inner_text("[data-testid=balance-available]") == "140"
    first_line = page.locator("[data-testid=history] tbody tr").first.inner_text()
    assert "Geste commercial : commande en retard" in first_line and "+40" in first_line
    save_screenshot(page, "backoffice-member")

    # Without a reason nothing is recorded and the form says why.
    page.fill("#id_delta", "10")
    page.fill("#id_note", "")
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector("[data-field=note] .errorlist")
    assert page.inner_text("[data-testid=balance-available]") == "140"


def test_french_and_english_both_render(shop, browser_page_en, live_server):
    page = browser_page_en
    staff_login(page, live_server.url)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("nav.sidebar >> text=Members").count() == 1
    with page.expect_navigation():
        page.click("button[data-lang=fr]")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("nav.sidebar >> text=Membres").count() == 1
    assert page.locator("nav.sidebar >> text=Récompenses").count() == 1
    with page.expect_navigation():
        page.click("button[data-lang=en]")
    assert page.locator("nav.sidebar >> text=Rewards").count() == 1


def test_build_a_rule_with_the_form_editor(shop, browser_page, live_server):
    org, _, _ = shop
    page = browser_page
    staff_login(page, live_server.url, next_path="/backoffice/rules/new/")
    page.fill("#re-name", "Bonus des gros paniers")
    page.click("#re-add-condition")  # amount >= 2000 cents by default
    page.locator("#re-effects .row input").first.fill("25")  # the example effect: fixed points
    page.click("#rule-form button[type=submit]")
    page.wait_for_selector(".message.success")
    from fidelo.rules.models import Rule
    from fidelo.rules.selectors import rule_definition

    definition = rule_definition(Rule.objects.get(organization=org))
    assert definition["name"] == "Bonus des gros paniers"
    assert [(c["field"], c["op"], c["value"]) for c in definition["conditions"]] == [("amount", "gte", 2000)]
    assert [(e["type"], e["points"]) for e in definition["effects"]] == [("fixed_points", 25)]
    save_screenshot(page, "backoffice-rules")
