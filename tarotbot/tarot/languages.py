"""The languages readings are written in, and the deck and spreads in each of them.

English is the source: ``data/*.json`` and :mod:`.spreads`. Another language is
files only (``data/<language>/``, rules in ``data/ru/SCHEMA.md``): the cards'
names and texts (``cards/``), the spreads' words (``spreads.json``), the card
texts of readings (``texts/``) and the composer's phrasing (``phrasing/``).
Everything else (keys, numbers, suits, layouts, the draw) is shared, so a draw
is made once and :func:`localize` dresses it in a language to be written,
pictured or shown again.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel import Locale

from tarotbot.tarot.deck import DATA_DIR, Deck, load_deck
from tarotbot.tarot.draw import Draw, DrawnCard
from tarotbot.tarot.errors import DeckError
from tarotbot.tarot.spreads import SPREADS, Spread

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "language_dir",
    "language_for",
    "localize",
    "localized_deck",
    "localized_spread",
    "plural_category",
    "plural_forms",
]

DEFAULT_LANGUAGE = "en"
#: Every language readings can be written in: English and each ``data/<code>/``.
LANGUAGES = (
    DEFAULT_LANGUAGE,
    *sorted(p.name for p in DATA_DIR.iterdir() if (p / "cards").is_dir()),
)

#: Telegram ``language_code``s whose speakers usually read Russian (Belarusian,
#: Kazakh, Kyrgyz, Tajik, Uzbek, Tatar, Bashkir, Chechen, Ossetian, Yakut).
#: Ukrainian is not among them: many Ukrainian speakers would rather not be
#: answered in Russian, so they get English and can choose with /language.
RUSSIAN_READERS = frozenset({"ru", "be", "kk", "ky", "tg", "uz", "tt", "ba", "ce", "os", "sah"})

_CARD_FIELDS = ("name", "keywords", "upright", "reversed", "love", "career", "advice")


def language_for(code: str | None) -> str:
    """The language for a Telegram ``language_code`` (``"ru-RU"``, ``"kk"``, None)."""
    base = (code or "").split("-")[0].split("_")[0].lower()
    if base in RUSSIAN_READERS and "ru" in LANGUAGES:
        return "ru"
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def language_dir(language: str) -> Path:
    """Where a language's files live (English: the data directory itself)."""
    return DATA_DIR if language == DEFAULT_LANGUAGE else DATA_DIR / language


@functools.cache
def plural_forms(language: str) -> tuple[str, ...]:
    """The CLDR plural categories whole numbers take in ``language`` (en: one, other)."""
    rule = Locale.parse(language).plural_form
    return tuple(sorted({rule(n) for n in range(200)}))


def plural_category(count: int, language: str = DEFAULT_LANGUAGE) -> str:
    """Which plural form goes with ``count`` in ``language`` (ru: 1 one, 2 few, 5 many)."""
    return Locale.parse(language).plural_form(count)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DeckError(
            f"{path.parent.name}/{path.name}: cannot be read as UTF-8 JSON ({exc})"
        ) from None


def _translated_card(where: str, card, record: Any):
    if not isinstance(record, Mapping) or set(record) != set(_CARD_FIELDS):
        raise DeckError(f"{where}: needs exactly {', '.join(_CARD_FIELDS)}")
    try:
        return dataclasses.replace(
            card,
            name=str(record["name"]),
            keywords_upright=tuple(record["keywords"]["upright"]),
            keywords_reversed=tuple(record["keywords"]["reversed"]),
            upright=str(record["upright"]),
            reversed=str(record["reversed"]),
            love_upright=str(record["love"]["upright"]),
            love_reversed=str(record["love"]["reversed"]),
            career_upright=str(record["career"]["upright"]),
            career_reversed=str(record["career"]["reversed"]),
            advice=str(record["advice"]),
        )
    except (KeyError, TypeError) as exc:
        raise DeckError(f"{where}: malformed ({exc})") from None


@functools.cache
def localized_deck(language: str) -> Deck:
    """The deck with names and texts in ``language`` (every card must be there)."""
    deck = load_deck()
    if language == DEFAULT_LANGUAGE:
        return deck
    records: dict[str, tuple[str, Any]] = {}
    for path in sorted((language_dir(language) / "cards").glob("*.json")):
        for key, record in _read_json(path).items():
            records[key] = (f"{language}/cards/{path.name}: {key}", record)
    missing = [card.key for card in deck if card.key not in records]
    if missing:
        raise DeckError(f"{language}/cards: no texts for {', '.join(missing[:6])}")
    return Deck(tuple(_translated_card(records[c.key][0], c, records[c.key][1]) for c in deck))


@functools.cache
def _spread_words(language: str) -> Mapping[str, Any]:
    if language == DEFAULT_LANGUAGE:
        return {}
    return _read_json(language_dir(language) / "spreads.json")


@functools.cache
def localized_spread(name: str, language: str) -> Spread:
    """Spread ``name`` with its title, description, time frame and positions in ``language``."""
    spread = SPREADS[name]
    if language == DEFAULT_LANGUAGE:
        return spread
    where = f"{language}/spreads.json: {name}"
    try:
        words = _spread_words(language)[name]
        positions = tuple(
            dataclasses.replace(
                p,
                name=str(words["positions"][p.key]["name"]),
                question=str(words["positions"][p.key]["question"]),
            )
            for p in spread.positions
        )
        return dataclasses.replace(
            spread,
            title=str(words["title"]),
            description=str(words["description"]),
            time_frame=str(words["time_frame"]) if spread.time_frame else None,
            positions=positions,
        )
    except (KeyError, TypeError) as exc:
        raise DeckError(f"{where}: missing or malformed {exc}") from None


def localize(draw: Draw, language: str) -> Draw:
    """The same draw (seed, cards, positions, orientations) in ``language``'s words."""
    if language == DEFAULT_LANGUAGE:
        return draw
    deck = localized_deck(language)
    spread = localized_spread(draw.spread.name, language)
    cards = tuple(
        DrawnCard(position, deck.by_key(dc.card.key), dc.reversed)
        for position, dc in zip(spread.positions, draw.cards, strict=True)
    )
    return dataclasses.replace(draw, spread=spread, cards=cards)
