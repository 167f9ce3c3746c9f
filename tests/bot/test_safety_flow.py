"""The bot's question step: a self-harm question gets the note and no reading job (no charge)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tarotbot.config import load_settings
from tarotbot.sessions import Session
from tarotbot.telegram.bot import TarotBot


class _App:
    def __init__(self):
        self.jobs = []
        self.actions = []
        self.settings = load_settings({})
        self.sender = SimpleNamespace(act=lambda chat_id, action: self.actions.append(action))

    def enqueue(self, queue, func, *args, **kwargs):
        self.jobs.append((queue, func, args))


def _start(question: str):
    sent = []
    fake = SimpleNamespace(app=_App(), reply=lambda update_id, chat_id, *items: sent.extend(items))
    session = Session(telegram_id=7, user_id=1)
    TarotBot.start_reading(fake, session, "three", question, chat_id=7, update_id=1)
    return fake.app.jobs, [item.text for item in sent if item.kind == "text"]


@pytest.mark.parametrize(
    "question", ["I feel like ending it all", "Nobody would miss me if I was gone", "не хочу жить"]
)
def test_self_harm_question_is_not_read_or_charged(question):
    jobs, texts = _start(question)
    assert jobs == []  # no reading job: nothing is drawn, nothing is debited
    assert len(texts) == 1 and "findahelpline.com" in texts[0]


@pytest.mark.parametrize("question", ["Do I have cancer?", "Is my husband cheating on me?"])
def test_no_verdict_question_gets_its_note_then_a_reading(question):
    jobs, texts = _start(question)
    assert [func for _, func, _ in jobs] == ["jobs.readings.run_reading"]
    assert "yes or a no" in texts[0] and len(texts) == 1  # the note; the reading follows


def test_ordinary_question_is_read_without_a_note():
    jobs, texts = _start("Will I find a new job?")
    assert len(jobs) == 1 and texts == []  # a chat action while the cards are drawn
