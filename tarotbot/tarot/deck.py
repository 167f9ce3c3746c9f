"""The 78-card deck: loaded from ``data/*.json`` once, validated, then immutable.

The card texts are data (see ``data/SCHEMA.md``), written by people; this
module only reads and checks them. Validation happens once per process, in
:func:`load_deck`, so that a broken data file stops the program at start-up
with a :class:`DeckError` naming the file, the card and the field, instead of
producing a strange reading later.

Deck order (the order :func:`tarotbot.tarot.draw.draw` shuffles from) is:
the Major Arcana 0..21, then Wands, Cups, Swords and Pentacles, each Ace..King.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tarotbot.tarot.errors import DeckError

__all__ = [
    "DATA_DIR",
    "GROUPS",
    "Card",
    "Deck",
    "DeckError",
    "build_deck",
    "card_from_record",
    "load_deck",
    "roman",
]

#: Where the card data files live.
DATA_DIR = Path(__file__).resolve().parent / "data"

#: The five data files, in deck order (``<group>.json``).
GROUPS = ("major", "wands", "cups", "swords", "pentacles")
SUITS = GROUPS[1:]
RANKS = (
    "ace",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "page",
    "knight",
    "queen",
    "king",
)
ELEMENTS = ("fire", "water", "air", "earth")
SUIT_ELEMENT = {"wands": "fire", "cups": "water", "swords": "air", "pentacles": "earth"}
YES_NO = ("yes", "no", "maybe")

#: The Major Arcana by number; the second spelling of Judgement is accepted.
MAJOR_NAMES: dict[int, tuple[str, ...]] = {
    0: ("The Fool",),
    1: ("The Magician",),
    2: ("The High Priestess",),
    3: ("The Empress",),
    4: ("The Emperor",),
    5: ("The Hierophant",),
    6: ("The Lovers",),
    7: ("The Chariot",),
    8: ("Strength",),
    9: ("The Hermit",),
    10: ("Wheel of Fortune",),
    11: ("Justice",),
    12: ("The Hanged Man",),
    13: ("Death",),
    14: ("Temperance",),
    15: ("The Devil",),
    16: ("The Tower",),
    17: ("The Star",),
    18: ("The Moon",),
    19: ("The Sun",),
    20: ("Judgement", "Judgment"),
    21: ("The World",),
}

#: A printable symbol per suit (the playing-card suit each tarot suit became)
#: and a star for the Major Arcana. Plain Unicode, not emoji, so it lines up.
SYMBOLS = {"major": "★", "wands": "♣", "cups": "♥", "swords": "♠", "pentacles": "♦"}

_COURT_NUMERALS = {1: "Ace", 11: "Page", 12: "Knight", 13: "Queen", 14: "King"}


def roman(number: int) -> str:
    """``number`` (0..39) in Roman numerals; 0 is written ``"0"`` as on the Fool."""
    if number == 0:
        return "0"
    out = []
    for value, letters in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while number >= value:
            out.append(letters)
            number -= value
    return "".join(out)


@dataclass(frozen=True)
class Card:
    """One tarot card with its meanings. Immutable and hashable.

    ``number`` is 0..21 for the Major Arcana and 1..14 (Ace..King) within a
    suit; ``suit`` and ``rank`` are ``None`` for the Major Arcana.
    """

    key: str
    name: str
    arcana: str
    number: int
    suit: str | None
    rank: str | None
    element: str
    keywords_upright: tuple[str, ...]
    keywords_reversed: tuple[str, ...]
    upright: str
    reversed: str
    love_upright: str
    love_reversed: str
    career_upright: str
    career_reversed: str
    yes_no: str
    advice: str

    @property
    def is_major(self) -> bool:
        return self.arcana == "major"

    @property
    def group(self) -> str:
        """``"major"`` or the suit: the data file the card came from."""
        return self.suit or "major"

    @property
    def numeral(self) -> str:
        """What the card shows in its corner: ``"0"``, ``"XVII"``, ``"Ace"``, ``"VII"``, ``"Queen"``."""
        if self.is_major:
            return roman(self.number)
        return _COURT_NUMERALS.get(self.number) or roman(self.number)

    @property
    def symbol(self) -> str:
        """One character for the card's group: ★ Major, ♣ Wands, ♥ Cups, ♠ Swords, ♦ Pentacles."""
        return SYMBOLS[self.group]

    def keywords(self, reversed: bool = False) -> tuple[str, ...]:
        return self.keywords_reversed if reversed else self.keywords_upright

    def meaning(self, reversed: bool = False) -> str:
        return self.reversed if reversed else self.upright

    def love(self, reversed: bool = False) -> str:
        return self.love_reversed if reversed else self.love_upright

    def career(self, reversed: bool = False) -> str:
        return self.career_reversed if reversed else self.career_upright


@dataclass(frozen=True)
class Deck:
    """The validated deck: ``cards`` in deck order, looked up by key."""

    cards: tuple[Card, ...]
    _index: Mapping[str, Card] = field(repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self._index:
            object.__setattr__(self, "_index", {card.key: card for card in self.cards})

    def by_key(self, key: str) -> Card:
        """The card with ``key``; ``KeyError`` naming the key if there is none."""
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"no card with key {key!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self.cards)

    def __iter__(self) -> Iterator[Card]:
        return iter(self.cards)

    @property
    def majors(self) -> tuple[Card, ...]:
        return tuple(card for card in self.cards if card.is_major)

    def suit(self, suit: str) -> tuple[Card, ...]:
        return tuple(card for card in self.cards if card.suit == suit)


# --------------------------------------------------------------------------- loading


def slugify(name: str) -> str:
    """``"The High Priestess"`` → ``"the-high-priestess"`` (the key rule of SCHEMA.md)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _where(origin: str, record: Mapping[str, Any], index: int) -> str:
    key = record.get("key") if isinstance(record, Mapping) else None
    return (
        f"{origin}: card {key!r}"
        if isinstance(key, str) and key
        else f"{origin}: card #{index + 1}"
    )


def _text(where: str, record: Mapping[str, Any], path: str) -> str:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise DeckError(f"{where}, field {path!r}: missing")
        value = value[part]
    if not isinstance(value, str) or not value.strip():
        raise DeckError(f"{where}, field {path!r}: must be a non-empty string")
    if "<" in value or ">" in value:
        raise DeckError(f"{where}, field {path!r}: plain text only (found < or >)")
    return " ".join(value.split())


def _keywords(where: str, record: Mapping[str, Any], side: str) -> tuple[str, ...]:
    path = f"keywords.{side}"
    block = record.get("keywords")
    if not isinstance(block, Mapping) or side not in block:
        raise DeckError(f"{where}, field {path!r}: missing")
    words = block[side]
    if not isinstance(words, list) or not 3 <= len(words) <= 6:
        raise DeckError(f"{where}, field {path!r}: must be a list of 3..6 phrases")
    out = []
    for word in words:
        if not isinstance(word, str) or not word.strip():
            raise DeckError(f"{where}, field {path!r}: every keyword must be a non-empty string")
        out.append(" ".join(word.split()))
    return tuple(out)


def card_from_record(record: Mapping[str, Any], origin: str = "card", index: int = 0) -> Card:
    """Build one :class:`Card` from a SCHEMA.md object, checking every field.

    Raises :class:`DeckError` naming ``origin``, the card and the field.
    """
    where = _where(origin, record, index)
    if not isinstance(record, Mapping):
        raise DeckError(f"{where}: must be a JSON object")
    key = _text(where, record, "key")
    name = _text(where, record, "name")
    if key != slugify(name):
        raise DeckError(f"{where}, field 'key': expected {slugify(name)!r} for the name {name!r}")
    arcana = record.get("arcana")
    if arcana not in ("major", "minor"):
        raise DeckError(f"{where}, field 'arcana': must be 'major' or 'minor', got {arcana!r}")
    number = record.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise DeckError(f"{where}, field 'number': must be a whole number, got {number!r}")
    suit, rank = record.get("suit", "missing"), record.get("rank", "missing")
    element = record.get("element")
    if element not in ELEMENTS:
        raise DeckError(f"{where}, field 'element': must be one of {ELEMENTS}, got {element!r}")
    if arcana == "major":
        if not 0 <= number <= 21:
            raise DeckError(f"{where}, field 'number': a Major Arcana number is 0..21")
        if suit is not None:
            raise DeckError(f"{where}, field 'suit': must be null for the Major Arcana")
        if rank is not None:
            raise DeckError(f"{where}, field 'rank': must be null for the Major Arcana")
        if name not in MAJOR_NAMES[number]:
            raise DeckError(
                f"{where}, field 'name': Major Arcana {number} is {MAJOR_NAMES[number][0]!r}"
            )
    else:
        if suit not in SUITS:
            raise DeckError(f"{where}, field 'suit': must be one of {SUITS}, got {suit!r}")
        if not 1 <= number <= 14:
            raise DeckError(f"{where}, field 'number': a minor card's number is 1..14")
        if rank != RANKS[number - 1]:
            raise DeckError(
                f"{where}, field 'rank': number {number} is {RANKS[number - 1]!r}, got {rank!r}"
            )
        expected = f"{rank.capitalize()} of {suit.capitalize()}"
        if name != expected:
            raise DeckError(f"{where}, field 'name': expected {expected!r}")
        if element != SUIT_ELEMENT[suit]:
            raise DeckError(
                f"{where}, field 'element': {suit} are {SUIT_ELEMENT[suit]}, got {element!r}"
            )
    yes_no = record.get("yes_no")
    if yes_no not in YES_NO:
        raise DeckError(f"{where}, field 'yes_no': must be one of {YES_NO}, got {yes_no!r}")
    return Card(
        key=key,
        name=name,
        arcana=arcana,
        number=number,
        suit=suit,
        rank=rank,
        element=element,
        keywords_upright=_keywords(where, record, "upright"),
        keywords_reversed=_keywords(where, record, "reversed"),
        upright=_text(where, record, "upright"),
        reversed=_text(where, record, "reversed"),
        love_upright=_text(where, record, "love.upright"),
        love_reversed=_text(where, record, "love.reversed"),
        career_upright=_text(where, record, "career.upright"),
        career_reversed=_text(where, record, "career.reversed"),
        yes_no=yes_no,
        advice=_text(where, record, "advice"),
    )


#: The card fields whose sentences must not repeat between two cards.
TEXT_FIELDS = (
    ("upright", "upright"),
    ("reversed", "reversed"),
    ("love_upright", "love.upright"),
    ("love_reversed", "love.reversed"),
    ("career_upright", "career.upright"),
    ("career_reversed", "career.reversed"),
    ("advice", "advice"),
)

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+")


def sentences(text: str) -> list[str]:
    """Split plain text into sentences (after ``.``, ``!``, ``?`` or ``…`` and a space)."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def _normal(sentence: str) -> str:
    """A sentence reduced to lower-case letters and digits, for duplicate detection."""
    return " ".join(re.findall(r"[^\W_]+", sentence.lower()))


def check_unique_sentences(cards: Sequence[Card]) -> None:
    """Raise :class:`DeckError` if one sentence appears in two different cards."""
    seen: dict[str, tuple[str, str]] = {}
    for card in cards:
        for attribute, label in TEXT_FIELDS:
            for sentence in sentences(getattr(card, attribute)):
                normal = _normal(sentence)
                if not normal:
                    continue
                owner = seen.get(normal)
                if owner is not None and owner[0] != card.key:
                    raise DeckError(
                        f"card {card.key!r}, field {label!r}: the sentence {sentence!r} "
                        f"also appears in card {owner[0]!r}, field {owner[1]!r}"
                    )
                seen.setdefault(normal, (card.key, label))


def build_deck(groups: Mapping[str, Sequence[Mapping[str, Any]]]) -> Deck:
    """Validate parsed card records (``{"major": [...], "wands": [...], ...}``) into a Deck.

    Pure: tests build fixture decks with it. Checks every card's fields, then
    the whole: 22 majors numbered 0..21 in order, each suit Ace..King in
    order, 78 unique keys, and no sentence shared between two cards.
    """
    cards: list[Card] = []
    for group in GROUPS:
        if group not in groups:
            raise DeckError(f"{group}.json: missing")
        records = groups[group]
        origin = f"{group}.json"
        if not isinstance(records, Sequence) or isinstance(records, str | bytes):
            raise DeckError(f"{origin}: must hold a JSON array of cards")
        expected_numbers = list(range(22)) if group == "major" else list(range(1, 15))
        group_cards = [card_from_record(r, origin, i) for i, r in enumerate(records)]
        for i, card in enumerate(group_cards):
            if card.group != group:
                raise DeckError(
                    f"{origin}: card {card.key!r}, field 'suit': belongs in {card.group}.json"
                )
            if i < len(expected_numbers) and card.number != expected_numbers[i]:
                raise DeckError(
                    f"{origin}: card {card.key!r}, field 'number': expected {expected_numbers[i]} "
                    f"at position {i + 1} (cards are in deck order)"
                )
        if len(group_cards) != len(expected_numbers):
            raise DeckError(
                f"{origin}: holds {len(group_cards)} cards, expected {len(expected_numbers)}"
            )
        cards.extend(group_cards)
    keys: dict[str, str] = {}
    for card in cards:
        if card.key in keys:
            raise DeckError(f"card {card.key!r}, field 'key': appears twice")
        keys[card.key] = card.group
    if len(cards) != 78:  # pragma: no cover - implied by the per-group counts
        raise DeckError(f"the deck holds {len(cards)} cards, expected 78")
    check_unique_sentences(cards)
    return Deck(tuple(cards))


def read_groups(data_dir: Path) -> dict[str, list[Any]]:
    """Read the five JSON files; :class:`DeckError` names a missing or unreadable one."""
    groups: dict[str, list[Any]] = {}
    missing = [g for g in GROUPS if not (data_dir / f"{g}.json").is_file()]
    if missing:
        names = ", ".join(f"{g}.json" for g in missing)
        raise DeckError(
            f"card data file missing: {names} in {data_dir} "
            f"(the deck needs {', '.join(g + '.json' for g in GROUPS)}; see SCHEMA.md)"
        )
    for group in GROUPS:
        path = data_dir / f"{group}.json"
        try:
            groups[group] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DeckError(f"{group}.json: cannot be read as UTF-8 JSON ({exc})") from None
    return groups


@functools.cache
def _load(data_dir: Path) -> Deck:
    return build_deck(read_groups(data_dir))


def load_deck(data_dir: Path | str | None = None) -> Deck:
    """The deck from ``data_dir`` (default :data:`DATA_DIR`), read and validated once.

    Cached per directory for the life of the process; ``load_deck.cache_clear()``
    forgets it (tests).
    """
    return _load(Path(data_dir) if data_dir is not None else DATA_DIR)


load_deck.cache_clear = _load.cache_clear  # type: ignore[attr-defined]
