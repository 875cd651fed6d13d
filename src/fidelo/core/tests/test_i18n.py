"""Every user-facing string exists in French and English."""

import re
from pathlib import Path

import pytest
from django.utils import translation

from fidelo.ledger.reasons import REASONS, render_reason

PO = Path(__file__).resolve().parents[2] / "locale" / "fr" / "LC_MESSAGES" / "django.po"


def test_the_french_catalog_has_no_untranslated_or_fuzzy_string():
    text = PO.read_text(encoding="utf-8")
    entries = re.findall(r'^msgid ((?:".*"\n)+)msgstr ((?:".*"\n?)+)', text, flags=re.M)
    assert len(entries) > 50
    untranslated = [msgid for msgid, msgstr in entries[1:] if msgstr.strip() == '""']  # entries[0] is the header
    assert untranslated == []
    assert not re.search(r"^#,.*\bfuzzy\b", text, flags=re.M), "fuzzy entries are ignored by msgfmt: translate them"
    assert PO.with_suffix(".mo").stat().st_mtime >= PO.stat().st_mtime - 1


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
