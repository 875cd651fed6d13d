"""Every user-facing string exists in French and English."""

import re
from pathlib import Path

import pytest
from django.utils import translation

from fidelo.ledger.reasons import REASONS, render_reason

PO = Path(__file__).resolve().parents[2] / "locale" / "fr" / "LC_MESSAGES" / "django.po"


def test_the_french_catalog_has_no_untranslated_string():
    entries = PO.read_text(encoding="utf-8").split("\n\n")[1:]
    untranslated = [e for e in entries if re.search(r'^msgstr ""\s*$', e, flags=re.M) and "#~" not in e]
    assert untranslated == []
    assert PO.with_suffix(".mo").exists()


@pytest.mark.parametrize("code", sorted(REASONS))
def test_every_ledger_reason_reads_differently_in_french_and_english(code):
    params = {"amount_minor": 4250, "currency": "EUR", "store": "Paris 11e", "label": "Café offert", "earned_on": "2026-03-01",
              "available_on": "2026-03-15", "actor": "Camille", "name": "Anne D."}
    with translation.override("fr"):
        french = render_reason(code, params, "geste commercial")
    with translation.override("en"):
        english = render_reason(code, params, "geste commercial")
    assert french and english and french != english
    assert "?" not in english
