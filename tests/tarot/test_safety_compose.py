"""A question the safety screen forbids a verdict for gets a reflective answer, never yes/no."""

from __future__ import annotations

import hashlib
import re

import pytest

from tarotbot.tarot.compose import compose
from tarotbot.tarot.draw import draw
from tarotbot.tarot.phrasing import load_phrasing
from tarotbot.tarot.spreads import SPREADS
from tarotbot.tarot.telegram_text import strip_html
from tests.tarot.html_check import assert_valid_html

NO_VERDICT = [
    "Do I have cancer?",
    "Is this lump serious?",
    "Will my surgery go well?",
    "Am I pregnant?",
    "Will I win my court case?",
    "Is my husband cheating on me?",
    "Will I lose my job?",
    "Is my mother going to die?",
    "Is my chest pain serious?",  # an emergency note: no verdict either
    "Муж мне изменяет?",
]
SEEDS = [hashlib.sha256(str(i).encode()).hexdigest()[:32] for i in range(8)]


def _verdict_texts() -> list[str]:
    """Every yes/no wording the composer has (plain text), and the caption's leanings."""
    values = load_phrasing().values
    texts = []
    for path, value in values.items():
        if path.startswith(("answer.yes_no.opening", "answer.yes_no.closing", "caption.leaning")):
            texts += [strip_html(v) for v in (value if isinstance(value, tuple) else (value,))]
    return texts


VERDICT = re.compile(
    r"lean(?:s|ing)?\s+(?:towards\s+)?(?:yes|no)\b|leans? the other way|encouragement|"
    r"not settled yet|a gentle yes|\bleaning yes|\bleaning no",
    re.IGNORECASE,
)


@pytest.mark.parametrize("question", NO_VERDICT)
def test_no_verdict_questions_get_no_yes_no_wording(question):
    verdicts = _verdict_texts()
    assert len(verdicts) >= 9
    for name in SPREADS:
        for seed in SEEDS:
            reading = compose(draw(name, seed), question)
            plain = strip_html(reading.html) + "\n" + strip_html(reading.caption)
            assert not [v for v in verdicts if v.lower() in plain.lower()], (name, seed)
            assert not VERDICT.search(plain), (name, seed, VERDICT.search(plain))
            assert re.search(
                r"can settle with a yes or a no|No card can answer|cannot settle this", plain
            )
            assert_valid_html(reading.html)


def test_the_same_draw_with_an_ordinary_question_still_answers_yes_or_no():
    answered = 0
    for seed in SEEDS:
        plain = strip_html(compose(draw("three", seed), "Will I find a new job?").html)
        answered += bool(re.search(r"\b(?:yes|no)\b|not yet|maybe", plain))
        assert "can settle with a yes or a no" not in plain
    assert answered == len(SEEDS)
