"""Fixtures for the web screens' tests: the browser ones (see browser.py) and staff helpers."""

from fidelo.web.tests.browser import browser_page, browser_page_en, chromium, live_url  # noqa: F401
