"""Webhook mode: the WSGI app, the settings, setWebhook at start, and `web` end to end."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from e2e_stack import (
    ROOT,
    TOKEN,
    WEBHOOK_SECRET,
    body,
    buttons,
    containing,
    count_containing,
    free_port,
)
from telebot.apihelper import ApiTelegramException

from tarotbot.config import Secret, load_settings
from tarotbot.exceptions import ConfigError
from tarotbot.telegram.bot import ALLOWED_UPDATES
from tarotbot.telegram.client import make_bot
from tarotbot.web import MAX_BODY, WebhookApp, ensure_webhook, webhook_path

SECRET = "s3cret_Value-42"
PATH = "/tg/hook"
QUESTION = "Will the quokka marathon go well?"  # must never show in a log
NAME = "Zephyrine"  # nor this


class FakeBot:
    """Stands in for TarotBot: records the updates, answers as told (or raises)."""

    def __init__(self, answer: bool | Exception = True):
        self.answer = answer
        self.updates: list[dict] = []

    def handle_webhook_update(self, data: dict) -> bool:
        self.updates.append(data)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def an_update(update_id: int = 700_000_001, text: str = QUESTION) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 5,
            "date": 0,
            "chat": {"id": 1001, "type": "private"},
            "from": {"id": 1001, "is_bot": False, "first_name": NAME},
            "text": text,
        },
    }


def call(
    app: WebhookApp,
    method: str = "POST",
    path: str = PATH,
    data: bytes | None = None,
    secret: str | None = SECRET,
    length: int | None | str = "auto",
) -> tuple[int, bytes, dict]:
    """One request through the WSGI app; returns (status, body, headers)."""
    data = b"" if data is None else data
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "REMOTE_ADDR": "198.51.100.7",
        "wsgi.input": io.BytesIO(data),
    }
    if length == "auto":
        environ["CONTENT_LENGTH"] = str(len(data))
    elif length is not None:
        environ["CONTENT_LENGTH"] = str(length)
    if secret is not None:
        environ["HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"] = secret
    seen: dict = {}

    def start_response(status, headers):
        seen["status"] = int(status.split()[0])
        seen["headers"] = dict(headers)

    out = b"".join(app(environ, start_response))
    assert int(seen["headers"]["Content-Length"]) == len(out) or method == "HEAD"
    return seen["status"], out, seen["headers"]


def post(app: WebhookApp, payload: object, **options) -> tuple[int, bytes, dict]:
    return call(app, data=json.dumps(payload).encode(), **options)


# --- the WSGI app -------------------------------------------------------------------------


def test_an_update_is_handed_to_the_bot_and_answered_with_empty_json():
    bot = FakeBot()
    app = WebhookApp(bot, path=PATH, secret=SECRET)
    status, out, headers = post(app, an_update())
    assert (status, out, headers["Content-Type"]) == (200, b"{}", "application/json")
    assert bot.updates == [an_update()]


def test_healthz_answers_ok():
    app = WebhookApp(FakeBot(), path=PATH, secret=SECRET)
    assert call(app, "GET", "/healthz", secret=None)[:2] == (200, b"ok\n")
    assert call(app, "HEAD", "/healthz", secret=None)[:2] == (200, b"")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/tg/other"), ("POST", "/"), ("GET", PATH), ("PUT", PATH), ("POST", "/healthz")],
)
def test_anything_else_is_404(method, path):
    bot = FakeBot()
    app = WebhookApp(bot, path=PATH, secret=SECRET)
    status, _, _ = call(app, method, path, data=json.dumps(an_update()).encode())
    assert status == 404
    assert bot.updates == []


def test_a_missing_secret_is_401_and_a_wrong_one_403_never_logged(caplog):
    bot = FakeBot()
    app = WebhookApp(bot, path=PATH, secret=SECRET)
    with caplog.at_level(logging.DEBUG):
        assert post(app, an_update(), secret=None)[0] == 401
        assert post(app, an_update(), secret="guessed-wrong-value")[0] == 403
        assert post(app, an_update(), secret=SECRET[:-1])[0] == 403
        assert post(app, an_update(), secret=SECRET + "x")[0] == 403
        assert post(app, an_update(), secret="")[0] == 403
        assert post(app, an_update(), secret="sécret")[0] == 403  # not ASCII: no TypeError
    assert bot.updates == []
    assert "no secret header" in caplog.text and "wrong secret" in caplog.text
    assert "198.51.100.7" in caplog.text
    for value in (SECRET, "guessed-wrong-value", QUESTION, NAME):
        assert value not in caplog.text


def test_an_oversized_body_is_413_unread():
    bot = FakeBot()
    app = WebhookApp(bot, path=PATH, secret=SECRET)
    big = json.dumps(an_update(text="x" * MAX_BODY)).encode()
    assert post(app, an_update(text="x" * MAX_BODY))[0] == 413
    assert call(app, data=big, length=None)[0] == 413  # no Content-Length (chunked)
    assert call(app, data=b"{}", length=MAX_BODY + 1)[0] == 413  # refused on the header alone
    small = WebhookApp(bot, path=PATH, secret=SECRET, max_body=100)
    assert post(small, an_update(text="y" * 100))[0] == 413
    assert post(small, {"update_id": 1})[0] == 200
    assert bot.updates == [{"update_id": 1}]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b'{"update_id": 1',
        b"\xff\xfe{}",
        b"[1, 2]",
        b'"text"',
        b"{}",
        b'{"update_id": "7"}',
        b'{"update_id": null, "message": {}}',
    ],
)
def test_a_body_that_is_not_a_json_update_is_400(data, caplog):
    bot = FakeBot()
    app = WebhookApp(bot, path=PATH, secret=SECRET)
    with caplog.at_level(logging.DEBUG):
        assert call(app, data=data)[0] == 400
    assert bot.updates == []
    assert "refused a webhook POST" in caplog.text


def test_a_bad_content_length_is_400():
    app = WebhookApp(FakeBot(), path=PATH, secret=SECRET)
    assert call(app, data=b"{}", length="twelve")[0] == 400
    assert call(app, data=b"{}", length=-1)[0] == 400


def test_a_failed_update_is_500_so_telegram_pushes_it_again(caplog):
    failing = WebhookApp(FakeBot(answer=False), path=PATH, secret=SECRET)
    assert post(failing, an_update())[0] == 500
    leaking = RuntimeError(f"could not store {QUESTION!r} for {NAME}")
    raising = WebhookApp(FakeBot(answer=leaking), path=PATH, secret=SECRET)
    with caplog.at_level(logging.DEBUG):
        status, _, _ = post(raising, an_update(update_id=700_000_002))
    assert status == 500
    assert "update 700000002: handling raised RuntimeError at" in caplog.text
    assert QUESTION not in caplog.text and NAME not in caplog.text


def test_the_webhook_path_as_wsgi_shows_it():
    assert webhook_path("https://bot.example.com/tg/hook?x=1") == "/tg/hook"
    assert webhook_path("https://bot.example.com") == "/"
    assert webhook_path("https://bot.example.com/a%20b/%C3%A9") == "/a b/\xc3\xa9"  # latin-1
    app = WebhookApp(FakeBot(), path=webhook_path("https://h/a%20b"), secret=SECRET)
    assert post(app, {"update_id": 3}, path="/a b")[0] == 200
    with pytest.raises(ValueError):
        WebhookApp(FakeBot(), path="/healthz", secret=SECRET)


def test_the_real_bot_handles_a_pushed_update(emulator, redis_conn, pg):
    """The WSGI app in front of a real TarotBot (embedded Redis is enough for /help)."""
    from tarotbot.app import App
    from tarotbot.telegram.bot import TarotBot

    settings = load_settings({"TELEGRAM_API_URL": emulator.base_url, "TELEGRAM_BOT_TOKEN": TOKEN})
    bot = TarotBot(App.in_process(settings))
    app = WebhookApp(bot, path=PATH, secret=SECRET)
    sent = emulator.send(1001, "/start")  # the user must have written to the bot first
    assert sent["update_id"] is not None
    status, out, _ = post(app, an_update(update_id=sent["update_id"] + 1, text="/help"))
    assert (status, out) == (200, b"{}")
    assert any("/reading" in body(m) for m in emulator.messages(1001))


# --- settings -----------------------------------------------------------------------------


def test_webhook_settings_are_read_and_the_secret_hidden():
    settings = load_settings(
        {"TELEGRAM_WEBHOOK_URL": "https://bot.example.com/tg/x", "TELEGRAM_WEBHOOK_SECRET": SECRET}
    )
    assert settings.webhook_url == "https://bot.example.com/tg/x"
    assert settings.webhook_secret == Secret(SECRET) and settings.webhook_secret.reveal() == SECRET
    assert SECRET not in repr(settings) and SECRET not in f"{settings.webhook_secret}"
    empty = load_settings({"TELEGRAM_WEBHOOK_URL": " ", "TELEGRAM_WEBHOOK_SECRET": ""})
    assert empty.webhook_url is None and empty.webhook_secret is None
    for local in ("http://127.0.0.1:8443/tg", "http://localhost/tg", "http://[::1]:9/tg"):
        assert load_settings({"TELEGRAM_WEBHOOK_URL": local}).webhook_url == local


@pytest.mark.parametrize(
    "url",
    [
        "http://bot.example.com/tg",  # plain http to the internet
        "http://10.0.0.5/tg",
        "ftp://bot.example.com/tg",
        "bot.example.com/tg",
        "https:///tg",
        "https://bot.example.com:99999/tg",
        "https://bot.example.com/healthz",  # the health check's path
        "https://bot.example.com/tg#frag",
    ],
)
def test_a_bad_webhook_url_is_one_line_naming_it(url):
    with pytest.raises(ConfigError) as info:
        load_settings({"TELEGRAM_WEBHOOK_URL": url})
    assert info.value.variable == "TELEGRAM_WEBHOOK_URL"
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("secret", ["has space", "semi;colon", "émoji", "x" * 257])
def test_a_bad_webhook_secret_is_one_line_without_the_value(secret):
    with pytest.raises(ConfigError) as info:
        load_settings({"TELEGRAM_WEBHOOK_SECRET": secret})
    assert info.value.variable == "TELEGRAM_WEBHOOK_SECRET"
    assert secret not in str(info.value) and "\n" not in str(info.value)
    assert load_settings({"TELEGRAM_WEBHOOK_SECRET": "x" * 256}).webhook_secret


# --- setWebhook at start ------------------------------------------------------------------


def _client(emulator):
    settings = load_settings({"TELEGRAM_API_URL": emulator.base_url, "TELEGRAM_BOT_TOKEN": TOKEN})
    return make_bot(settings, threaded=False)


def _ensure(client, redis_conn, url, secret=SECRET, **options):
    return ensure_webhook(
        client, redis_conn, url=url, secret=secret, allowed_updates=ALLOWED_UPDATES, **options
    )


def test_the_webhook_is_set_once_and_then_left_alone(emulator, redis_conn):
    client = _client(emulator)
    url = "http://127.0.0.1:9/tg/a"
    assert _ensure(client, redis_conn, url) == "set"
    info = client.get_webhook_info()
    assert info.url == url and sorted(info.allowed_updates) == sorted(ALLOWED_UPDATES)
    assert _ensure(client, redis_conn, url) == "already set"  # a second dyno starting
    assert emulator.get_stats()["calls"]["setWebhook"] == 1
    # a new secret on the same URL must reach Telegram (it never shows the old one)
    time.sleep(1.05)  # Telegram's one setWebhook per second
    assert _ensure(client, redis_conn, url, secret="rotated-secret") == "set"
    assert emulator.get_stats()["calls"]["setWebhook"] == 2
    client.delete_webhook()  # what `bot` does when it polls again
    time.sleep(1.05)
    assert _ensure(client, redis_conn, url, secret="rotated-secret") == "set"


def test_a_429_waits_and_finds_the_webhook_another_process_set(emulator, redis_conn):
    client = _client(emulator)
    url = "http://127.0.0.1:9/tg/b"
    emulator.inject_fault("setWebhook", 429, "Too Many Requests: retry after 1", retry_after=1)
    waits: list[float] = []

    def meanwhile_another_dyno_sets_it(seconds: float) -> None:
        waits.append(seconds)
        assert _ensure(_client(emulator), redis_conn, url) == "set"

    outcome = _ensure(client, redis_conn, url, sleep=meanwhile_another_dyno_sets_it)
    assert outcome == "already set"
    assert len(waits) == 1 and 1.0 <= waits[0] <= 1.6


def test_two_processes_setting_it_together_both_succeed(emulator, redis_conn):
    """The emulator's real 1 s rule: the second one waits and then finds it set."""
    url = "http://127.0.0.1:9/tg/c"
    outcomes: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: outcomes.append(_ensure(_client(emulator), redis_conn, url))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(outcomes) == ["already set", "set"]
    assert emulator.get_stats()["calls"]["setWebhook"] >= 1


def test_429s_that_never_end_give_up(emulator, redis_conn):
    client = _client(emulator)
    emulator.inject_fault(
        "setWebhook", 429, "Too Many Requests: retry after 3", retry_after=3, count=9
    )
    waits: list[float] = []
    with pytest.raises(ApiTelegramException) as info:
        _ensure(client, redis_conn, "http://127.0.0.1:9/tg/d", attempts=3, sleep=waits.append)
    assert info.value.error_code == 429 and len(waits) == 2


# --- `python -m tarotbot web` -------------------------------------------------------------


def _run_web(env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tarotbot", "web"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _web_env(app_env: dict, **changes: str | None) -> dict:
    env = dict(app_env)
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL="http://127.0.0.1:9",  # never reached: each case fails before
        TELEGRAM_WEBHOOK_URL="http://127.0.0.1:9/tg/hook",
        TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        PORT=str(free_port()),
    )
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"TELEGRAM_WEBHOOK_SECRET": None}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"REDIS_URL": None}, "REDIS_URL"),
        ({"TELEGRAM_WEBHOOK_URL": None}, "TELEGRAM_WEBHOOK_URL"),
        ({"TELEGRAM_BOT_TOKEN": None}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_WEBHOOK_URL": "http://bot.example.com/tg"}, "TELEGRAM_WEBHOOK_URL"),
        ({"DATABASE_URL": None}, "DATABASE_URL"),  # an own SQLite file next to a shared Redis
        ({"PORT": "http"}, "PORT"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY"),
        ({"TAROTBOT_WEB_THREADS": "16"}, "TAROTBOT_WEB_THREADS"),  # more than 8 DB connections
    ],
)
def test_web_refuses_to_start_without_what_it_needs(app_env, changes, variable):
    result = _run_web(_web_env(app_env, **changes))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {variable}: "), result.stderr
    assert "Traceback" not in result.stderr and WEBHOOK_SECRET not in result.stderr


@pytest.mark.slow
def test_webhook_mode_end_to_end(web_stack, emulator):
    stack = web_stack
    info = requests.get(f"{emulator.base_url}/bot{TOKEN}/getWebhookInfo", timeout=10).json()
    assert info["result"]["url"] == stack.url

    # a second web process (another dyno) starting now finds the webhook set
    port = free_port()
    second = stack.start_web({"PORT": str(port), "WEB_CONCURRENCY": "1"})
    stack.wait_healthy(port, second)

    user = 5_550_101
    emulator.send(user, "/start", first_name=NAME)
    welcome = stack.wait_for(user, containing("free credits"))
    assert "5 free credits" in body(welcome[-1])

    emulator.send(user, "/reading", first_name=NAME)
    menu = next(
        m
        for m in reversed(stack.wait_for(user, containing("Choose a spread")))
        if "s:three" in buttons(m)
    )
    stack.tap(user, menu["message_id"], "s:three")
    stack.wait_for(
        user,
        lambda ms: any(
            m["message_id"] == menu["message_id"] and "Type your question (up to" in body(m)
            for m in ms
        ),
    )
    before = len(stack.messages(user))
    emulator.send(user, QUESTION, first_name=NAME)
    new = stack.wait_for(
        user, lambda ms: count_containing(ms[before:], "used · ") >= 1, timeout=60
    )[before:]
    assert count_containing(new, "Shuffling the deck") == 0  # a chat action, not a message
    photos = [m for m in new if m.get("photo")]
    assert len(photos) == 1 and photos[0]["photo_size"] > 10_000
    assert emulator.pending_updates() == []  # every update was accepted (2xx)

    # SIGTERM (to the whole process group, as a PaaS does) while an update is being
    # handled: the request in hand is finished, then a clean stop well within 30 s
    emulator.set_delay("sendMessage", 2000)
    newcomer = 5_550_102
    emulator.send(newcomer, "/help", first_name=NAME)
    time.sleep(0.5)  # the POST is in flight: its reply takes 2 s
    for proc in reversed(stack.webs):
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 30
    emulator.set_delay("sendMessage", 0)
    assert any("/reading" in body(m) for m in stack.messages(newcomer))
    assert emulator.pending_updates() == []  # answered 2xx before the worker exited
    logs = [path.read_text(errors="replace") for path in stack.logs("web")]
    assert len(logs) == 2
    first, other = logs
    assert "webhook set: http://127.0.0.1:" in first
    assert "webhook already set: http://127.0.0.1:" in other
    for text in logs:
        assert "Traceback" not in text and " ERROR " not in text, text[-3000:]
        assert "Shutting down" in text
        for secret_or_private in (WEBHOOK_SECRET, QUESTION, NAME, TOKEN.split(":")[1]):
            assert secret_or_private not in text
    # the webhook stays set: another dyno may still serve it
    info = requests.get(f"{emulator.base_url}/bot{TOKEN}/getWebhookInfo", timeout=10).json()
    assert info["result"]["url"] == stack.url


def test_web_stops_with_one_line_when_telegram_refuses_the_token(app_env, emulator):
    emulator.inject_fault("getWebhookInfo", 401, "Unauthorized")
    result = _run_web(_web_env(app_env, TELEGRAM_API_URL=emulator.base_url))
    assert result.returncode == 3, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the Bot API at ") and "(401 Unauthorized)" in last
    assert "Traceback" not in result.stderr and TOKEN.split(":")[1] not in result.stderr


def test_sigterm_while_starting_exits_0(app_env, tmp_path):
    """A PaaS may stop a dyno still waiting on the Bot API at start-up: a quiet exit 0."""
    import http.server

    arrived = threading.Event()

    class Silent(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            arrived.set()
            time.sleep(20)  # never answers in time

        do_GET = do_POST

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = _web_env(app_env, TELEGRAM_API_URL=f"http://127.0.0.1:{server.server_port}")
    log = tmp_path / "web.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tarotbot", "web"], env=env, cwd=ROOT, stdout=out, stderr=out
        )
    try:
        assert arrived.wait(30), log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        server.shutdown()
    text = log.read_text()
    assert "got SIGTERM while starting" in text and "Traceback" not in text
