"""Safety notes: crises are recognised, everyday phrasings are not."""

from __future__ import annotations

import pytest

from tarotbot.tarot.errors import QuestionTooLong
from tarotbot.tarot.safety import assess_question, clean_question
from tests.tarot.html_check import assert_valid_html


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "im thinking about suicide",
        "Should I end my life?",
        "I don't want to live anymore",
        "I want to die",
        "Is there any reason to live?",
        "I keep cutting myself, will it stop?",
        "I feel suicidal tonight",
        "everyone would be better off dead without me",
        "Хочу умереть",
        "Я думаю покончить с собой",
        "не хочу больше жить",
    ],
)
def test_self_harm(text):
    note = assess_question(text)
    assert note is not None and note.category == "self_harm"
    assert note.proceed is False
    assert "findahelpline.com" in note.html and "112" in note.html and "911" in note.html
    assert "you deserve support right now" in note.html.lower()
    assert_valid_html(note.html)


def test_russian_self_harm_note_speaks_russian():
    assert "112" in assess_question("хочу умереть").html
    assert "Вы заслуживаете" in assess_question("хочу умереть").html


@pytest.mark.parametrize(
    "text",
    [
        "I have chest pain, will it be ok?",
        "my friend took too many pills",
        "I can't breathe properly",
        "I think I overdosed",
        "is my dad having a stroke?",
        "у меня болит в груди",
        "не могу дышать",
    ],
)
def test_medical(text):
    note = assess_question(text)
    assert note is not None and note.category == "medical" and note.proceed is True
    assert "112" in note.html and "doctor" in note.html
    assert_valid_html(note.html)


@pytest.mark.parametrize(
    "text",
    [
        "I got arrested yesterday, what now?",
        "my ex is threatening me",
        "he threatens to kill me",
        "is this domestic violence?",
        "my husband hits me",
        "I am being blackmailed",
        "меня арестовали",
        "муж бьёт меня",
        "мне угрожают",
    ],
)
def test_legal(text):
    note = assess_question(text)
    assert note is not None and note.category == "legal" and note.proceed is True
    assert "lawyer" in note.html and "police" in note.html
    assert_valid_html(note.html)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "Will my career die down?",
        "Will my love life die a slow death?",
        "This job is killing me, should I quit?",
        "I'm dying to know if he likes me",
        "Am I going to die alone?",
        "I don't want to die without seeing Paris",
        "a stroke of luck this month?",
        "What is my unconscious trying to tell me?",
        "My boyfriend is threatening to leave if I move",
        "Is my boss threatened by my success?",
        "She beat me to the promotion, what now?",
        "Will he hit me up this week?",
        "Should I cut my hair?",
        "How do I end this relationship kindly?",
        "Death card again?",
        "What is the point of life, really?",
        "Что ждёт меня в любви?",
    ],
)
def test_no_false_alarms(text):
    assert assess_question(text) is None


def test_self_harm_outranks_others():
    assert assess_question("I was arrested and I want to kill myself").category == "self_harm"


def test_clean_question():
    assert clean_question("  Will\n\nhe\tcall?\x00\x07  ") == "Will he call?"
    assert clean_question(None) == ""
    assert clean_question("\u202eevil\u202c text") == "evil text"
    assert clean_question("👨\u200d👩\u200d👧 family?") == "👨\u200d👩\u200d👧 family?"
    assert clean_question("x" * 500) == "x" * 500
    with pytest.raises(QuestionTooLong) as info:
        clean_question("x" * 501)
    assert isinstance(info.value, ValueError) and info.value.limit == 500
    assert clean_question("abc", limit=3) == "abc"
