"""The bot's message catalogs: complete, consistent with the code, compiled, placeholders kept."""

from __future__ import annotations

import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tarotbot.i18n import DOMAIN, LOCALE_DIR
from tarotbot.tarot.languages import DEFAULT_LANGUAGE, LANGUAGES

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]


def _po(language: str):
    with open(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as f:
        return read_po(f, locale=language)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _tags(text: str) -> list[str]:
    return sorted(re.findall(r"</?[a-z]+", text))


def test_the_template_holds_every_message_the_code_marks(tmp_path):
    """Extracting again gives the committed template: no message is missing from it."""
    out = tmp_path / "fresh.pot"
    subprocess.run(
        [Path(sys.executable).parent / "pybabel", "--quiet", "extract", "-F", "babel.cfg",
         "-k", "N_", "-k", "Plural:1,2", "--no-location", "--sort-output", "--omit-header",
         "--no-wrap", "-o", str(out), "."],
        cwd=ROOT, check=True,
    )  # fmt: skip
    committed = (LOCALE_DIR / f"{DOMAIN}.pot").read_text("utf-8")
    assert out.read_text("utf-8") == committed, "run scripts/translations.sh extract and update"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders(language):
    catalog = _po(language)
    ids = [m for m in catalog if m.id]
    assert ids, "an empty catalog"
    problems = []
    for message in ids:
        singular, plural = message.id if message.pluralizable else (message.id, None)
        strings = message.string if message.pluralizable else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated: {singular[:60]!r}")
            continue
        for translated in strings:
            if _fields(translated) != _fields(singular) | _fields(plural or ""):
                problems.append(f"placeholders differ: {singular[:60]!r}")
            if _tags(translated) != _tags(singular):
                problems.append(f"HTML tags differ: {singular[:60]!r}")
    assert not problems, problems


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_matches_its_source(language):
    def key(value):  # plural ids and strings come as lists
        return tuple(value) if isinstance(value, list | tuple) else value

    with open(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as f:
        compiled = {key(m.id): key(m.string) for m in read_mo(f) if m.id}
    source = {key(m.id): key(m.string) for m in _po(language) if m.id}
    assert compiled == source, "run scripts/translations.sh compile"
