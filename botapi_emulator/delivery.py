"""Webhook delivery: pending updates POSTed to the bot's webhook, as Telegram does it.

docs/emulator.md ("Webhooks") says what is posted, which answers deliver an
update, the retry backoff (:data:`RETRY_FIRST_DELAY` doubling to
:data:`RETRY_MAX_DELAY`) and how updates are queued: per chat or user and
kind, one at a time in order, queues in parallel up to ``max_connections``.
Worker threads are started as parallel work appears (one spare is kept
waiting) and end when idle, so a quiet webhook costs a thread or two per bot.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botapi_emulator.errors import ApiError
from botapi_emulator.limits import Stats
from botapi_emulator.params import decode_request
from botapi_emulator.state import BotState, WebhookConfig
from botapi_emulator.webhooks import webhook_target

log = logging.getLogger("botapi_emulator")

RETRY_FIRST_DELAY = 0.1  # s before the first retry of a failed update
RETRY_MAX_DELAY = 2.0  # s: the backoff doubles up to this
DELIVERY_TIMEOUT = 10.0  # s to connect, and then to get the answer
SHUTDOWN_GRACE = 1.0  # s close() waits for the delivery threads
IDLE_WORKER_EXIT = 2.0  # s an extra worker waits for work before it ends
KEEP_ALIVE_IDLE = 1.0  # s a kept-alive connection may sit unused and still be reused
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MESSAGE_KINDS = frozenset(
    {"message", "edited_message", "channel_post", "edited_channel_post", "business_message"}
)
NOT_IN_REPLIES = frozenset({"setwebhook", "deletewebhook", "close", "logout"})

QueueKey = tuple[str, int]
Reply = Callable[[int, str, dict[str, Any]], None]


def queue_key(update: dict[str, Any]) -> QueueKey:
    """The queue an update is delivered in: its chat for messages, else its kind and user."""
    kind, payload = next((k, v) for k, v in update.items() if k != "update_id")
    if kind in MESSAGE_KINDS:
        return ("chat", payload["chat"]["id"])
    owner = (payload.get("chat") or payload.get("from") or {}).get("id")
    return (kind, owner) if owner is not None else ("update", update["update_id"])


@dataclass
class Outcome:
    """How one POST went: delivered, or the error getWebhookInfo will report."""

    delivered: bool
    error: str | None = None
    reply: dict[str, Any] | None = None


@dataclass
class Retry:
    """When a failed update may be sent again, and the delay after that."""

    delay: float
    at: float


class Target:
    """Where and how to POST: host, port, path, TLS, Basic auth from the URL's user info."""

    def __init__(self, config: WebhookConfig):
        parts = webhook_target(config.url)
        self.tls = parts.scheme.lower() == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.tls else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.headers = {"Content-Type": "application/json"}
        if config.secret_token:
            self.headers[SECRET_HEADER] = config.secret_token
        if parts.username is not None:
            user_info = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(user_info.encode()).decode()

    def connect(self) -> http.client.HTTPConnection:
        """A new connection (not yet opened)."""
        if self.tls:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=DELIVERY_TIMEOUT, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=DELIVERY_TIMEOUT)


def describe_failure(exc: Exception, connected: bool) -> str:
    """A transport failure in the words getWebhookInfo uses on Telegram."""
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(exc, TimeoutError):
        return "Read timeout expired" if connected else "Connection timed out"
    if isinstance(exc, ssl.SSLError):
        return f"SSL error {{{exc}}}"
    if isinstance(exc, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError):
        return "Webhook connection closed"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"Wrong response from the webhook: {exc}"


def reply_call(content_type: str | None, body: bytes) -> dict[str, Any] | None:
    """The Bot API call carried in a webhook's answer, if any (``method`` plus parameters)."""
    if not body.strip():
        return None
    try:
        values = decode_request("", content_type, body)
    except ApiError:
        return None
    method = values.get("method")
    if not isinstance(method, str) or not method:
        return None
    lowered = method.lower()
    if lowered in NOT_IN_REPLIES or lowered.startswith("get"):
        return None
    return values


class Delivery:
    """Posts one bot's pending updates to one webhook until stopped or replaced."""

    def __init__(self, bot: BotState, config: WebhookConfig, stats: Stats, reply: Reply):
        self.bot = bot
        self.config = config
        self.stats = stats
        self.reply = reply
        self.target = Target(config)
        self.stopped = False
        self.workers: set[threading.Thread] = set()
        self.idle = 0
        self.retries: dict[int, Retry] = {}
        self._open: set[http.client.HTTPConnection] = set()
        self._open_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        with self.bot.lock:
            self._spawn()

    def stop(self, *, abort: bool) -> None:
        """No new posts; with ``abort``, also cut the ones in flight (their updates stay)."""
        with self.bot.lock:
            self.stopped = True
            self.bot.updates_moved()
        if abort:
            with self._open_lock:
                connections = list(self._open)
            for connection in connections:
                _cut(connection)

    def join(self, deadline: float) -> None:
        """Wait (until the ``time.monotonic()`` deadline at most) for the workers to end."""
        with self.bot.lock:
            workers = list(self.workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    @property
    def alive(self) -> bool:
        with self.bot.lock:
            return bool(self.workers)

    def _finished(self) -> bool:
        return self.stopped or self.bot.closing or self.bot.webhook is not self.config

    def _spawn(self) -> None:
        """Start one more worker (caller holds the bot's lock)."""
        worker = threading.Thread(target=self._work, name=f"webhook-{self.bot.bot_id}", daemon=True)
        self.workers.add(worker)
        worker.start()

    # -- the worker -----------------------------------------------------------------

    def _work(self) -> None:
        connection: http.client.HTTPConnection | None = None
        last_used = 0.0
        try:
            while (job := self._claim()) is not None:
                update_id, key, body = job
                if connection is not None and time.monotonic() - last_used > KEEP_ALIVE_IDLE:
                    connection = self._drop(connection)  # the server may have closed it
                connection, outcome = self._post(connection, body)
                last_used = time.monotonic()
                if outcome.delivered and outcome.reply is not None:
                    self._run_reply(outcome.reply)
                self._settle(update_id, key, outcome)
        except Exception:
            log.exception("webhook delivery for bot %s failed", self.bot.bot_id)
        finally:
            if connection is not None:
                self._drop(connection)
            with self.bot.lock:
                self.workers.discard(threading.current_thread())
                self.bot.updates_moved()

    def _claim(self) -> tuple[int, QueueKey, bytes] | None:
        """Wait for an update whose queue is free and due; claim its queue. None: stop.

        After a claim, a spare worker is started (up to ``max_connections``) if
        none is idle, so a new update in another queue never waits for this
        one's post; a worker idle for :data:`IDLE_WORKER_EXIT` ends if another
        one is idle too.
        """
        bot = self.bot
        with bot.lock:
            idle_since = time.monotonic()
            while not self._finished():
                ready, wait = self._scan()
                if ready is not None:
                    key = queue_key(ready)
                    bot.webhook_claims[key] = ready["update_id"]
                    if self.idle == 0 and len(self.workers) < self.config.max_connections:
                        self._spawn()
                    body = json.dumps(ready, ensure_ascii=False).encode("utf-8")
                    return ready["update_id"], key, body
                if self.idle > 0 and time.monotonic() - idle_since >= IDLE_WORKER_EXIT:
                    break
                self.idle += 1
                try:
                    bot.updates_changed.wait(min(wait or IDLE_WORKER_EXIT, IDLE_WORKER_EXIT))
                finally:
                    self.idle -= 1
            self.workers.discard(threading.current_thread())
            return None

    def _scan(self) -> tuple[dict[str, Any] | None, float | None]:
        """The oldest update at the head of a free, due queue; else seconds until a retry."""
        at = time.monotonic()
        seen: set[QueueKey] = set()
        wait: float | None = None
        if not self.bot.updates:
            self.retries.clear()
        for update in self.bot.updates:
            key = queue_key(update)
            if key in seen:
                continue
            seen.add(key)
            if key in self.bot.webhook_claims:
                continue
            retry = self.retries.get(update["update_id"])
            if retry is not None and retry.at > at:
                wait = retry.at - at if wait is None else min(wait, retry.at - at)
                continue
            return update, None
        return None, wait

    def _post(
        self, connection: http.client.HTTPConnection | None, body: bytes
    ) -> tuple[http.client.HTTPConnection | None, Outcome]:
        """POST one update; returns the connection to keep (None if closed) and the outcome."""
        connected = False
        try:
            if connection is None:
                connection = self._open_connection()
            connected = True
            connection.request("POST", self.target.path, body, self.target.headers)
            response = connection.getresponse()
            data = response.read()
        except Exception as exc:
            if connection is not None:
                self._drop(connection)
            return None, Outcome(False, describe_failure(exc, connected))
        if response.will_close:
            connection = self._drop(connection)
        if 200 <= response.status <= 299:
            reply = reply_call(response.getheader("Content-Type"), data)
            return connection, Outcome(True, reply=reply)
        error = f"Wrong response from the webhook: {response.status} {response.reason}"
        return connection, Outcome(False, error)

    def _open_connection(self) -> http.client.HTTPConnection:
        connection = self.target.connect()
        with self._open_lock:
            self._open.add(connection)
        if self.stopped:
            raise ConnectionAbortedError("the webhook is being stopped")
        connection.connect()
        return connection

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        with self._open_lock:
            self._open.discard(connection)
        connection.close()

    def _run_reply(self, call: dict[str, Any]) -> None:
        """Execute the Bot API call the webhook answered with (errors are only logged)."""
        values = dict(call)
        method = str(values.pop("method"))
        try:
            self.reply(self.bot.bot_id, method, values)
        except Exception as exc:
            log.debug("bot %s: %s from a webhook answer failed: %s", self.bot.bot_id, method, exc)

    def _settle(self, update_id: int, key: QueueKey, outcome: Outcome) -> None:
        """Free the queue; forget a delivered update, or schedule the failed one's retry."""
        bot = self.bot
        with bot.lock:
            if bot.webhook_claims.get(key) == update_id:
                del bot.webhook_claims[key]
            if outcome.delivered:
                self.retries.pop(update_id, None)
                bot.remove_update(update_id)
                self.stats.record_webhook(delivered=True)
            elif not self.stopped:  # failures we caused by stopping are not the webhook's
                self._schedule_retry(update_id)
                self.config.record_error(outcome.error or "unknown error")
                self.stats.record_webhook(delivered=False)
                log.debug("bot %s: webhook delivery failed: %s", bot.bot_id, outcome.error)
            bot.updates_moved()

    def _schedule_retry(self, update_id: int) -> None:
        previous = self.retries.get(update_id)
        delay = RETRY_FIRST_DELAY if previous is None else min(previous.delay * 2, RETRY_MAX_DELAY)
        self.retries[update_id] = Retry(delay, time.monotonic() + delay)


def _cut(connection: http.client.HTTPConnection) -> None:
    """End a connection another thread may be blocked on (its read fails at once)."""
    sock = connection.sock
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class Deliveries:
    """The running deliveries, at most one per bot, kept in step with each bot's webhook."""

    def __init__(self, stats: Stats, reply: Reply):
        self.stats = stats
        self.reply = reply
        self._lock = threading.Lock()
        self._running: dict[int, Delivery] = {}
        self._retired: list[Delivery] = []

    def sync(self, bot: BotState) -> None:
        """Start, replace or stop the bot's delivery to match its webhook (cheap when it does)."""
        running = self._running.get(bot.bot_id)
        if (running.config if running else None) is self._wanted(bot):
            return
        with self._lock:
            running = self._running.get(bot.bot_id)
            wanted = self._wanted(bot)
            if (running.config if running else None) is wanted:
                return
            if running is not None:
                running.stop(abort=False)  # posts in flight finish; their results count
                self._retired.append(running)
                del self._running[bot.bot_id]
            if wanted is not None:
                delivery = Delivery(bot, wanted, self.stats, self.reply)
                self._running[bot.bot_id] = delivery
                delivery.start()
            self._retired = [d for d in self._retired if d.alive]

    @staticmethod
    def _wanted(bot: BotState) -> WebhookConfig | None:
        return None if bot.closing else bot.webhook

    def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop every delivery, cutting posts in flight; wait at most ``grace`` seconds."""
        with self._lock:
            deliveries = list(self._running.values()) + self._retired
            self._running.clear()
            self._retired = []
        for delivery in deliveries:
            delivery.stop(abort=True)
        deadline = time.monotonic() + grace
        for delivery in deliveries:
            delivery.join(deadline)
