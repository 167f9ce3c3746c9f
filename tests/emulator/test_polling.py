"""getUpdates: order, offset confirmation, limit, allowed_updates, long polling and 409."""

from __future__ import annotations

import threading
import time

import requests
import telebot
from emulator_support import TOKEN, USER
from telebot.apihelper import ApiTelegramException


def poll(api, **params):
    """A raw getUpdates (telebot cannot short-poll: it turns timeout 0 into 10 s)."""
    reply = requests.get(f"{api.base_url}/bot{TOKEN}/getUpdates", params=params, timeout=10)
    return reply.json()


def test_updates_arrive_in_order_and_offset_confirms_them(bot, api):
    for text in ("one", "two", "three"):
        api.send(USER, text)
    updates = bot.get_updates(long_polling_timeout=1)
    assert [u.message.text for u in updates] == ["one", "two", "three"]
    ids = [u.update_id for u in updates]
    assert ids == sorted(ids) and len(set(ids)) == 3
    again = bot.get_updates(long_polling_timeout=1)  # nothing confirmed yet
    assert [u.update_id for u in again] == ids
    rest = bot.get_updates(offset=ids[1], long_polling_timeout=1)  # confirms "one"
    assert [u.message.text for u in rest] == ["two", "three"]
    assert [u["message"]["text"] for u in api.pending_updates()] == ["two", "three"]
    assert poll(api, offset=ids[-1] + 1)["result"] == []
    assert api.pending_updates() == []


def test_update_ids_start_somewhere_random_like_telegrams():
    """A fresh emulator must not reuse an earlier one's ids (a kept database would replay them)."""
    from botapi_emulator import BotAPIEmulator

    firsts = set()
    for _ in range(3):
        emu = BotAPIEmulator(default_bot=TOKEN)
        firsts.add(emu.send(USER, "hello")["update_id"])
    assert len(firsts) == 3 and all(100_000_000 <= first < 1_000_000_000 for first in firsts)


def test_limit_and_negative_offset(api):
    for n in range(5):
        api.send(USER, f"m{n}")
    assert [u["message"]["text"] for u in poll(api, limit=2)["result"]] == ["m0", "m1"]
    assert [u["message"]["text"] for u in poll(api, offset=-1)["result"]] == ["m4"]
    assert [u["message"]["text"] for u in api.pending_updates()] == ["m4"]  # older ones forgotten


def test_allowed_updates_filters_new_updates(api, chat):
    sent = api.send(chat, "with a button")
    poll(api, offset=sent["update_id"] + 1, allowed_updates='["callback_query"]')
    assert api.send(chat, "ignored")["update_id"] is None
    tapped = api.tap(chat, sent["message_id"], "go")
    assert [list(u)[1] for u in poll(api)["result"]] == ["callback_query"]
    poll(api, offset=tapped["update_id"] + 1, allowed_updates="[]")  # back to the default set
    assert api.send(chat, "seen")["update_id"] is not None


def test_long_poll_honours_timeout(bot):
    started = time.monotonic()
    assert bot.get_updates(long_polling_timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3


def test_long_poll_returns_as_soon_as_an_update_arrives(bot, api):
    result: list = []
    waiter = threading.Thread(
        target=lambda: result.extend(bot.get_updates(long_polling_timeout=10))
    )
    started = time.monotonic()
    waiter.start()
    api.wait_until(lambda: api.bot_state(TOKEN).poll_generation >= 1)
    api.send(USER, "wake up")
    waiter.join(timeout=5)
    assert [u.message.text for u in result] == ["wake up"]
    assert time.monotonic() - started < 3


def test_a_newer_poll_terminates_the_pending_one_with_409(api):
    first = telebot.TeleBot(TOKEN)
    errors: list[ApiTelegramException] = []

    def long_poll() -> None:
        try:
            first.get_updates(long_polling_timeout=10)
        except ApiTelegramException as exc:
            errors.append(exc)

    waiter = threading.Thread(target=long_poll)
    waiter.start()
    api.wait_until(lambda: api.bot_state(TOKEN).poll_generation >= 1)
    assert poll(api)["ok"] is True  # the second poller wins...
    waiter.join(timeout=5)
    assert errors, "the first poll should have been terminated"  # ...the first gets 409
    assert errors[0].error_code == 409
    assert errors[0].description == (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    )


def test_infinity_polling_runs_handlers_in_order(bot, api, polling):
    seen: list[str] = []
    done = threading.Event()

    @bot.message_handler(commands=["start"])
    def start(message):
        seen.append(message.text)
        bot.send_message(message.chat.id, "Welcome")

    @bot.message_handler(content_types=["text", "sticker", "photo"])
    def anything(message):
        seen.append(message.content_type if message.content_type != "text" else message.text)
        if len(seen) == 5:
            done.set()

    polling(bot)
    api.send(USER, "/start", first_name="Ann", language_code="ru")
    api.send(USER, "first")
    api.send(USER, sticker=True)
    api.send(USER, photo=True)
    api.send(USER, "last")
    assert done.wait(5)
    assert seen == ["/start", "first", "sticker", "photo", "last"]
    assert api.wait_for_messages(USER, 1)[0]["text"] == "Welcome"


def test_driver_user_details_reach_the_bot(bot, api):
    api.send(USER, "hi", first_name="Ann", username="ann_reader", language_code="ru")
    message = bot.get_updates(long_polling_timeout=1)[0].message
    assert (message.from_user.first_name, message.from_user.username) == ("Ann", "ann_reader")
    assert message.from_user.language_code == "ru"
    assert (message.chat.id, message.chat.type) == (USER, "private")


def test_bad_numbers_are_400(api):
    answer = poll(api, timeout="abc")
    assert answer["error_code"] == 400
    assert answer["description"] == 'Bad Request: field "timeout" must be a valid Number'
