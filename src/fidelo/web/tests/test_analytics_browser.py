"""Contacts > Fidélité and Statistiques in a real browser (Playwright on Debian's Chromium)
against the live server: each filter changes the ranking as expected, the CSV export has the
rows shown, and the screenshots of docs/ are taken on the demo merchant."""

import csv
import io
from pathlib import Path

import pytest

from fidelo.conftest import STAFF, make_member, make_org
from fidelo.ledger.tests.helpers import buy
from fidelo.rewards.services import reward_create, reward_redeem
from fidelo.tenancy.selectors import program_for
from fidelo.tenancy.services import store_create
from fidelo.web.tests.browser import make_staff, save_screenshot, staff_login

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(transactional_db):
    """Anne 300 points (a reward, a referral), Bruno 120 (a referral), Chloé 40, David nothing yet."""
    from fidelo.referrals.tests.helpers import enable, refer

    org = make_org("cafe-des-arts")
    store = store_create(organization=org, code="paris-11", name="Paris 11e", city="Paris")
    program = program_for(org.id)
    make_staff(org)
    reward = reward_create(organization=org, program=program, actor=STAFF, kind="free_product", title_fr="Café offert", title_en="Free coffee", cost_points=50)
    people = {}
    for first, last, cents in (("Anne", "Dupont", 30000), ("Bruno", "Leclerc", 12000), ("Chloé", "Martin", 4000), ("David", "Bernard", 0)):
        people[first] = make_member(org, first_name=first, last_name=last, email=f"{last.lower()}@exemple.fr", store=store)
        if cents:
            buy(program, people[first], cents, store=store)
    reward_redeem(program=program, member=people["Anne"], reward=reward)
    enable(org)
    refer(org, people["Anne"], first_name="Eva", last_name="Zeller", email="eva@exemple.fr")
    refer(org, people["Bruno"], first_name="Félix", last_name="Zorn", email="felix@exemple.fr")
    return org, people


def ranking(page) -> list[str]:
    return [name.split(" ")[0] for name in page.locator("#ranking tbody tr[data-member] td:nth-child(2)").all_inner_texts()]


def apply(page, **fields) -> None:
    for selector, value in fields.items():
        if selector in ("referrals", "rewards", "sort"):
            page.select_option(f"#{selector}", value)
        else:
            page.fill(f"#{selector}", value)
    with page.expect_navigation():
        page.click("#apply-filters")


def test_each_filter_changes_the_ranking_and_the_csv_has_its_rows(shop, browser_page_en, live_server):
    page = browser_page_en
    staff_login(page, live_server.url, next_path="/backoffice/loyalty/")
    assert page.inner_text("h1") == "Loyalty leaderboard"
    everyone = ["Anne", "Bruno", "Chloé", "David", "Eva", "Félix"]
    assert ranking(page) == everyone
    assert page.inner_text("[data-stat=referrals]") == "2" and page.inner_text("[data-stat=rewards_unlocked]") == "1"
    assert page.locator("#top-three .card").count() == 3

    apply(page, min_points="100")
    assert ranking(page) == ["Anne", "Bruno"]
    apply(page, min_points="")
    apply(page, referrals="with")
    assert ranking(page) == ["Anne", "Bruno"]
    apply(page, referrals="without")
    assert ranking(page) == ["Chloé", "David", "Eva", "Félix"]
    apply(page, referrals="", rewards="with")
    assert ranking(page) == ["Anne"]
    apply(page, rewards="without")
    assert ranking(page) == ["Bruno", "Chloé", "David", "Eva", "Félix"]
    apply(page, rewards="", q="mart")
    assert ranking(page) == ["Chloé"]
    apply(page, q="", sort="name")
    assert ranking(page) == ["David", "Anne", "Bruno", "Chloé", "Eva", "Félix"]  # by last name: Bernard, Dupont, Leclerc, Martin, Zeller, Zorn

    # The export keeps the filters: members with at least 100 points.
    apply(page, sort="points", min_points="100")
    with page.expect_download() as download:
        page.click("#export-csv")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:3] == ["Rank", "Member id", "Name"]
    assert [(r[0], r[2], r[6]) for r in rows[1:]] == [("1", "Anne Dupont", "300"), ("2", "Bruno Leclerc", "120")]

    # A bad filter is explained, not a crash.
    page.goto(live_server.url + "/backoffice/loyalty/?min_points=beaucoup")
    assert page.locator("#filter-error").is_visible()
    assert ranking(page) == everyone


def test_the_french_screens_on_the_demo_merchant_and_their_screenshots(transactional_db, browser_page, live_server):
    from fidelo.analytics.services import rollups_refresh
    from fidelo.demo.seed import DEMO_LOGINS, seed_demo

    seed_demo(members_per_org=40, months=6, seed=5)
    rollups_refresh()  # what the worker does every minute
    login = next(entry for entry in DEMO_LOGINS if entry["slug"] == "cafe-des-arts")
    page = browser_page
    staff_login(page, live_server.url, login["email"], login["password"], next_path="/backoffice/loyalty/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("#ranking tbody tr[data-member]").count() == 25
    assert page.locator("#next-page").is_visible()
    page.wait_for_function("document.getElementById('progression-chart').width > 0")
    save_screenshot(page, "leaderboard")

    page.goto(live_server.url + "/backoffice/statistics/")
    assert page.locator("h1").count() == 1
    assert int(page.inner_text("[data-stat=members]")) == 40
    assert page.locator("#offers tbody tr").count() >= 3
    page.wait_for_function("document.getElementById('points-chart').width > 0")
    save_screenshot(page, "dashboard")
    page.select_option("#store", index=1)
    with page.expect_navigation():
        page.click("#apply-period")
    assert "store=" in page.url and int(page.inner_text("[data-stat=members]")) < 40
