"""The card texts of readings: the shipped files validate, broken copies are refused by name."""

from __future__ import annotations

import copy
import json

import pytest

from tarotbot.tarot.card_texts import ROLES, TEXTS_DIR, TOPICS, build_card_texts, load_card_texts
from tarotbot.tarot.card_texts import main as check_files
from tarotbot.tarot.errors import DeckError

FILES = {p.name: json.loads(p.read_text("utf-8")) for p in sorted(TEXTS_DIR.glob("*.json"))}


def test_every_card_has_every_slot(deck):
    texts = load_card_texts()
    assert len(texts.cards) == 78
    for card in deck:
        for reversed_ in (False, True):
            own = texts.of(card.key, reversed_)
            assert len(own.theme) == 2 and len(own.essence) == 3
            assert set(own.roles) == set(ROLES) and set(own.topics) == set(TOPICS)


def _broken(change) -> dict:
    files = copy.deepcopy(FILES)
    change(files["wands.json"]["ace-of-wands"]["upright"], files)
    return files


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t, f: t["roles"].pop("hope"), "ace-of-wands.upright.roles: missing hope"),
        (lambda t, f: t["topics"].update(pets="Dogs."), "unknown pets"),
        (lambda t, f: t["essence"].pop(), "essence: must be a list of 3 wordings"),
        (
            lambda t, f: t["roles"]["past"].__setitem__(0, "Too short here."),
            "3 words, expected 10..32",
        ),
        (
            lambda t, f: t["roles"]["past"].__setitem__(
                0, "The Ace of Wands " + "word " * 8 + "ends."
            ),
            "names the card itself",
        ),
        (
            lambda t, f: t["essence"].__setitem__(0, "I think that " + "word " * 8 + "here."),
            "lead-in can lowercase",
        ),
        (lambda t, f: t["theme"].__setitem__(0, "your bright spark"), "a theme names no one"),
        (lambda t, f: t["theme"].__setitem__(0, "A Spark"), "lower-case noun phrase"),
        (
            lambda t, f: t["roles"]["past"].__setitem__(0, t["roles"]["outcome"][0]),
            "also appears at ace-of-wands.upright.roles.past[0]",
        ),
        (
            lambda t, f: t["roles"]["advice"].__setitem__(1, "<b>Bold</b> " + "word " * 9 + "."),
            "no <",
        ),
        (lambda t, f: f["wands.json"].pop("king-of-wands"), "no texts for 1 cards: king-of-wands"),
        (lambda t, f: f["wands.json"].update({"joker": {}}), "'joker' is not a card key"),
    ],
)
def test_broken_copies_are_refused_by_name(deck, change, message):
    with pytest.raises(DeckError) as error:
        build_card_texts(_broken(change), deck)
    assert message in str(error.value)


def test_the_writers_check_takes_partial_files(capsys):
    assert check_files([str(TEXTS_DIR / "wands.json")]) == 0
    assert "ok: 14 cards in 1 file(s)" in capsys.readouterr().out
