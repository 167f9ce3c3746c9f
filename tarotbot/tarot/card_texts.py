"""What each card says in a reading: short texts by position role and question topic.

The long texts in ``data/*.json`` are a card's own page ("More about this card");
the reading is made of these short ones (``data/texts/*.json``, rules in
``data/texts/SCHEMA.md``), several wordings per slot so that readings vary.
Loaded once and validated against the deck: every card, every slot, sentence
rules, and no sentence used twice anywhere.

``python -m tarotbot.tarot.card_texts FILE…`` checks files on their own (cards
may be missing there), for people writing texts.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tarotbot.tarot.deck import DATA_DIR, Deck, load_deck
from tarotbot.tarot.errors import DeckError
from tarotbot.tarot.languages import language_dir, localized_deck

__all__ = [
    "ROLES",
    "TEXTS_DIR",
    "TOPICS",
    "CardTexts",
    "OrientedTexts",
    "build_card_texts",
    "load_card_texts",
]

TEXTS_DIR = DATA_DIR / "texts"

#: Position roles, each with two wordings per card and orientation.
ROLES = ("past", "self", "other", "obstacle", "strength", "hidden", "hope", "advice", "outcome")
#: Question topics, each with one sentence per card and orientation.
TOPICS = ("love", "work", "money", "health", "home", "study", "spiritual")

_COUNTS = {"theme": 2, "essence": 3}
_ROLE_COUNT = 2
#: Words in a sentence, by language (Russian says as much in fewer words).
SENTENCE_WORDS = {"en": (10, 32), "ru": (8, 32)}
_THEME_WORDS = (2, 8)
_FORBIDDEN = re.compile(r"[<>{}\n\r]")
#: Words that name a person, by language: a theme may stand for anyone, so it names no one.
PERSON_WORDS = {
    "en": re.compile(r"\b(?:you|your|yours|yourself)\b", re.IGNORECASE),
    "ru": re.compile(
        r"\b(?:вы|вас|вам|вами|ваш\w*|ты|тебя|тебе|тобой|твой|твоя|твоё|твое|твои|тво\w+)\b",
        re.IGNORECASE,
    ),
}
_WORD = re.compile(r"[^\W_]+(?:[’'-][^\W_]+)*")
#: Slots that a lead-in ("On Monday, …") may precede: they must start lowercasable.
_LEAD_IN_SLOTS = ("essence", "roles.advice")


@dataclass(frozen=True)
class OrientedTexts:
    """One card's reading texts in one orientation."""

    theme: tuple[str, ...]
    essence: tuple[str, ...]
    roles: Mapping[str, tuple[str, ...]]
    topics: Mapping[str, str]


@dataclass(frozen=True)
class CardTexts:
    """Every card's reading texts, by card key and orientation."""

    cards: Mapping[str, Mapping[str, OrientedTexts]]

    def of(self, key: str, reversed: bool) -> OrientedTexts:
        """The texts of card ``key`` in the orientation drawn."""
        return self.cards[key]["reversed" if reversed else "upright"]


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _check_sentence(
    where: str, text: Any, card_name: str, lead_in: bool, words: tuple[int, int] = (10, 32)
) -> str:
    if not isinstance(text, str) or not text.strip():
        raise DeckError(f"{where}: must be a non-empty string")
    if text != text.strip() or "  " in text:
        raise DeckError(f"{where}: stray spaces in {text!r}")
    if _FORBIDDEN.search(text):
        raise DeckError(f"{where}: no <, >, braces or line breaks allowed: {text!r}")
    low, high = words
    if not low <= _words(text) <= high:
        raise DeckError(f"{where}: {_words(text)} words, expected {low}..{high}: {text!r}")
    if text[-1] not in ".!?…":
        raise DeckError(f"{where}: must end with . ! ? or …: {text!r}")
    if card_name in text:
        raise DeckError(f"{where}: names the card itself ({card_name}): {text!r}")
    if lead_in:
        first = _WORD.match(text)
        if (
            first is None
            or first.group() == "I"
            or (len(first.group()) > 1 and first.group().isupper())
        ):
            raise DeckError(f"{where}: must start with a word a lead-in can lowercase: {text!r}")
    return text


def _check_theme(where: str, text: Any, card_name: str, person: re.Pattern) -> str:
    if not isinstance(text, str) or not text.strip() or _FORBIDDEN.search(text):
        raise DeckError(f"{where}: must be a plain non-empty string")
    low, high = _THEME_WORDS
    if not low <= _words(text) <= high:
        raise DeckError(f"{where}: {_words(text)} words, expected {low}..{high}: {text!r}")
    if text[-1] in ".!?…;:," or text[:1] != text[:1].lower():
        raise DeckError(f"{where}: a lower-case noun phrase without a final stop: {text!r}")
    if person.search(text):  # a theme may describe the other person, or your surroundings
        raise DeckError(f"{where}: a theme names no one (no you, your, yourself): {text!r}")
    if card_name in text:
        raise DeckError(f"{where}: names the card itself ({card_name}): {text!r}")
    return text


def _list(where: str, value: Any, count: int) -> list[Any]:
    if not isinstance(value, list) or len(value) != count:
        raise DeckError(f"{where}: must be a list of {count} wordings")
    return value


def _keys(where: str, value: Any, expected: Iterable[str]) -> Mapping[str, Any]:
    expected = tuple(expected)
    if not isinstance(value, Mapping):
        raise DeckError(f"{where}: must be an object with {', '.join(expected)}")
    missing = [k for k in expected if k not in value]
    unknown = [k for k in value if k not in expected]
    if missing or unknown:
        problem = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(unknown)}" if unknown else "",
            )
            if part
        )
        raise DeckError(f"{where}: {problem}")
    return value


def _oriented(where: str, record: Any, card_name: str, language: str) -> OrientedTexts:
    person, words = PERSON_WORDS[language], SENTENCE_WORDS[language]
    record = _keys(where, record, ("theme", "essence", "roles", "topics"))
    theme = tuple(
        _check_theme(f"{where}.theme[{i}]", t, card_name, person)
        for i, t in enumerate(_list(f"{where}.theme", record["theme"], _COUNTS["theme"]))
    )
    essence = tuple(
        _check_sentence(f"{where}.essence[{i}]", t, card_name, True, words)
        for i, t in enumerate(_list(f"{where}.essence", record["essence"], _COUNTS["essence"]))
    )
    roles_in = _keys(f"{where}.roles", record["roles"], ROLES)
    roles = {
        role: tuple(
            _check_sentence(
                f"{where}.roles.{role}[{i}]",
                t,
                card_name,
                f"roles.{role}" in _LEAD_IN_SLOTS,
                words,
            )
            for i, t in enumerate(_list(f"{where}.roles.{role}", roles_in[role], _ROLE_COUNT))
        )
        for role in ROLES
    }
    topics_in = _keys(f"{where}.topics", record["topics"], TOPICS)
    topics = {
        topic: _check_sentence(f"{where}.topics.{topic}", topics_in[topic], card_name, False, words)
        for topic in TOPICS
    }
    return OrientedTexts(theme, essence, roles, topics)


def _all_sentences(texts: OrientedTexts) -> Iterable[tuple[str, str]]:
    for i, t in enumerate(texts.theme):
        yield f"theme[{i}]", t
    for i, t in enumerate(texts.essence):
        yield f"essence[{i}]", t
    for role, wordings in texts.roles.items():
        for i, t in enumerate(wordings):
            yield f"roles.{role}[{i}]", t
    for topic, t in texts.topics.items():
        yield f"topics.{topic}", t


def _normal(sentence: str) -> str:
    return " ".join(_WORD.findall(sentence.lower()))


def build_card_texts(
    files: Mapping[str, Any],
    deck: Deck,
    *,
    complete: bool = True,
    names: Mapping[str, str] | None = None,
    language: str = "en",
) -> CardTexts:
    """Validate parsed text files (``{"wands.json": {...}, ...}``) against ``deck``.

    ``complete``: every card of the deck must be there (the loader); False lets
    a writer check a file of a few cards. ``names``: the cards' names in the
    texts' ``language`` (by key; default the deck's), which no sentence may use.
    """
    cards: dict[str, dict[str, OrientedTexts]] = {}
    owners: dict[str, str] = {}
    seen: dict[str, str] = {}
    for file_name, content in files.items():
        if not isinstance(content, Mapping):
            raise DeckError(f"texts/{file_name}: must hold a JSON object keyed by card key")
        for key, record in content.items():
            if key not in deck:
                raise DeckError(f"texts/{file_name}: {key!r} is not a card key")
            if key in owners:
                raise DeckError(f"texts/{file_name}: {key!r} is also in texts/{owners[key]}")
            owners[key] = file_name
            name = (names or {}).get(key) or deck.by_key(key).name
            where = f"texts/{file_name}: {key}"
            record = _keys(where, record, ("upright", "reversed"))
            cards[key] = {o: _oriented(f"{where}.{o}", record[o], name, language) for o in record}
            for orientation, texts in cards[key].items():
                for slot, sentence in _all_sentences(texts):
                    normal = _normal(sentence)
                    here = f"{key}.{orientation}.{slot}"
                    if normal in seen:
                        raise DeckError(
                            f"texts/{file_name}: {here}: {sentence!r} also appears at {seen[normal]}"
                        )
                    seen[normal] = here
    if complete:
        missing = [card.key for card in deck if card.key not in cards]
        if missing:
            raise DeckError(f"texts: no texts for {len(missing)} cards: {', '.join(missing[:6])}…")
    return CardTexts({card.key: cards[card.key] for card in deck if card.key in cards})


def _read(paths: Iterable[Path]) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for path in paths:
        try:
            files[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DeckError(f"texts/{path.name}: cannot be read as UTF-8 JSON ({exc})") from None
    return files


@functools.cache
def _load(texts_dir: Path, language: str) -> CardTexts:
    names = {card.key: card.name for card in localized_deck(language)}
    files = _read(sorted(texts_dir.glob("*.json")))
    return build_card_texts(files, load_deck(), names=names, language=language)


def load_card_texts(texts_dir: Path | str | None = None, language: str = "en") -> CardTexts:
    """Every card's reading texts in ``language`` (from ``texts_dir``, default its
    ``texts/`` folder), read and validated once."""
    default = language_dir(language) / "texts"
    return _load(Path(texts_dir) if texts_dir is not None else default, language)


load_card_texts.cache_clear = _load.cache_clear  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    """Check text files on their own (``[--language ru] FILE…``): exit 1 on the first problem.

    For another language, the cards' names come from ``data/<language>/cards/*.json``
    where they are written already.
    """
    language = "en"
    if argv[:1] == ["--language"]:
        language, argv = argv[1], argv[2:]
    names = {}
    for path in sorted((DATA_DIR / language / "cards").glob("*.json")):
        names |= {k: v.get("name", "") for k, v in json.loads(path.read_text("utf-8")).items()}
    try:
        files = _read(Path(a) for a in argv)
        texts = build_card_texts(files, load_deck(), complete=False, names=names, language=language)
    except DeckError as exc:
        print(f"problem: {exc}")
        return 1
    print(f"ok: {len(texts.cards)} cards in {len(argv)} file(s)")
    return 0


if __name__ == "__main__":  # pragma: no cover - a writer's tool
    raise SystemExit(main(sys.argv[1:]))
