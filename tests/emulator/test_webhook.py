"""Webhooks: setWebhook/deleteWebhook/getWebhookInfo, and updates POSTed to a local receiver.

The receiver is a small ``http.server`` on 127.0.0.1 (a free port) that
records what arrives and answers as each test tells it to.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import telebot
from emulator_support import TOKEN, USER
from telebot import types

from botapi_emulator import BotAPIEmulator

SECRET = "s3cret_Token-1"


@dataclass
class Post:
    """One webhook request as the receiver saw it, and the status it answered."""

    headers: dict[str, str]
    update: dict[str, Any]
    status: int


class Receiver:
    """A webhook endpoint: records every POST; answers queued ``statuses`` first, then 200.

    ``handle(update)`` (optional) runs before answering; it may return a status,
    or ``(status, json_body)``, to answer with instead.
    """

    def __init__(self) -> None:
        self.statuses: deque[int] = deque()
        self.handle: Callable[[dict[str, Any]], Any] | None = None
        self.arrived: list[dict[str, Any]] = []
        self.posts: list[Post] = []
        self.changed = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.server.handle_error = lambda *args: None  # cut connections are expected here
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def texts(self, *, delivered: bool = True) -> list[str]:
        """Message texts in arrival order: the 2xx-answered posts, or every arrival."""
        with self.changed:
            if delivered:
                updates = [p.update for p in self.posts if 200 <= p.status <= 299]
            else:
                updates = list(self.arrived)
        return [u["message"].get("text") for u in updates if "message" in u]

    def wait(self, predicate: Callable[[], Any], timeout: float = 5.0) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), "the webhook did not get that"

    def _answer(self, update: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        result = self.handle(update) if self.handle else None
        if isinstance(result, tuple):
            return result
        if isinstance(result, int):
            return result, None
        with self.changed:
            return (self.statuses.popleft() if self.statuses else 200), None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                update = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.changed:
                    receiver.arrived.append(update)
                    receiver.changed.notify_all()
                status, body = receiver._answer(update)
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with receiver.changed:
                    receiver.posts.append(Post(dict(self.headers), update, status))
                    receiver.changed.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receiver():
    """A running webhook receiver on 127.0.0.1."""
    hook = Receiver()
    hook.thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


def bot_api(emu: BotAPIEmulator, method: str, **params: Any) -> dict[str, Any]:
    """A raw Bot API call with a JSON body; the whole answer."""
    url = f"{emu.base_url}/bot{TOKEN}/{method}"
    return requests.post(url, json=params, timeout=15).json()


def webhook_info(emu: BotAPIEmulator) -> dict[str, Any]:
    return bot_api(emu, "getWebhookInfo")["result"]


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- delivery ------------------------------------------------------------------------


def test_updates_are_posted_as_json_with_the_secret_header(api, receiver):
    answer = bot_api(api, "setWebhook", url=receiver.url, secret_token=SECRET)
    assert answer == {"ok": True, "result": True, "description": "Webhook was set"}
    api.send(USER, "one", first_name="Ann")
    api.send(USER, "two")
    receiver.wait(lambda: len(receiver.posts) == 2)
    assert receiver.texts() == ["one", "two"]
    first = receiver.posts[0]
    assert first.headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET
    assert first.headers["Content-Type"] == "application/json"
    assert first.update["message"]["from"]["first_name"] == "Ann"
    assert api.wait_until(lambda: not api.pending_updates())
    stats = api.get_stats()
    assert (stats["webhook_deliveries"], stats["webhook_failures"]) == (2, 0)


def test_no_secret_no_header(api, receiver):
    bot_api(api, "setWebhook", url=receiver.url)
    api.send(USER, "hi")
    receiver.wait(lambda: receiver.posts)
    assert "X-Telegram-Bot-Api-Secret-Token" not in receiver.posts[0].headers


def test_user_info_in_the_url_becomes_basic_authorization(api, receiver):
    url = receiver.url.replace("http://", "http://hook:pa%20ss@")
    bot_api(api, "setWebhook", url=url)
    api.send(USER, "hi")
    receiver.wait(lambda: receiver.posts)
    expected = "Basic " + base64.b64encode(b"hook:pa ss").decode()
    assert receiver.posts[0].headers["Authorization"] == expected


def test_get_updates_is_409_while_a_webhook_is_set(api):
    api.send(USER, "kept")
    bot_api(api, "setWebhook", url=f"http://127.0.0.1:{free_port()}/hook")
    answer = bot_api(api, "getUpdates", offset=10**10)
    assert answer["error_code"] == 409
    assert answer["description"] == (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )
    assert len(api.pending_updates()) == 1  # the offset confirmed nothing


def test_set_webhook_ends_a_waiting_long_poll_with_409(api, receiver):
    answers: list[dict] = []
    waiter = threading.Thread(target=lambda: answers.append(bot_api(api, "getUpdates", timeout=10)))
    waiter.start()
    api.wait_until(lambda: api.bot_state(TOKEN).poll_generation >= 1)
    bot_api(api, "setWebhook", url=receiver.url)
    waiter.join(timeout=5)
    assert answers[0]["error_code"] == 409
    assert answers[0]["description"] == "Conflict: terminated by setWebhook request"


def test_failed_delivery_is_retried_and_delivered_once_in_order(api, receiver):
    receiver.statuses.append(500)
    bot_api(api, "setWebhook", url=receiver.url)
    api.send(USER, "one")
    api.send(USER, "two")
    receiver.wait(lambda: len(receiver.posts) == 3)
    assert [(p.update["message"]["text"], p.status) for p in receiver.posts] == [
        ("one", 500),
        ("one", 200),
        ("two", 200),
    ]
    assert receiver.texts() == ["one", "two"]
    # The receiver records a post after answering it; the emulator forgets the
    # update once it has read that answer, which may be a moment later.
    state = api.bot_state(TOKEN)
    assert api.wait_until(lambda: not state.updates)
    info = webhook_info(api)
    assert (
        info["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    )
    assert abs(info["last_error_date"] - time.time()) < 5
    assert info["pending_update_count"] == 0
    stats = api.get_stats()
    assert (stats["webhook_deliveries"], stats["webhook_failures"]) == (2, 1)
    time.sleep(0.3)  # longer than the first retry delay: nothing is sent again
    assert len(receiver.posts) == 3


def test_a_slow_chat_holds_up_only_itself(api, receiver):
    release = threading.Event()

    def handle(update):
        if update["message"]["text"] == "slow":
            release.wait(5)

    receiver.handle = handle
    bot_api(api, "setWebhook", url=receiver.url)
    try:
        api.send(USER, "slow")
        api.send(USER, "after slow")
        api.send(USER + 1, "other chat")
        # "slow" was posted first, but on its own connection: it may arrive
        # after "other chat" was answered.
        receiver.wait(
            lambda: "other chat" in receiver.texts() and "slow" in receiver.texts(delivered=False)
        )
        in_flight = sorted(receiver.texts(delivered=False))
        assert in_flight == ["other chat", "slow"]  # "after slow" waits for its chat
    finally:
        release.set()
    receiver.wait(lambda: len(receiver.posts) == 3)
    assert receiver.texts() == ["other chat", "slow", "after slow"]


def test_unreachable_webhook_keeps_updates_pending(api):
    bot_api(api, "setWebhook", url=f"http://127.0.0.1:{free_port()}/hook")
    api.send(USER, "waiting")
    state = api.bot_state(TOKEN)
    assert api.wait_until(lambda: state.webhook.last_error_message)
    info = webhook_info(api)
    assert info["last_error_message"] == "Connection refused"
    assert info["pending_update_count"] == 1
    assert api.get_stats()["webhook_failures"] >= 1


def test_delete_webhook_returns_pending_updates_to_get_updates(api, receiver):
    receiver.handle = lambda update: 502
    bot_api(api, "setWebhook", url=receiver.url)
    api.send(USER, "undelivered")
    receiver.wait(lambda: receiver.posts)
    answer = bot_api(api, "deleteWebhook")
    assert answer == {"ok": True, "result": True, "description": "Webhook was deleted"}
    assert bot_api(api, "deleteWebhook")["description"] == "Webhook is already deleted"
    api.send(USER, "later")
    updates = bot_api(api, "getUpdates")["result"]
    assert [u["message"]["text"] for u in updates] == ["undelivered", "later"]
    posted = len(receiver.posts)
    time.sleep(0.3)  # past the retry delay: the deleted webhook gets nothing more
    assert len(receiver.posts) == posted
    assert webhook_info(api) == {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": 2,
    }


def test_drop_pending_updates(api):
    api.send(USER, "old")
    bot_api(api, "setWebhook", url=f"http://127.0.0.1:{free_port()}/hook")
    api.send(USER, "newer")
    bot_api(api, "deleteWebhook", drop_pending_updates=True)
    assert api.pending_updates() == []
    api.send(USER, "new")
    api.settings.set_webhook_interval = 0
    bot_api(api, "setWebhook", url=f"http://127.0.0.1:{free_port()}/x", drop_pending_updates=True)
    assert webhook_info(api)["pending_update_count"] == 0


# -- getWebhookInfo and setWebhook's checks -------------------------------------------------


def test_get_webhook_info_fields(api, receiver):
    assert webhook_info(api) == {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": 0,
    }
    bot_api(
        api,
        "setWebhook",
        url=receiver.url,
        max_connections=5,
        allowed_updates=["message", "callback_query"],
    )
    assert webhook_info(api) == {
        "url": receiver.url,
        "has_custom_certificate": False,
        "pending_update_count": 0,
        "max_connections": 5,
        "ip_address": "127.0.0.1",
        "allowed_updates": ["callback_query", "message"],
    }
    api.send(USER, "hi")
    assert api.block(USER)["update_id"] is None  # my_chat_member is not in allowed_updates
    receiver.wait(lambda: receiver.posts)
    assert api.wait_until(lambda: not api.pending_updates())
    assert [list(p.update)[1] for p in receiver.posts] == ["message"]


@pytest.mark.parametrize(("given", "kept"), [(None, 40), (1000, 100), (0, 1), (-5, 1)])
def test_max_connections_is_clamped_like_telegram(api, given, kept):
    params = {} if given is None else {"max_connections": given}
    url = f"https://127.0.0.1:{free_port()}/hook"
    assert bot_api(api, "setWebhook", url=url, **params)["ok"]
    assert webhook_info(api)["max_connections"] == kept


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"secret_token": "has space"}, "Bad Request: secret token contains unallowed characters"),
        ({"secret_token": "ключ"}, "Bad Request: secret token contains unallowed characters"),
        ({"secret_token": "x" * 257}, "Bad Request: secret token is too long"),
        (
            {"url": "http://example.org/hook"},
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        ),
        ({"url": "ftp://127.0.0.1/hook"}, "Bad Request: invalid webhook URL specified"),
        ({"url": "http://127.0.0.1:port/hook"}, "Bad Request: invalid webhook URL specified"),
    ],
)
def test_bad_secret_tokens_and_urls_are_refused(api, params, description):
    answer = bot_api(api, "setWebhook", **{"url": "http://127.0.0.1:8443/hook", **params})
    assert (answer["error_code"], answer["description"]) == (400, description)
    assert webhook_info(api)["url"] == ""


def test_secret_token_of_256_allowed_characters_is_accepted(api):
    secret = ("Az09_-" * 43)[:256]
    assert bot_api(api, "setWebhook", url="http://localhost:8443/", secret_token=secret)["ok"]


def test_a_second_set_webhook_within_a_second_is_429(api, receiver):
    assert bot_api(api, "setWebhook", url=receiver.url)["ok"]
    answer = bot_api(api, "setWebhook", url=receiver.url)
    assert answer["error_code"] == 429
    assert answer["parameters"] == {"retry_after": 1}
    api.settings.set_webhook_interval = 0
    assert bot_api(api, "setWebhook", url=receiver.url)["description"] == "Webhook is already set"


# -- with pyTelegramBotAPI ------------------------------------------------------------------


def test_telebot_set_webhook_and_get_webhook_info(bot, api, receiver):
    assert bot.set_webhook(url=receiver.url, secret_token=SECRET) is True
    info = bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.max_connections) == (receiver.url, 0, 40)
    assert info.has_custom_certificate is False and info.last_error_date is None
    api.send(USER, "via telebot")
    receiver.wait(lambda: receiver.posts)
    assert receiver.posts[0].headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET
    assert bot.delete_webhook() is True
    assert bot.get_webhook_info().url == ""


def test_payment_through_a_webhook_bot(bot, chat, api, receiver):
    """A pyTelegramBotAPI bot in webhook mode answers pre-checkout inside the POST."""
    paid = threading.Event()
    charges: list[str] = []

    @bot.pre_checkout_query_handler(func=lambda query: True)
    def checkout(query):
        bot.answer_pre_checkout_query(query.id, ok=True)

    @bot.message_handler(content_types=["successful_payment"])
    def payment(message):
        charges.append(message.successful_payment.telegram_payment_charge_id)
        paid.set()

    receiver.handle = lambda update: bot.process_new_updates([types.Update.de_json(update)])
    price = [types.LabeledPrice("10 credits", 50)]
    invoice = bot.send_invoice(chat, "10 credits", "Ten readings", "pack:10", "", "XTR", price)
    assert bot.set_webhook(url=receiver.url)
    result = api.pay(chat, invoice.message_id, timeout=5)
    assert result["status"] == "paid"
    assert paid.wait(5)
    assert charges == [result["charge_id"]]


def test_a_webhook_answer_may_carry_a_method(api, receiver):
    receiver.handle = lambda update: (
        200,
        {"method": "sendMessage", "chat_id": USER, "text": f"echo: {update['message']['text']}"},
    )
    bot_api(api, "setWebhook", url=receiver.url)
    api.send(USER, "ping")
    assert api.wait_for_messages(USER, 1)[0]["text"] == "echo: ping"
    assert api.get_stats()["calls"]["sendMessage"] == 1


@pytest.mark.parametrize("method", ["getMe", "deleteWebhook", "setWebhook"])
def test_get_and_webhook_methods_in_an_answer_are_ignored(api, receiver, method):
    receiver.handle = lambda update: (200, {"method": method, "url": ""})
    bot_api(api, "setWebhook", url=receiver.url)
    api.send(USER, "ping")
    receiver.wait(lambda: receiver.posts)
    assert api.wait_until(lambda: api.get_stats()["webhook_deliveries"] == 1)
    assert api.get_stats()["calls"] == {"setWebhook": 1}  # only the test's own call ran
    assert webhook_info(api)["url"] == receiver.url


# -- the driver and the lifecycle -----------------------------------------------------------


def test_driver_stats_over_http_include_webhook_figures(api, receiver):
    receiver.statuses.append(503)
    bot_api(api, "setWebhook", url=receiver.url)
    sent = requests.post(f"{api.base_url}/_emulator/send", json={"user_id": USER, "text": "hi"})
    assert sent.json()["ok"]
    receiver.wait(lambda: receiver.texts() == ["hi"])
    api.wait_until(lambda: api.get_stats()["webhook_deliveries"] == 1)
    stats = requests.get(f"{api.base_url}/_emulator/stats", timeout=5).json()["result"]
    assert (stats["webhook_deliveries"], stats["webhook_failures"]) == (1, 1)
    assert "calls" in stats and "responses_429" in stats  # the older keys stay


def test_reset_keeps_the_webhook(api, receiver):
    bot_api(api, "setWebhook", url=receiver.url, allowed_updates=["message"])
    api.reset()
    assert webhook_info(api)["url"] == receiver.url
    assert webhook_info(api)["allowed_updates"] == ["message"]
    api.send(USER, "after reset")
    receiver.wait(lambda: receiver.texts() == ["after reset"])


def test_stop_cuts_a_hanging_delivery_within_a_second(receiver):
    hang = threading.Event()
    receiver.handle = lambda update: hang.wait(10) and 200
    emu = BotAPIEmulator(default_bot=TOKEN).start()
    try:
        bot_api(emu, "setWebhook", url=receiver.url)
        emu.send(USER, "never answered")
        receiver.wait(lambda: receiver.arrived)
        workers = [t for t in threading.enumerate() if t.name.startswith("webhook-")]
        started = time.monotonic()
        emu.stop()
        assert time.monotonic() - started < 1.5
    finally:
        hang.set()
    assert [u["message"]["text"] for u in emu.pending_updates()] == ["never answered"]
    assert emu.get_stats()["webhook_failures"] == 0  # cut by us, not the webhook's fault
    assert workers and not any(worker.is_alive() for worker in workers)


def test_close_and_reopen_pause_and_resume_delivery(api, receiver):
    bot_api(api, "setWebhook", url=receiver.url)
    api.close()
    api.send(USER, "while closed")
    time.sleep(0.2)
    assert receiver.arrived == []
    api.reopen()
    receiver.wait(lambda: receiver.texts() == ["while closed"])


def test_telebot_webhook_bot_handles_messages(api, receiver):
    """The shape of a webhook-mode bot: a TeleBot fed by the receiver, replying over the API."""
    bot = telebot.TeleBot(TOKEN, threaded=False)

    @bot.message_handler(commands=["start"])
    def start(message):
        bot.send_message(message.chat.id, "Welcome")

    receiver.handle = lambda update: bot.process_new_updates([types.Update.de_json(update)])
    bot.set_webhook(url=receiver.url)
    api.send(USER, "/start")
    assert api.wait_for_messages(USER, 1)[0]["text"] == "Welcome"
