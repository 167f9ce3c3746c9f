"""The test driver: callbacks, the /_emulator/ HTTP API, faults, flood limits, statistics."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import telebot
from emulator_support import TOKEN, USER
from telebot import types
from telebot.apihelper import ApiTelegramException

from botapi_emulator import BotAPIEmulator, DriverError


def driver(api, verb: str, route: str, **body):
    """Call ``/_emulator/<route>`` with a JSON body (POST) or query (GET)."""
    url = f"{api.base_url}/_emulator/{route}"
    if verb == "GET":
        return requests.get(url, params=body, timeout=15).json()
    return requests.post(url, json=body, timeout=15).json()


def api_error(call, *args, **kwargs) -> ApiTelegramException:
    with pytest.raises(ApiTelegramException) as caught:
        call(*args, **kwargs)
    return caught.value


# -- callbacks -------------------------------------------------------------------------


def test_tap_delivers_a_callback_query_the_bot_answers(bot, chat, api, polling):
    markup = types.InlineKeyboardMarkup()
    markup.add(types.InlineKeyboardButton("Past", callback_data="pos:past"))
    sent = bot.send_message(chat, "Pick a position", reply_markup=markup)

    @bot.callback_query_handler(func=lambda call: True)
    def on_tap(call):
        assert call.message.message_id == sent.message_id
        assert call.from_user.id == chat and call.chat_instance
        bot.answer_callback_query(call.id, f"chose {call.data}")

    polling(bot)
    tapped = api.tap(chat, sent.message_id, "pos:past")
    assert api.callback_answer(tapped["callback_query_id"])["text"] == "chose pos:past"
    forged = api.tap(chat, sent.message_id, "credits:+1000")  # data no button carries
    assert api.callback_answer(forged["callback_query_id"])["text"] == "chose credits:+1000"


def test_callback_answered_twice_or_unknown_is_too_old(bot, chat, api):
    sent = bot.send_message(chat, "x")
    query_id = api.tap(chat, sent.message_id, "a")["callback_query_id"]
    assert bot.answer_callback_query(query_id) is True
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    assert api_error(bot.answer_callback_query, query_id).description == too_old
    assert api_error(bot.answer_callback_query, "12345").description == too_old


def test_tap_needs_an_existing_message(api, chat):
    with pytest.raises(DriverError, match="not found"):
        api.tap(chat, 999, "x")
    with pytest.raises(DriverError, match="has not written"):
        api.tap(777, 1, "x")


# -- the HTTP driver ---------------------------------------------------------------------


def test_http_driver_send_tap_and_chat_transcript(bot, api):
    sent = driver(api, "POST", "send", user_id=USER, text="/start", first_name="Ann")
    assert sent["ok"] and sent["result"]["message_id"] == 1
    assert driver(api, "POST", "send", user_id=USER, sticker=True)["ok"]
    updates = bot.get_updates(long_polling_timeout=1)
    assert [u.message.content_type for u in updates] == ["text", "sticker"]
    reply = bot.send_message(USER, "<b>Welcome</b>", parse_mode="HTML")
    bot.edit_message_text("Welcome back", USER, reply.message_id)
    bot.send_chat_action(USER, "typing")
    tapped = driver(api, "POST", "tap", user_id=USER, message_id=reply.message_id, data="go")
    assert tapped["ok"] and tapped["result"]["callback_query_id"]
    transcript = driver(api, "GET", f"chats/{USER}")["result"]
    (message,) = transcript["messages"]
    assert message["text"] == "Welcome back" and message["parse_mode"] is None
    assert [edit["text"] for edit in message["edits"]] == ["Welcome back"]
    assert message["deleted"] is False
    assert [a["action"] for a in transcript["actions"]] == ["typing"]
    everything = driver(api, "GET", f"chats/{USER}", include_user="1")["result"]["messages"]
    assert [m["from"] for m in everything] == ["user", "user", "bot"]


def test_http_driver_waits_for_messages(bot, api, chat):
    threading.Timer(0.2, lambda: bot.send_message(chat, "late")).start()
    answer = driver(api, "GET", f"chats/{chat}", wait_count=1, timeout=5)
    assert [m["text"] for m in answer["result"]["messages"]] == ["late"]
    answer = driver(api, "GET", f"chats/{chat}", wait_count=5, timeout=0.2)
    assert answer["error_code"] == 408


def test_wait_for_messages_times_out_with_a_clear_error(api, chat):
    with pytest.raises(DriverError, match="sent 0 of 1 messages"):
        api.wait_for_messages(chat, 1, timeout=0.2)


def test_http_driver_errors(api):
    assert driver(api, "POST", "send", text="no user")["error_code"] == 400
    assert driver(api, "GET", "chats/424242")["error_code"] == 404
    assert requests.get(f"{api.base_url}/_emulator/nowhere").status_code == 404
    bad = requests.post(f"{api.base_url}/_emulator/send", data=b"[1, 2]")
    assert bad.status_code == 400


def test_reset_forgets_chats_but_keeps_update_ids_growing(bot, api):
    first = api.send(USER, "before")["update_id"]
    assert driver(api, "POST", "reset")["ok"]
    assert api.pending_updates() == []
    assert api.send(USER, "after")["update_id"] > first
    assert api.chat(USER)["messages"] == []


# -- faults ------------------------------------------------------------------------------


def test_injected_429_carries_retry_after(bot, chat, api):
    driver(api, "POST", "faults", method="sendMessage", error_code=429, retry_after=7, count=2)
    for _ in range(2):
        error = api_error(bot.send_message, chat, "hi")
        assert error.error_code == 429
        assert error.description == "Too Many Requests: retry after 7"
        assert error.result_json["parameters"]["retry_after"] == 7
    bot.send_message(chat, "third time lucky")
    assert api.get_stats()["responses_429"] == 2


def test_injected_server_error_has_no_parameters(bot, chat, api):
    api.inject_fault("sendPhoto", 500)
    api.inject_fault("SENDMESSAGE", 400, "Bad Request: custom")
    assert api_error(bot.send_message, chat, "x").description == "Bad Request: custom"
    error = api_error(bot.send_photo, chat, "whatever")
    assert error.error_code == 500 and "parameters" not in error.result_json


def test_disconnect_and_delay_faults(bot, chat, api):
    api.inject_fault("getMe", disconnect=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        bot.get_me()
    driver(api, "POST", "faults", method="getMe", delay_ms=300)
    started = time.monotonic()
    bot.get_me()
    assert time.monotonic() - started >= 0.3
    api.set_delay("getMe", 0)
    assert api.get_stats()["faults_injected"] == 1


# -- flood limits --------------------------------------------------------------------------


def test_flood_limits_per_chat(bot, chat, api):
    assert driver(api, "POST", "limits", enforce=True)["result"]["per_chat_burst"] == 3
    for n in range(3):
        bot.send_message(chat, f"burst {n}")  # Telegram tolerates a short burst
    error = api_error(bot.send_message, chat, "one too many")
    assert error.error_code == 429
    retry_after = error.result_json["parameters"]["retry_after"]
    assert retry_after >= 1
    assert error.description == f"Too Many Requests: retry after {retry_after}"
    stats = driver(api, "GET", "stats")["result"]
    assert stats["responses_429"] == 1 and stats["flood_limited"] == 1
    assert stats["calls"]["sendMessage"] == 4


def test_flood_limits_per_bot_and_switching_off(api):
    bot = telebot.TeleBot(TOKEN)
    for user in range(1, 6):
        api.send(user, "hi")
    api.set_limits(enforce=True, global_rate=2, global_burst=3)
    for user in range(1, 4):
        bot.send_message(user, "hello")
    error = api_error(bot.send_message, 4, "hello")
    assert error.error_code == 429 and error.result_json["parameters"]["retry_after"] == 1
    api.set_limits(enforce=False)
    bot.send_message(4, "hello")


def test_stats_count_calls_per_method_and_reset(bot, api):
    bot.get_me()
    bot.get_me()
    stats = api.get_stats()
    assert stats["calls"]["getMe"] == 2 and stats["total_calls"] == 2
    assert driver(api, "POST", "stats/reset")["ok"]
    assert api.get_stats()["total_calls"] == 0


# -- lifecycle -------------------------------------------------------------------------------


def test_stop_ends_keep_alive_connections():
    session = requests.Session()
    with BotAPIEmulator() as emu:
        assert session.get(f"{emu.base_url}/bot{TOKEN}/getMe", timeout=5).json()["ok"]
        before = threading.active_count()
    deadline = time.monotonic() + 5
    while threading.active_count() >= before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() < before  # the connection's handler thread is gone
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{emu.base_url}/bot{TOKEN}/getMe", timeout=5)
