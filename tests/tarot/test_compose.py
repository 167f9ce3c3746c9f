"""The composer: every card named, valid Telegram HTML within limits, escaped, deterministic."""

from __future__ import annotations

import re

import pytest

from tarotbot.tarot.compose import (
    Interpretation,
    compose,
    is_yes_no_question,
    question_topic,
    yes_no_lean,
)
from tarotbot.tarot.draw import draw
from tarotbot.tarot.spreads import SPREADS
from tarotbot.tarot.telegram_text import check_html, escape, telegram_length
from tests.tarot.helpers import LONG_QUESTION, seeds
from tests.tarot.html_check import assert_valid_html

QUESTIONS = [
    None,
    "",
    "Will I get the job?",
    "What do I need to know about my sister?",
    LONG_QUESTION,
]


def _check(reading: Interpretation, result) -> None:
    assert reading.author == "composer"
    assert reading.title == result.spread.title
    text = assert_valid_html(reading.html)
    check_html(reading.html)
    for dc in result.cards:
        assert dc.card.name in text, f"{dc.card.name} is not named"
    assert reading.messages
    for message in reading.messages:
        assert telegram_length(message) <= 4096
        assert_valid_html(message)
        check_html(message, 4096)
    assert "".join("".join(m.split()) for m in reading.messages) == "".join(reading.html.split())
    assert telegram_length(reading.caption) <= 1024
    assert_valid_html(reading.caption)
    check_html(reading.caption, 1024)
    caption_text = assert_valid_html(reading.caption)
    assert result.spread.title in caption_text
    for i, dc in enumerate(result.cards, 1):
        assert f"{i}. " in caption_text and dc.card.name in caption_text
    assert caption_text.count("↻") == sum(dc.reversed for dc in result.cards)
    assert caption_text.count("↑") == sum(not dc.reversed for dc in result.cards)


@pytest.mark.parametrize("name", sorted(SPREADS))
@pytest.mark.parametrize("question", QUESTIONS, ids=["none", "empty", "yesno", "open", "long"])
def test_every_spread_reads_well(deck, name, question):
    for seed in seeds(4, f"{name}-{question}"):
        result = draw(name, seed, 0.5, deck=deck)
        _check(compose(result, question), result)


def test_many_draws_stay_valid(deck):
    """A wider sweep: many seeds and spreads, long question, reversals on and off."""
    for i, seed in enumerate(seeds(120, "sweep")):
        name = sorted(SPREADS)[i % len(SPREADS)]
        result = draw(name, seed, 0.4, reversals=bool(i % 3), deck=deck)
        _check(compose(result, LONG_QUESTION if i % 2 else None), result)


def test_deterministic(deck):
    result = draw("celtic", "1234" * 8, deck=deck)
    assert compose(result, "Should I stay?") == compose(result, "Should I stay?")
    other = draw("celtic", "4321" * 8, deck=deck)
    assert compose(other, "Should I stay?").html != compose(result, "Should I stay?").html


def test_question_is_escaped(deck):
    question = "<script>alert('x')</script> Tom & Jerry 🔮🌙 <b>bold</b>?"
    result = draw("three", "abcd" * 8, deck=deck)
    reading = compose(result, question)
    assert "<script>" not in reading.html and "<script>" not in reading.caption
    assert escape(question) in reading.html
    assert "&lt;script&gt;" in reading.caption
    assert "Tom &amp; Jerry" in reading.html
    assert "🔮🌙" in reading.html
    assert_valid_html(reading.html)
    assert_valid_html(reading.caption)
    assert "<b>bold</b>" not in reading.html


def test_plain_text(deck):
    result = draw("single", "ab" * 16, deck=deck)
    plain = compose(result, "Tom & Jerry?").plain_text()
    assert "<b>" not in plain and "&amp;" not in plain and "Tom & Jerry" in plain


def test_angle_texts_are_used(deck):
    love = draw("relationship", "01" * 16, deck=deck)
    html = compose(love).html
    for dc in love.cards:
        assert escape(dc.card.love(dc.reversed)) in html
    career = draw("career", "02" * 16, deck=deck)
    html = compose(career).html
    for dc in career.cards:
        assert escape(dc.card.career(dc.reversed)) in html
    week = draw("week_ahead", "03" * 16, deck=deck)
    html = compose(week).html
    for dc in week.cards:
        assert escape(dc.card.meaning(dc.reversed)) in html
    assert all(day in html for day in ("Monday", "Thursday", "Sunday"))
    general = draw("celtic", "04" * 16, deck=deck)
    html = compose(general).html
    for dc in general.cards:
        assert escape(dc.card.meaning(dc.reversed)) in html


def test_synthesis_mentions_patterns(deck):
    found = {"majors": False, "element": False, "reversed": False, "ranks": False}
    for seed in seeds(60, "synthesis"):
        result = draw("yearly_path", seed, 0.3, deck=deck)
        html = compose(result).html
        found["majors"] |= "Major Arcana" in html
        found["element"] |= "strongest element" in html
        found["reversed"] |= "reversed card" in html or "are reversed" in html
        found["ranks"] |= bool(
            re.search(
                r"(Two|Three|Four) (Aces|Twos|Threes|Queens|Kings|Pages|Knights|Sixes|Sevens|Eights|Nines|Tens|Fours|Fives)",
                html,
            )
        )
    assert all(found.values()), found


def test_reversals_off_is_mentioned(deck):
    result = draw("three", "05" * 16, reversals=False, deck=deck)
    assert "reversals turned off" in compose(result).html


@pytest.mark.parametrize(
    "question",
    [
        "Will he call me?",
        "Should I take the job?",
        "Is this the right time to move?",
        "Hi! Does she still love me?",
        "Can I trust my new colleague?",
        "Стоит ли мне менять работу?",
        "Он вернётся?",
    ],
)
def test_yes_no_questions(question):
    assert is_yes_no_question(question)


@pytest.mark.parametrize(
    "question",
    [
        None,
        "",
        "What should I focus on this month?",
        "How can I heal after the breakup?",
        "Should I stay or should I go?",
        "Tell me about my career",
        "Что меня ждёт в этом году?",
    ],
)
def test_open_questions(question):
    assert not is_yes_no_question(question)


def test_yes_no_answer_is_given(deck):
    leans = set()
    for seed in seeds(40, "yesno"):
        result = draw("three", seed, deck=deck)
        html = compose(result, "Will I pass the exam?").html
        lean = yes_no_lean(result)
        leans.add(lean)
        expected = {
            "yes": "<b>yes</b>",
            "no": "<b>no</b>",
            "maybe": ("no clear yes or no", "<b>maybe</b>"),
        }[lean]
        assert any(e in html for e in ([expected] if isinstance(expected, str) else expected))
        assert "verdict" in html or "not yet" in html or "open" in html, "framed gently"
    assert leans == {"yes", "no", "maybe"}


def test_open_question_uses_central_cards(deck):
    result = draw("celtic", "06" * 16, deck=deck)
    html = compose(result, "What do I need to understand about my work?").html
    answer = html.split("<b>Your question</b>")[1]
    present = result.cards[0].card
    outcome = result.cards[9].card
    assert present.name in answer and outcome.name in answer
    assert escape(present.career(result.cards[0].reversed)) in answer  # the topic is work


def test_topics():
    assert question_topic("Will I get the promotion at work?") == "career"
    assert question_topic("Does my boyfriend love me?") == "love"
    assert question_topic("What does the year hold?") is None
    assert question_topic("Найду ли я работу?") == "career"


def test_relationship_compares_the_two_people(deck):
    result = draw("relationship", "07" * 16, deck=deck)
    assert "Between you (" in compose(result).html
