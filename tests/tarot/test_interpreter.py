"""The LLM interpreter against a local stub server: good, failing, garbage and hanging."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tarotbot.interpreter import UnusableReply, clean_reply, interpret
from tarotbot.tarot.card_texts import load_card_texts
from tarotbot.tarot.compose import compose
from tarotbot.tarot.draw import draw
from tarotbot.tarot.prompt import WORD_BUDGET, build_messages, word_budget
from tarotbot.tarot.spreads import SPREADS
from tarotbot.tarot.telegram_text import telegram_length
from tests.tarot.html_check import assert_valid_html

API_KEY = "sk-test-very-secret-key-123"


class Key:
    def __init__(self, value):
        self._value = value

    def reveal(self):
        return self._value

    def __repr__(self):
        return "Key('***')"


@dataclass
class FakeSettings:
    llm_url: str | None
    llm_model: str = "stub-model"
    llm_api_key: object = None
    llm_timeout: float = 0.5


class Stub:
    """A chat-completions endpoint whose behaviour each test sets."""

    def __init__(self):
        self.mode = "good"
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.requests.append(json.loads(body))
                stub.headers.append(dict(self.headers))
                status, payload = stub.answer(stub.requests[-1])
                if status is None:
                    return
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/chat/completions"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reading_for(self, request) -> str:
        names = [
            line.split(": ", 1)[1].split(",")[0]
            for line in request["messages"][1]["content"].splitlines()
            if line[:1].isdigit()
        ]
        paragraphs = [f"{name} speaks to you <b>now</b> & gently." for name in names]
        return "**Your reading**\n\n" + "\n\n".join(paragraphs) + "\n\nTrust yourself."

    def answer(self, request):
        mode = self.mode
        if mode == "good":
            text = self.reading_for(request)
            return 200, {"choices": [{"message": {"role": "assistant", "content": text}}]}
        if mode == "error":
            return 500, {"error": "boom"}
        if mode == "not-json":
            return 200, b"<html>oops</html>"
        if mode == "no-choices":
            return 200, {"id": "x", "object": "chat.completion"}
        if mode == "missing-cards":
            return 200, {"choices": [{"message": {"content": "The cards are lovely today."}}]}
        if mode == "empty":
            return 200, {"choices": [{"message": {"content": "   "}}]}
        if mode == "too-long":
            text = self.reading_for(request) + (" words" * 20000)
            return 200, {"choices": [{"message": {"content": text}}]}
        if mode == "over-budget":  # short enough in characters, too many words
            text = self.reading_for(request) + "\n\n" + "Go on. " * 200
            return 200, {"choices": [{"message": {"content": text}}]}
        if mode == "hang":
            time.sleep(2.0)
            return None, None
        raise AssertionError(mode)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    server = Stub()
    yield server
    server.close()


@pytest.fixture
def reading_draw(deck):
    return draw("three", "0f" * 16, deck=deck)


def test_no_url_means_composer(reading_draw):
    reading = interpret(reading_draw, "Will it rain?", FakeSettings(llm_url=None))
    assert reading == compose(reading_draw, "Will it rain?")
    assert reading.author == "composer"


def test_good_reply(stub, reading_draw, caplog):
    settings = FakeSettings(llm_url=stub.url, llm_api_key=Key(API_KEY))
    with caplog.at_level(logging.DEBUG):
        reading = interpret(reading_draw, "Tom & <Jerry>?", settings)
    assert reading.author == "llm:stub-model"
    assert "<b>now</b>" not in reading.html and "&lt;b&gt;now&lt;/b&gt;" in reading.html
    assert "**" not in reading.html
    assert "Tom &amp; &lt;Jerry&gt;" in reading.html
    assert_valid_html(reading.html)
    for message in reading.messages:
        assert telegram_length(message) <= 4096
        assert_valid_html(message)
    for dc in reading_draw.cards:
        assert dc.card.name in reading.html
    assert reading.caption == compose(reading_draw, "Tom & <Jerry>?").caption
    request = stub.requests[-1]
    assert request["model"] == "stub-model"
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert stub.headers[-1]["Authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in caplog.text


@pytest.mark.parametrize(
    "mode",
    [
        "error",
        "not-json",
        "no-choices",
        "missing-cards",
        "empty",
        "too-long",
        "over-budget",
        "hang",
    ],
)
def test_failures_fall_back_to_the_composer(stub, reading_draw, mode, caplog):
    stub.mode = mode
    settings = FakeSettings(llm_url=stub.url, llm_api_key=Key(API_KEY), llm_timeout=0.5)
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        reading = interpret(reading_draw, "Will it work?", settings)
    assert time.monotonic() - started < 1.8, "the timeout is honoured"
    assert reading == compose(reading_draw, "Will it work?")
    assert reading.author == "composer"
    assert API_KEY not in caplog.text
    assert "using the composer" in caplog.text


def test_unreachable_server_falls_back(reading_draw):
    settings = FakeSettings(llm_url="http://127.0.0.1:9/v1/chat/completions", llm_timeout=0.5)
    assert interpret(reading_draw, None, settings).author == "composer"


def test_prompt_names_everything(deck):
    result = draw("celtic", "aa" * 16, 0.5, deck=deck)
    system, user = build_messages(result, "Will I move abroad?")
    assert "markdown" in system["content"].lower()
    for i, dc in enumerate(result.cards, 1):
        line = (
            f"{i}. {dc.position.name} ({dc.position.question}): {dc.card.name}, {dc.orientation}."
        )
        assert line in user["content"]
    assert "Will I move abroad?" in user["content"]
    assert "Celtic Cross" in user["content"]
    no_question = build_messages(result, None)[1]["content"]
    assert "asked no question" in no_question


@pytest.mark.parametrize(
    "question", ["Do I have cancer?", "Is my husband cheating on me?", "Will I win my court case?"]
)
def test_a_question_that_may_get_no_verdict_never_reaches_the_llm(stub, reading_draw, question):
    """The safety screen runs before any call: the composer's reflective reading answers."""
    settings = FakeSettings(llm_url=stub.url, llm_api_key=Key(API_KEY))

    reading = interpret(reading_draw, question, settings)

    assert not stub.requests
    assert reading == compose(reading_draw, question) and reading.author == "composer"


def test_the_prompt_carries_the_composers_card_texts_and_the_budget(deck):
    result = draw("three", "ab" * 16, 0.5, deck=deck)
    system, user = build_messages(result, "Will I get the job?")
    assert f"under {WORD_BUDGET['three']} words" in system["content"]
    texts = load_card_texts()
    for dc in result.cards:
        own = texts.of(dc.card.key, dc.reversed)
        assert own.topics["work"] in user["content"]  # the question is about work
    assert set(WORD_BUDGET) == set(SPREADS)


def test_the_answer_is_checked_for_budget_and_verdicts(deck):
    result = draw("single", "cd" * 16, deck=deck)
    name = result.cards[0].card.name
    ok = f"{name} asks you to rest and to ask for help."
    assert clean_reply(ok, result, "Do I have cancer?") == ok
    for verdict in (
        f"{name} leans towards yes.",
        f"{name}: the answer is no.",
        "You will recover.",
    ):
        with pytest.raises(UnusableReply, match="verdict"):
            clean_reply(f"{name} says: {verdict}", result, "Do I have cancer?")
    assert clean_reply(f"{name} leans towards yes.", result, "Will I get the job?")
    with pytest.raises(UnusableReply, match="budget"):
        clean_reply(f"{name} " + "word " * word_budget(result), result, None)
