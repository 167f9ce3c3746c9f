"""The bot's batches: each chat in order, nothing confirmed unhandled, no poison loop."""

from __future__ import annotations

import threading

from telebot import types

from tarotbot.telegram import bot as bot_module
from tarotbot.telegram.bot import UPDATE_ATTEMPTS, _UpdateAwareBot

TOKEN = "123456:update-handling-test-token"


def update(update_id: int, chat_id: int, text: str) -> types.Update:
    return types.Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "A"},
                "text": text,
            },
        }
    )


def make_bot(handler):
    bot = _UpdateAwareBot(TOKEN, handler_threads=4, skip_pending=False)
    bot.register_message_handler(handler, func=lambda m: True)
    return bot


def test_each_chat_in_order_chats_in_parallel():
    seen: dict[int, list[int]] = {}
    lock = threading.Lock()

    def handler(message):
        with lock:
            seen.setdefault(message.chat.id, []).append(message.tarot_update_id)

    bot = make_bot(handler)
    batch = [update(100 + i, chat_id=1 + i % 3, text=f"m{i}") for i in range(12)]
    bot.process_new_updates(batch)
    assert seen == {c: [u.update_id for u in batch if u.message.chat.id == c] for c in (1, 2, 3)}


def test_a_failed_update_is_fetched_again_then_passed_over(monkeypatch):
    monkeypatch.setattr(bot_module.time, "sleep", lambda seconds: None)
    handled: list[int] = []

    def handler(message):
        if message.text == "poison":
            raise ConnectionError("Redis is away")
        handled.append(message.tarot_update_id)

    bot = make_bot(handler)
    batch = [update(200, 1, "fine"), update(201, 2, "poison"), update(202, 2, "after")]
    for _ in range(1, UPDATE_ATTEMPTS):
        bot.last_update_id = 202  # what getUpdates set before handing over the batch
        bot.process_new_updates(batch)
        assert bot.last_update_id == 200  # the next poll asks again from update 201
        assert 202 not in handled  # the chat stops at its failed update: order is kept
    bot.last_update_id = 202
    bot.process_new_updates(batch)  # the last attempt: logged and passed over
    assert bot.last_update_id == 202 and handled[-1] == 202
