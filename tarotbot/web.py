"""Webhook mode: Telegram pushes updates to ``TELEGRAM_WEBHOOK_URL``; gunicorn serves them here.

Several ``web`` processes (dynos) can serve one bot, unlike the one poller
of ``bot``. Each update goes through :meth:`TarotBot.handle_webhook_update`,
the poller's own handlers with the same job and bundle ids, so an update
Telegram pushes twice does nothing twice.

:class:`WebhookApp` is a plain WSGI application answering the webhook's path
(the secret header checked in constant time), ``GET /healthz`` and 404 for
the rest; the README (Deploying, Webhook mode) lists its answers.

Nothing here logs an update's body, a question or a name; refused requests
are logged without the secret they carried.

:func:`serve` runs gunicorn in this process (``gthread`` workers). The App
and the TarotBot are built in each worker process after the fork
(:meth:`WebServer.load`), so no Redis or PostgreSQL connection crosses it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from tarotbot.config import HEALTH_PATH

log = logging.getLogger("tarotbot.web")

#: Largest update body accepted (bytes); Telegram's updates are a few KB.
MAX_BODY = 1_000_000
SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"  # X-Telegram-Bot-Api-Secret-Token
#: Seconds a worker finishes requests in hand after SIGTERM (a PaaS kills after 30).
GRACEFUL_TIMEOUT = 25
#: setWebhook attempts at start-up (Telegram answers 429 to a second one within a second).
SET_WEBHOOK_ATTEMPTS = 6
#: Redis key holding a digest of the webhook this bot was last given (see ensure_webhook).
WEBHOOK_DIGEST_KEY = "tarotbot:webhook:{bot_id}"

StartResponse = Callable[..., Any]


def webhook_path(url: str) -> str:
    """The path of ``url`` as a WSGI server shows it in ``PATH_INFO`` (decoded, latin-1)."""
    return unquote_to_bytes(urlsplit(url).path or "/").decode("latin-1")


def shown_url(url: str) -> str:
    """``url`` for a log line: scheme, host and path; no user info, query or fragment."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path or '/'}"


class WebhookApp:
    """The WSGI application: the webhook path, the health check, 404 for the rest.

    ``bot`` is anything with ``handle_webhook_update(dict) -> bool`` (a
    :class:`~tarotbot.telegram.bot.TarotBot`, or one wrapped by
    :func:`build_worker_app`).
    """

    def __init__(self, bot, *, path: str, secret: str, max_body: int = MAX_BODY):
        if path == HEALTH_PATH:
            raise ValueError(f"the webhook cannot be served on {HEALTH_PATH}")
        self.bot = bot
        self.path = path
        self._secret = secret.encode("ascii")
        self.max_body = max_body

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO") or "/"
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return _answer(start_response, 200, b"ok\n", "text/plain", head=method == "HEAD")
        if path != self.path or method != "POST":
            return _answer(start_response, 404, b"not found\n", "text/plain")
        refused = self._check_secret(environ)
        if refused:
            return _answer(start_response, refused, b"", "text/plain")
        body = self._read_body(environ)
        if isinstance(body, int):
            return _answer(start_response, body, b"", "text/plain")
        try:
            data = json.loads(body)
        except ValueError:  # not JSON, or not UTF-8
            log.warning("refused a webhook POST: the body (%d bytes) is not JSON", len(body))
            return _answer(start_response, 400, b"", "text/plain")
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            log.warning("refused a webhook POST: the JSON is not an update (no update_id)")
            return _answer(start_response, 400, b"", "text/plain")
        if self._handle(data):
            return _answer(start_response, 200, b"{}", "application/json")
        return _answer(start_response, 500, b"", "text/plain")

    def _check_secret(self, environ: dict) -> int | None:
        """401 without the secret header, 403 with another value; None when it matches."""
        given = environ.get(SECRET_HEADER)
        peer = environ.get("HTTP_X_FORWARDED_FOR") or environ.get("REMOTE_ADDR") or "?"
        if given is None:
            log.warning("refused a webhook POST from %s: no secret header", peer[:100])
            return 401
        if not hmac.compare_digest(given.encode("latin-1", "replace"), self._secret):
            log.warning("refused a webhook POST from %s: wrong secret", peer[:100])
            return 403
        return None

    def _read_body(self, environ: dict) -> bytes | int:
        """The request body, or the status refusing it (413 too large, 400 unreadable)."""
        declared = (environ.get("CONTENT_LENGTH") or "").strip()
        try:
            length = int(declared) if declared else None
        except ValueError:
            return 400
        if length is not None and (length < 0 or length > self.max_body):
            log.warning("refused a webhook POST of %d bytes (limit %d)", length, self.max_body)
            return 413 if length > 0 else 400
        stream = environ["wsgi.input"]
        try:  # without a length (chunked), read one byte past the limit to notice it
            body = stream.read(self.max_body + 1 if length is None else length)
        except Exception as exc:  # the client went away mid-body
            log.warning("could not read a webhook POST (%s)", type(exc).__name__)
            return 400
        if len(body) > self.max_body:
            log.warning("refused a webhook POST over %d bytes", self.max_body)
            return 413
        return body

    def _handle(self, data: dict) -> bool:
        """True when handled (or passed over for good); False: answer 500, Telegram retries."""
        update_id = data["update_id"]
        try:
            return bool(self.bot.handle_webhook_update(data))
        except Exception as exc:
            # Neither the update nor the exception's message is logged (either
            # may quote the person's text): the exception's type and place only.
            frames = traceback.extract_tb(exc.__traceback__)
            where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
            log.error(
                "update %s: handling raised %s at %s; Telegram will push it again",
                update_id,
                type(exc).__name__,
                where,
            )
            return False


def _answer(
    start_response: StartResponse, status: int, body: bytes, content_type: str, head: bool = False
) -> list[bytes]:
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
    )
    return [] if head else [body]


# -- the webhook at Telegram ---------------------------------------------------


def webhook_digest(token: str, url: str, secret: str, allowed_updates: list[str]) -> str:
    """What identifies the webhook we set (keyed by the token: the secret cannot be guessed back)."""
    message = "\0".join([url, secret, ",".join(sorted(allowed_updates))]).encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def ensure_webhook(
    bot,
    redis_conn,
    *,
    url: str,
    secret: str,
    allowed_updates: list[str],
    attempts: int = SET_WEBHOOK_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Make Telegram post to ``url`` with ``secret``; return ``"set"`` or ``"already set"``.

    ``bot`` is a pyTelegramBotAPI TeleBot. Several web processes start
    together in a deploy, and Telegram answers 429 to a second setWebhook
    within a second: so getWebhookInfo first, and a webhook already on
    ``url`` with these update kinds is left alone, provided Redis holds the
    digest of the secret this bot last set it with (Telegram never shows the
    secret, and a changed secret must be sent). A 429 waits ``retry_after``
    (plus a little jitter) and looks again. Raises ApiTelegramException or
    requests' exceptions; after ``attempts`` 429s, the last one.
    """
    from telebot.apihelper import ApiTelegramException

    from tarotbot.telegram.ratelimit import bot_id_from_token, retry_after

    key = WEBHOOK_DIGEST_KEY.format(bot_id=bot_id_from_token(bot.token))
    digest = webhook_digest(bot.token, url, secret, allowed_updates)
    for attempt in range(1, attempts + 1):
        info = bot.get_webhook_info()
        same_kinds = sorted(info.allowed_updates or []) == sorted(allowed_updates)
        if info.url == url and same_kinds and _stored(redis_conn.get(key)) == digest:
            return "already set"
        try:
            bot.set_webhook(
                url=url,
                secret_token=secret,
                allowed_updates=allowed_updates,
                drop_pending_updates=False,
            )
        except ApiTelegramException as exc:
            if exc.error_code != 429 or attempt == attempts:
                raise
            wait = min(retry_after(exc, 1.0), 30.0) + random.uniform(0.05, 0.5)
            log.info(
                "setWebhook answered 429 (another process set it?); looking again in %.1f s", wait
            )
            sleep(wait)
            continue
        redis_conn.set(key, digest)
        return "set"
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _stored(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def start_webhook(settings, redis_conn) -> None:
    """At start-up: point Telegram at the webhook and announce the commands, or one clear error."""
    import requests
    from telebot.apihelper import ApiTelegramException

    from tarotbot.exceptions import TelegramUnavailable
    from tarotbot.redaction import redact
    from tarotbot.telegram.bot import ALLOWED_UPDATES, announce_commands
    from tarotbot.telegram.client import make_bot

    api = settings.telegram_api_url
    url = settings.webhook_url
    bot = make_bot(settings, threaded=False)
    try:
        outcome = ensure_webhook(
            bot,
            redis_conn,
            url=url,
            secret=settings.webhook_secret.reveal(),
            allowed_updates=list(ALLOWED_UPDATES),
        )
        announce_commands(bot)
    except ApiTelegramException as exc:
        raise TelegramUnavailable(
            f"the Bot API at {api} refused the webhook {shown_url(url)} ({exc.error_code} "
            f"{redact(exc.description)}); check TELEGRAM_WEBHOOK_URL and TELEGRAM_BOT_TOKEN"
        ) from None
    except requests.RequestException as exc:
        raise TelegramUnavailable(
            f"cannot reach the Bot API at {api} ({type(exc).__name__}); "
            "check TELEGRAM_API_URL and the network"
        ) from None
    log.info("webhook %s: %s", outcome, shown_url(url))


# -- gunicorn --------------------------------------------------------------------


class _ConnectionPerUpdate:
    """Hands each update to the bot inside a pooled database connection (returned after)."""

    def __init__(self, bot):
        self.bot = bot

    def handle_webhook_update(self, data: dict) -> bool:
        from tarotbot.db import database

        with database.connection_context():
            return self.bot.handle_webhook_update(data)


def build_worker_app(settings) -> WebhookApp:
    """The WSGI app of one gunicorn worker: its own database pool, Redis client and TarotBot."""
    from tarotbot.app import App, set_app
    from tarotbot.db import init_database
    from tarotbot.telegram.bot import TarotBot

    init_database(settings, pooled=True)
    app = App.from_settings(settings)
    set_app(app)
    bot = TarotBot(app)
    return WebhookApp(
        _ConnectionPerUpdate(bot),
        path=webhook_path(settings.webhook_url),
        secret=settings.webhook_secret.reveal(),
    )


def _close_database(arbiter, worker) -> None:
    """gunicorn's worker_exit: close the worker's idle pooled connections (a clean goodbye)."""
    from tarotbot.db import database

    close_idle = getattr(database.obj, "close_idle", None)
    if close_idle is not None:
        close_idle()


def _gunicorn_logger_class():
    """gunicorn's logger, its lines sent through ours (one line each, token redacted)."""
    from gunicorn import glogging

    class Logger(glogging.Logger):
        def setup(self, cfg):
            super().setup(cfg)
            for handler in list(self.error_log.handlers):
                self.error_log.removeHandler(handler)
            self.error_log.propagate = True  # to the root handler of setup_logging (stderr)

    return Logger


def gunicorn_options(port: int, workers: int, threads: int, log_level: str) -> dict:
    return {
        "bind": [f"0.0.0.0:{port}"],
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "timeout": 30,  # a worker silent this long is killed and replaced
        "keepalive": 5,
        "accesslog": None,  # it would log every URL
        "errorlog": "-",
        "loglevel": log_level.lower(),
        "logger_class": _gunicorn_logger_class(),
        "control_socket_disable": True,  # one shared path in $HOME: several processes would clash
        "proc_name": "tarotbot-web",
        "preload_app": False,  # the app is built in each worker, after the fork
        "worker_exit": _close_database,
    }


def _web_server_class():
    from gunicorn.app.base import BaseApplication

    class WebServer(BaseApplication):
        """gunicorn in this process; ``build()`` makes the WSGI app in each worker."""

        def __init__(self, options: dict, build: Callable[[], Any]):
            self.options = options
            self.build = build
            super().__init__()

        def load_config(self):
            for key, value in self.options.items():
                self.cfg.set(key, value)

        def load(self):
            return self.build()

    return WebServer


def serve(settings, *, port: int, workers: int, threads: int) -> None:
    """Run gunicorn until SIGTERM (or SIGINT); exits the process (0 on a clean stop)."""
    server = _web_server_class()(
        gunicorn_options(port, workers, threads, settings.log_level),
        lambda: build_worker_app(settings),
    )
    log.info(
        "web serving %s on 0.0.0.0:%d: %d worker(s) x %d thread(s)",
        webhook_path(settings.webhook_url),
        port,
        workers,
        threads,
    )
    server.run()


def exit_on_sigterm() -> None:
    """Before gunicorn takes over the signals: SIGTERM ends start-up quietly (exit 0)."""

    def on_term(signum, frame):
        log.info("got SIGTERM while starting; exiting")
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
