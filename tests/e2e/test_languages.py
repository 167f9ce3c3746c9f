"""Russian alongside English, end to end: a Russian person's whole journey, and a chat that
switches language midway, with real processes (bot, workers, PostgreSQL, Redis, the emulator)."""

from __future__ import annotations

import re
import time

import pytest
from e2e_stack import body, buttons, containing

from tarotbot.models import Reading, User

pytestmark = pytest.mark.slow
OLGA = 5_550_301  # her Telegram app is in Russian
KAI = 5_550_302  # Kazakh app: Russian is the language he usually reads
MIXED = 5_550_303

#: Latin words a Russian reply may hold: names of things, commands and codes.
ALLOWED = {"TarotBot", "Telegram", "Stars", "XTR", "python", "tarotbot", "draw", "seed", "printf"}
ALLOWED |= {"sha256sum", "Roboto", "Ada"}  # Ada: the test person's first name


def english_words(text: str) -> set[str]:
    """The English words in a reply, apart from commands, codes and names."""
    text = re.sub(r"\b[\w.-]+\.(?:com|org|ru|net)\b\S*", " ", text)  # findahelpline.com
    text = re.sub(r"/[a-z_]+", " ", text)  # /reading, /history
    text = re.sub(r"--[a-z-]+|\b[0-9a-f]{16,}\b", " ", text)  # options, seeds and seals
    words = set(re.findall(r"[A-Za-z]{2,}", text))
    return {w for w in words if w not in ALLOWED and not re.fullmatch(r"[A-Z]{1,3}", w)}


def _last_with_button(messages: list[dict], prefix: str) -> dict:
    for message in reversed(messages):
        if any(data and data.startswith(prefix) for data in buttons(message)):
            return message
    raise AssertionError(f"no message with a {prefix!r} button")


def _edited(menu: dict):
    """Wait condition: the spread menu has been edited (into the question prompt)."""
    return lambda ms: any(m["message_id"] == menu["message_id"] and m.get("edits") for m in ms)


def _new(stack, user: int, seen: int, predicate, timeout: float = 30) -> list[dict]:
    return stack.wait_for(user, lambda ms: predicate(ms[seen:]), timeout=timeout)[seen:]


def _all_russian(messages: list[dict]) -> None:
    for message in messages:
        text = body(message)
        assert re.search(r"[а-яё]", text, re.IGNORECASE), text[:200]
        assert not english_words(text), (english_words(text), text[:300])


def test_a_russian_persons_whole_journey_is_in_russian(stack, app_env):
    send = lambda text: stack.send(OLGA, text, language_code="ru")  # noqa: E731

    send("/start")
    welcome = stack.wait_for(OLGA, lambda ms: len(ms) >= 1)
    _all_russian(welcome)
    assert User.get(User.telegram_id == OLGA).language == "ru"  # stored on first contact

    seen = len(stack.messages(OLGA))
    send("/reading")
    menu = _last_with_button(_new(stack, OLGA, seen, lambda ms: ms), "s:")
    _all_russian([menu])
    assert "Прошлое, настоящее, будущее" in str(menu["reply_markup"])
    stack.tap(OLGA, menu["message_id"], "s:three")
    _all_russian([m for m in stack.wait_for(OLGA, _edited(menu)) if m is menu or m.get("edits")])
    seen = len(stack.messages(OLGA))
    send("Получу ли я эту работу?")
    reading = _new(stack, OLGA, seen, lambda ms: any("сид" in body(m) for m in ms), timeout=60)
    _all_russian(reading)
    photo = next(m for m in reading if m.get("photo"))
    stored = Reading.get(Reading.question == "Получу ли я эту работу?")
    assert "Получу ли я эту работу?" in body(photo) and "Ваш вопрос" in stored.interpretation

    more = _last_with_button(reading, "c:")
    seen = len(stack.messages(OLGA))
    stack.tap(OLGA, more["message_id"], f"c:{stored.id}:2")
    page = _new(stack, OLGA, seen, lambda ms: any("В любви:" in body(m) for m in ms))
    _all_russian(page)

    for command, expected in (
        ("/balance", "кредит"),
        ("/buy", "звёзд"),
        ("/history", "расклад"),
        ("/settings", "Перевёрнутые"),
        ("/help", "/reading"),
        ("/nonsense", "/help"),
    ):
        seen = len(stack.messages(OLGA))
        send(command)
        answer = _new(stack, OLGA, seen, lambda ms, e=expected: any(e in body(m) for m in ms))
        _all_russian(answer)

    seen = len(stack.messages(OLGA))  # a refusal: care, no reading, nothing charged
    send("/reading")
    menu = _last_with_button(_new(stack, OLGA, seen, lambda ms: ms), "s:")
    stack.tap(OLGA, menu["message_id"], "s:single")
    stack.wait_for(OLGA, _edited(menu))
    seen = len(stack.messages(OLGA))
    send("Я больше не хочу жить")
    care = _new(stack, OLGA, seen, lambda ms: ms)
    _all_russian(care)
    assert Reading.select().where(Reading.question == "Я больше не хочу жить").count() == 0


def test_a_kazakh_app_gets_russian_and_a_chat_can_switch_language(stack):
    stack.send(KAI, "/start", language_code="kk")
    _all_russian(stack.wait_for(KAI, lambda ms: len(ms) >= 1))

    stack.send(MIXED, "/start", language_code="en")
    stack.wait_for(MIXED, containing("Welcome"))
    seen = len(stack.messages(MIXED))
    stack.send(MIXED, "/language", language_code="en")
    menu = _last_with_button(_new(stack, MIXED, seen, lambda ms: ms), "l:")
    stack.tap(MIXED, menu["message_id"], "l:ru")
    switched = _new(stack, MIXED, seen, lambda ms: any("по-русски" in body(m) for m in ms))
    _all_russian([m for m in switched if "по-русски" in body(m)])
    seen = len(stack.messages(MIXED))
    stack.send(MIXED, "/balance", language_code="en")  # her app is still English: the choice wins
    _all_russian(_new(stack, MIXED, seen, lambda ms: any("кредит" in body(m) for m in ms)))

    seen = len(stack.messages(MIXED))
    stack.send(MIXED, "/language", language_code="en")
    menu = _last_with_button(_new(stack, MIXED, seen, lambda ms: ms), "l:")
    stack.tap(MIXED, menu["message_id"], "l:en")
    _new(stack, MIXED, seen, lambda ms: any("speak English" in body(m) for m in ms))
    seen = len(stack.messages(MIXED))
    stack.send(MIXED, "/balance", language_code="en")
    answer = _new(stack, MIXED, seen, lambda ms: any("You hold" in body(m) for m in ms))
    assert not re.search(r"[а-яё]", body(answer[-1]), re.IGNORECASE)


def test_the_command_menu_is_announced_in_each_language(stack):
    state = stack.emulator.resolve_bot()
    deadline = time.monotonic() + 15  # the bot announces them as it starts
    while len(state.commands) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    announced = state.commands  # (scope, language) -> commands
    by_language = {language: items for (_scope, language), items in announced.items()}
    english = {c["command"]: c["description"] for c in by_language[""]}  # everyone else's
    russian = {c["command"]: c["description"] for c in by_language["ru"]}
    assert set(english) == set(russian) and "language" in english
    assert english["reading"] == "Get a tarot reading"
    assert re.search(r"[а-яё]", russian["reading"], re.IGNORECASE)
