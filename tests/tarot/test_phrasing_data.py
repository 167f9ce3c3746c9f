"""The composer's phrasing data: the files validate, broken copies are refused by name,
and the composer uses every slot of the schema and fills in exactly what it declares."""

from __future__ import annotations

import copy
import functools
import json
import operator
import shutil

import pytest

from tarotbot.tarot.compose import card_page, compose
from tarotbot.tarot.draw import Draw, DrawnCard, draw
from tarotbot.tarot.errors import PhrasingError
from tarotbot.tarot.phrasing import FILES, PHRASING_DIR, SLOTS, Phrasing, build_phrasing
from tarotbot.tarot.phrasing import load_phrasing as load
from tarotbot.tarot.spreads import SPREADS, get_spread
from tests.tarot.helpers import seeds

FILES_JSON = {n: json.loads((PHRASING_DIR / f"{n}.json").read_text("utf-8")) for n in FILES}


def test_the_data_files_validate():
    phrasing = build_phrasing(FILES_JSON)
    assert set(phrasing.values) == set(SLOTS) and phrasing.values == load().values
    assert phrasing.number(3) == "three" and phrasing.number(40) == "40"


def _set(path: str, value) -> dict:  # value None: the key removed
    files = copy.deepcopy(FILES_JSON)
    *parents, leaf = path.split(".")
    node = functools.reduce(operator.getitem, parents, files)
    node[leaf] = value
    if value is None:
        del node[leaf]
    return files


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("answer.yes_no.closing.maybe", None, "answer.json, key 'yes_no.closing.maybe': missing"),
        ("caption.titel", "<b>{title}</b>", "caption.json, key 'titel': unknown key"),
        ("advice.closing", "Be kind.", "key 'closing': must be a list of one or more wordings"),
        ("synthesis.pattern", [], "key 'pattern': must be a JSON object"),
        ("answer.where", 7, "answer.json, key 'where': must be a non-empty string"),
        ("advice.second", ["And {card}: {advise}"], "wording 1: unknown placeholder {advise}"),
        ("synthesis.pattern.rank", ["{names} repeat."], "missing placeholder {count}"),
        ("answer.open.timing", ["Then {where}."], "missing placeholder {card_as_drawn}"),
        ("synthesis.story.plain", ["{first} {second} {third"], "wording 1: expected '}'"),
        ("synthesis.header.spread", "<b>The whole", "'header.spread': not valid Telegram HTML"),
        ("caption.leaning.yes", "<i>yes</i>", "caption.json, key 'leaning.yes': plain text only"),
    ],
)
def test_broken_copies_are_refused_by_name(path, value, message):
    with pytest.raises(PhrasingError) as error:
        build_phrasing(_set(path, value))
    assert message in str(error.value)


def test_a_missing_file_is_named(tmp_path):
    shutil.copytree(PHRASING_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "advice.json").unlink()
    with pytest.raises(PhrasingError, match=r"advice\.json: missing in"):
        load(tmp_path)


#: Slots :meth:`Phrasing.say` never fills: number words (read by ``number()``) and
#: a count of one card (a single card reading says "one card" its own way), kept
#: so that every plural has its wording.
NOT_SAID = {"grammar.counted.cards.one"} | {f"grammar.number_words.{n}" for n in range(1, 14)}
NOT_SAID |= {f"grammar.ordinal.week.{n}" for n in range(5, 13)}  # a month has four weeks
NOT_SAID |= {path for path in SLOTS if path.startswith("picture.")}  # the picture's: test_render


def test_the_composer_uses_every_slot_and_fills_what_the_schema_declares(monkeypatch, deck):
    used, say = set(), Phrasing.say

    def recording_say(self, path, *args, **values):
        used.add(path)
        return say(self, path, *args, **values)  # KeyError or TypeError: code and data disagree

    monkeypatch.setattr(Phrasing, "say", recording_say)
    questions = (None, "Will I get the job?", "What about my love life?", "What is ahead?")
    questions += ("When will it change?", "Why is this happening?", "What should I do?")
    questions += ("What is blocking me?",)
    questions += ("Will I lose my job?",)  # no verdict: the reflective answer
    yearly = get_spread("yearly_path")  # a year without Major Arcana is rare: lay one out
    cups = zip(yearly.positions, deck.suit("cups"), strict=False)
    compose(Draw(yearly, "ab" * 16, True, 0.3, tuple(DrawnCard(p, c, False) for p, c in cups)))
    three = get_spread("three")
    for rank in range(14):  # the same rank in three suits: the rank is what stands out
        same = [deck.suit(suit)[rank] for suit in ("wands", "cups", "swords")]
        compose(
            Draw(
                three,
                "cd" * 16,
                True,
                0.3,
                tuple(map(DrawnCard, three.positions, same, [False] * 3)),
            )
        )
    for i, seed in enumerate(seeds(40, "phrasing")):
        probability, reversals = ((0.5, True), (1.0, True), (0.0, False), (0.3, True))[i % 4]
        for name in SPREADS:
            result = draw(name, seed, probability, reversals, deck=deck)
            for question in questions:
                compose(result, question)
            card_page(result, 1)
    assert set(SLOTS) - used == NOT_SAID
