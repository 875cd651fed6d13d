"""Fill French translations into the .po catalog from scripts/translations_fr.json, then compile.

Usage: .venv/bin/python scripts/fill_translations.py
(run `fidelo makemessages -l fr --no-location` in src/fidelo first to collect new strings).
Reports the strings still untranslated. Needs gettext's msgfmt (Debian package gettext).
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "src/fidelo/locale/fr/LC_MESSAGES/django.po"
# One file per area (translations_fr.json, translations_fr.d/*.json), merged.
TRANSLATIONS: dict[str, str] = {}
for source in [ROOT / "scripts/translations_fr.json", *sorted((ROOT / "scripts/translations_fr.d").glob("*.json"))]:
    TRANSLATIONS.update(json.loads(source.read_text(encoding="utf-8")))


def unquote(block: str) -> str:
    return "".join(json.loads(part) for part in re.findall(r'"(?:[^"\\]|\\.)*"', block))


def quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def main() -> int:
    text = PO.read_text(encoding="utf-8")
    entries = re.split(r"\n\n", text)
    missing = []
    out = []
    for entry in entries:
        match = re.search(r'^msgid ((?:".*"\n?)+)msgstr ((?:".*"\n?)+)', entry, flags=re.M)
        if not match or "msgid_plural" in entry:
            out.append(entry)
            continue
        msgid = unquote(match.group(1))
        if not msgid:  # the header: makemessages marks it fuzzy, which hides nothing
            out.append(re.sub(r"^#, fuzzy\n", "", entry, flags=re.M))
            continue
        translation = TRANSLATIONS.get(msgid)
        fuzzy = re.search(r"^#,.*\bfuzzy\b", entry, flags=re.M) is not None
        if translation is None:
            if fuzzy or not unquote(match.group(2)):
                missing.append(msgid)  # a fuzzy guess by makemessages is not a translation
            out.append(entry)
            continue
        entry = entry[: match.start(2)] + quote(translation) + ("\n" if match.group(2).endswith("\n") else "")
        entry = re.sub(r"^#\|.*\n", "", entry, flags=re.M)  # previous msgid of a fuzzy match
        entry = re.sub(r"^#, fuzzy\n", "", entry, flags=re.M)
        entry = re.sub(r"^#, fuzzy, ", "#, ", entry, flags=re.M)
        out.append(entry)
    PO.write_text("\n\n".join(out), encoding="utf-8")
    subprocess.run(["msgfmt", "--check-format", "-o", str(PO.with_suffix(".mo")), str(PO)], check=True)
    for msgid in missing:
        print(f"untranslated: {msgid}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
