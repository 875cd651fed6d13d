"""Browser-test infrastructure: Playwright (Python) driving Debian's Chromium against the
real server that pytest-django's `live_server` runs (a transactional database).

Fixtures (re-exported by web/tests/conftest.py, usable by every web test):

- `chromium` (session): a headless Chromium launched once from /usr/bin/chromium.
- `browser_page` (function): a fresh page in a new browser context (its own cookies), French
  by default; `browser_page_en` gives an English one. Requesting either also starts the
  live server and switches the test to a transactional database.
- `live_url(path)`: the absolute URL of a path on the live server.

Helpers (plain functions):

- `make_staff(org, email=..., password=..., role=...)`: a staff user of an organization.
- `staff_login(page, base_url, email, password)`: logs in through the back-office login form.
- `save_screenshot(page, name)`: saves docs/screenshots/NAME.png (full page).

Playwright's sync API runs an event loop in the test's thread; the ORM calls a test makes
around it are synchronous and safe, so DJANGO_ALLOW_ASYNC_UNSAFE is set for the test run.
Playwright's own browser downloads are never used: scripts/test installs Debian's chromium
package and the playwright Python package (the test extra).
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("FIDELO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
VIEWPORT = {"width": 1280, "height": 860}
REPO = Path(__file__).resolve().parents[4]
SCREENSHOTS = REPO / "docs" / "screenshots"
STAFF_PASSWORD = "fidelo-staff-password-1"


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - scripts/test installs it
        pytest.fail("The playwright package is missing: install the test extra (bash scripts/test does)")
    if not Path(CHROMIUM).exists():  # pragma: no cover - scripts/test installs it
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install Debian's chromium package (bash scripts/test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _page(chromium, locale: str) -> Iterator[object]:
    context = chromium.new_context(locale=locale, viewport=VIEWPORT, extra_http_headers={"Accept-Language": locale})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def browser_page(chromium, live_server, transactional_db) -> Iterator[object]:
    """A Playwright page whose browser asks for French (the product's first language)."""
    yield from _page(chromium, "fr-FR")


@pytest.fixture
def browser_page_en(chromium, live_server, transactional_db) -> Iterator[object]:
    """A Playwright page whose browser asks for English."""
    yield from _page(chromium, "en-US")


@pytest.fixture
def live_url(live_server) -> Callable[[str], str]:
    def url(path: str) -> str:
        return live_server.url + path

    return url


def make_staff(org, *, email: str = "camille@exemple.fr", password: str = STAFF_PASSWORD, role: str = "owner",
               first_name: str = "Camille", last_name: str = "Martin"):
    """A staff user of the organization (a Django user with a StaffMembership)."""
    from fidelo.tenancy.services import staff_add

    return staff_add(organization=org, email=email, password=password, role=role, first_name=first_name, last_name=last_name).user


def staff_login(page, base_url: str, email: str = "camille@exemple.fr", password: str = STAFF_PASSWORD, *, next_path: str = "") -> None:
    """Log in through the back-office form and wait for the page after it."""
    from django.urls import reverse

    url = base_url + reverse("backoffice:login") + (f"?next={next_path}" if next_path else "")
    page.goto(url)
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("#login-submit")


def save_screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
