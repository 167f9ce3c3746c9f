"""The deck: the real data is complete and consistent; the loader names what is wrong."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter

import pytest

from tarotbot.tarot.deck import (
    DATA_DIR,
    GROUPS,
    MAJOR_NAMES,
    RANKS,
    SUIT_ELEMENT,
    Card,
    DeckError,
    build_deck,
    load_deck,
    sentences,
)
from tests.tarot.fixture_deck import fixture_groups, write_fixture_files

# ---------------------------------------------------------------- the real deck


def test_all_five_data_files_exist():
    missing = [g for g in GROUPS if not (DATA_DIR / f"{g}.json").is_file()]
    assert not missing, f"card data files missing: {missing}"


def test_real_deck_is_complete(deck):
    assert len(deck) == 78
    assert len({c.key for c in deck}) == 78
    majors = deck.majors
    assert [c.number for c in majors] == list(range(22))
    assert [c.name for c in majors][8] == "Strength"
    assert [c.name for c in majors][11] == "Justice"
    for number, card in enumerate(majors):
        assert card.name in MAJOR_NAMES[number]
        assert card.suit is None and card.rank is None and card.arcana == "major"
    for suit in GROUPS[1:]:
        cards = deck.suit(suit)
        assert [c.number for c in cards] == list(range(1, 15))
        assert [c.rank for c in cards] == list(RANKS)
        assert {c.element for c in cards} == {SUIT_ELEMENT[suit]}
        assert all(c.arcana == "minor" for c in cards)


def test_real_deck_order_is_deck_order(deck):
    groups = [c.group for c in deck]
    assert groups == ["major"] * 22 + [s for s in GROUPS[1:] for _ in range(14)]


def test_real_deck_values_are_allowed(deck):
    for card in deck:
        assert card.element in ("fire", "water", "air", "earth"), card.key
        assert card.yes_no in ("yes", "no", "maybe"), card.key
        assert card.key == re.sub(r"[^a-z0-9]+", "-", card.name.lower()).strip("-")
        for side in (card.keywords_upright, card.keywords_reversed):
            assert 3 <= len(side) <= 6, card.key
            assert all(k and k == k.lower() for k in side), card.key


def test_real_deck_texts_follow_the_schema(deck):
    """Lengths from SCHEMA.md, plain text, no placeholders."""
    problems = []
    for card in deck:
        for field, (lo, hi) in (("upright", (60, 120)), ("reversed", (50, 110))):
            text = getattr(card, field)
            words, count = len(text.split()), len(sentences(text))
            if not (lo <= words <= hi and 3 <= count <= 5):
                problems.append(f"{card.key}.{field}: {words} words, {count} sentences")
        for field in ("love_upright", "love_reversed", "career_upright", "career_reversed"):
            if not 1 <= len(sentences(getattr(card, field))) <= 2:
                problems.append(f"{card.key}.{field}: not 1..2 sentences")
        if len(sentences(card.advice)) != 1:
            problems.append(f"{card.key}.advice: not one sentence")
        for field in ("upright", "reversed", "love_upright", "career_upright", "advice"):
            text = getattr(card, field)
            if re.search(r"[<>*_#`]|\[|lorem|TODO|TBD|\.\.\.$", text, re.IGNORECASE):
                problems.append(f"{card.key}.{field}: markup or placeholder")
    assert not problems, "\n".join(problems)


def test_real_deck_shares_no_sentence(deck):
    owners: dict[str, str] = {}
    for card in deck:
        for field in ("upright", "reversed", "love_upright", "love_reversed"):
            for s in sentences(getattr(card, field)):
                normal = " ".join(re.findall(r"\w+", s.lower()))
                assert owners.setdefault(normal, card.key) == card.key, (s, card.key)
        for field in ("career_upright", "career_reversed", "advice"):
            for s in sentences(getattr(card, field)):
                normal = " ".join(re.findall(r"\w+", s.lower()))
                assert owners.setdefault(normal, card.key) == card.key, (s, card.key)


def test_numerals_and_symbols(deck):
    assert deck.by_key("the-fool").numeral == "0"
    assert deck.by_key("the-star").numeral == "XVII"
    assert deck.by_key("the-world").numeral == "XXI"
    assert deck.by_key("ace-of-cups").numeral == "Ace"
    assert deck.by_key("seven-of-swords").numeral == "VII"
    assert deck.by_key("queen-of-wands").numeral == "Queen"
    assert deck.by_key("the-star").symbol == "★"
    assert deck.by_key("ten-of-cups").symbol == "♥"
    assert {c.symbol for c in deck.suit("swords")} == {"♠"}


def test_load_deck_is_cached(deck):
    assert load_deck() is deck


def test_by_key_unknown_names_the_key(deck):
    with pytest.raises(KeyError, match="no-such-card"):
        deck.by_key("no-such-card")
    assert "the-fool" in deck
    assert isinstance(deck.cards[0], Card)


def test_cards_are_frozen_and_hashable(deck):
    card = deck.cards[0]
    with pytest.raises(AttributeError):
        card.name = "x"  # type: ignore[misc]
    assert len({*deck.cards}) == 78


# ---------------------------------------------------------------- the loader's errors


def test_missing_file_is_named(tmp_path):
    write_fixture_files(tmp_path)
    (tmp_path / "cups.json").unlink()
    with pytest.raises(DeckError, match=r"missing: cups\.json"):
        load_deck(tmp_path)


def test_fixture_files_load(tmp_path):
    write_fixture_files(tmp_path)
    assert len(load_deck(tmp_path)) == 78


def test_broken_json_is_named(tmp_path):
    write_fixture_files(tmp_path)
    (tmp_path / "swords.json").write_text("[{", encoding="utf-8")
    with pytest.raises(DeckError, match=r"swords\.json"):
        load_deck(tmp_path)


def _broken(mutate) -> str:
    groups = fixture_groups()
    mutate(groups)
    with pytest.raises(DeckError) as info:
        build_deck(groups)
    return str(info.value)


def test_duplicate_sentence_names_both_cards_and_fields():
    def mutate(groups):
        groups["cups"][2]["advice"] = groups["major"][0]["advice"]

    message = _broken(mutate)
    assert "three-of-cups" in message and "the-fool" in message and "'advice'" in message


def test_empty_text_names_card_and_field():
    def mutate(groups):
        groups["wands"][0]["love"]["reversed"] = "  "

    message = _broken(mutate)
    assert "ace-of-wands" in message and "love.reversed" in message


@pytest.mark.parametrize(
    ("group", "index", "field", "value", "expect"),
    [
        ("major", 3, "element", "aether", "element"),
        ("major", 3, "yes_no", "perhaps", "yes_no"),
        ("major", 3, "arcana", "middle", "arcana"),
        ("major", 8, "number", 11, "Justice"),
        ("swords", 4, "element", "fire", "element"),
        ("swords", 4, "rank", "six", "rank"),
        ("swords", 4, "key", "five-swords", "key"),
        ("pentacles", 0, "suit", "cups", "Ace of Cups"),
        ("pentacles", 0, "suit", "coins", "suit"),
    ],
)
def test_bad_values_name_card_and_field(group, index, field, value, expect):
    def mutate(groups):
        groups[group][index][field] = value

    message = _broken(mutate)
    assert expect in message
    assert f"{group}.json" in message or "card" in message


def test_missing_keyword_block():
    def mutate(groups):
        del groups["cups"][5]["keywords"]

    assert "keywords.upright" in _broken(mutate)


def test_too_few_keywords():
    def mutate(groups):
        groups["cups"][5]["keywords"]["reversed"] = ["one"]

    assert "keywords.reversed" in _broken(mutate)


def test_wrong_count_and_duplicates():
    def drop(groups):
        groups["wands"].pop()

    assert "wands.json" in _broken(drop)

    def swap(groups):
        groups["major"][1], groups["major"][2] = groups["major"][2], groups["major"][1]

    assert "deck order" in _broken(swap)


def test_html_in_text_is_refused():
    def mutate(groups):
        groups["major"][5]["upright"] = "A <b>bold</b> claim."

    assert "plain text" in _broken(mutate)


def test_real_files_are_valid_json_arrays_in_utf8():
    for group in GROUPS:
        path = DATA_DIR / f"{group}.json"
        records = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(records, list)
        assert Counter(r["arcana"] for r in records).most_common(1)[0][1] == len(records)


def test_copy_of_real_data_loads_from_another_directory(tmp_path):
    for group in GROUPS:
        shutil.copy(DATA_DIR / f"{group}.json", tmp_path / f"{group}.json")
    assert load_deck(tmp_path) == load_deck()


def test_draws_accept_another_deck(fixture_deck):
    from tarotbot.tarot.draw import draw

    result = draw("celtic", "ab" * 16, deck=fixture_deck)
    assert all(dc.card in fixture_deck.cards for dc in result.cards)
    assert "opens a bright door" in result.cards[0].card.upright
