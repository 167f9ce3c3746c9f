"""Crashes and storms with real processes: SIGKILLed workers and bot, 429 storms."""

from __future__ import annotations

import time

import pytest
from e2e_stack import Stack, audit, body, buttons, containing, count_containing
from slow_llm import SlowLLM

from tarotbot.models import Reading, Transaction, User

pytestmark = pytest.mark.slow
ADA = 5_550_002


def _ask_three(stack: Stack, user_id: int, question: str) -> None:
    stack.send(user_id, "/reading")
    messages = stack.wait_for(user_id, containing("Choose a spread"))
    menu = next(m for m in reversed(messages) if "s:three" in buttons(m))
    stack.tap(user_id, menu["message_id"], "s:three")
    stack.wait_for(user_id, containing("Type your question (up to"))
    stack.send(user_id, question)


@pytest.mark.parametrize("worker_class", ["simple", "fork"])
def test_worker_killed_mid_reading_delivers_once_and_charges_once(
    app_env, emulator, pg, redis_conn, tmp_path, worker_class
):
    llm = SlowLLM(hold=20)
    env = {
        **app_env,
        "TAROT_LLM_URL": llm.url,
        "TAROT_LLM_TIMEOUT": "30",
        "TAROTBOT_WORKER_CLASS": worker_class,
    }
    stack = Stack(env, emulator, workers=1, log_dir=tmp_path).start()
    try:
        stack.send(ADA, "/start")
        stack.wait_for(ADA, containing("free credits"))
        _ask_three(stack, ADA, "What should I focus on?")
        assert llm.first_call.wait(30), "the reading job never reached the interpreter"
        stack.kill(stack.workers[0])  # SIGKILL the worker and its work horse mid-reading
        assert Transaction.select().where(Transaction.type == "reading").count() == 0
        stack.start_worker()
        messages = stack.wait_for(ADA, containing("used · "), timeout=60)
        time.sleep(2)  # anything duplicated would arrive now
        messages = stack.messages(ADA)
        assert sum(1 for m in messages if m.get("photo")) == 1
        assert count_containing(messages, "used · ") == 1
        assert Reading.select().count() == 1
        debits = list(Transaction.select().where(Transaction.type == "reading"))
        assert len(debits) == 1 and debits[0].credits_after == 3
        result = audit(env)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        stack.stop()
        llm.close()


def test_bot_killed_and_restarted_handles_no_update_twice(stack, emulator):
    stack.send(ADA, "/start")
    stack.wait_for(ADA, containing("free credits"))
    # Hold the bot's next getUpdates (the one that confirms what it just handled).
    emulator.set_delay("getUpdates", 8000)
    time.sleep(1.5)  # the poll already in flight returns; the next one is held
    sent = [stack.send(ADA, "/help"), stack.send(ADA, "/balance")]
    stack.wait_for(ADA, lambda ms: count_containing(ms, "How this works") == 1, timeout=30)
    stack.wait_for(ADA, containing("You hold 5 credits"), timeout=30)
    stack.kill(stack.bot)
    pending = {u["update_id"] for u in emulator.pending_updates()}
    assert {s["update_id"] for s in sent} <= pending, "the updates were confirmed already"
    emulator.set_delay("getUpdates", 0)
    stack.start_bot()
    deadline = time.monotonic() + 30
    while emulator.pending_updates() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not emulator.pending_updates()
    time.sleep(1.5)
    messages = stack.messages(ADA)
    assert count_containing(messages, "How this works") == 1
    assert count_containing(messages, "You hold 5 credits") == 1
    assert count_containing(messages, "free credits") == 1
    assert User.select().count() == 1
    assert Transaction.select().count() == 1


def test_429_storm_delivers_every_message_once(stack, emulator, app_env):
    stack.send(ADA, "/start")
    stack.wait_for(ADA, containing("free credits"))
    emulator.set_limits(enforce=True)
    emulator.inject_fault("sendMessage", 429, retry_after=1, count=4)
    emulator.inject_fault("sendPhoto", 429, retry_after=2, count=2)
    _ask_three(stack, ADA, "How do I rest better?")
    stack.wait_for(ADA, containing("used · "), timeout=90)
    time.sleep(2)
    messages = stack.messages(ADA)
    texts = [body(m) for m in messages if not m.get("photo")]
    assert len(texts) == len(set(texts)), "a message arrived twice"
    assert sum(1 for m in messages if m.get("photo")) == 1
    assert sum(1 for m in messages if not m.get("photo") and "used · " in body(m)) == 1
    reading = Reading.get()
    joined = "\n".join(texts)
    for card in reading.cards["cards"]:
        assert card["name"] in joined
    stats = emulator.get_stats()
    assert stats["pending_faults"].get("sendMessage", 0) == 0
    result = audit(app_env)
    assert result.returncode == 0, result.stdout + result.stderr
