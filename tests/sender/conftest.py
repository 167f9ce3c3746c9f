"""Fixtures for the sender tests: the Bot API emulator on a free port, the real client, Redis.

Only Telegram is faked (by the emulator); pyTelegramBotAPI, Redis and RQ are real.
"""

from __future__ import annotations

import logging
import threading

import pytest
from telebot import apihelper

from botapi_emulator import BotAPIEmulator
from tarotbot.config import load_settings
from tarotbot.redaction import describe
from tarotbot.telegram.chat_turns import DEFAULT_MAX_WAIT
from tarotbot.telegram.client import make_bot
from tarotbot.telegram.outgoing import Outgoing
from tarotbot.telegram.ratelimit import Limits, RedisLimiter

# A made-up token: six digits, so it cannot look like a real one; long enough for config.
TOKEN = "123456:sender-test-token-not-a-secret"
BOT_ID = "123456"
# Limits for tests about something other than the rate: a chat may take 20 messages a
# second, so the tests do not sleep through Telegram's real one-per-second pace.
FAST = Limits(chat_rate=20.0)
log = logging.getLogger("tarotbot.sender")


class Recorder:
    """An enqueue_later that only remembers what it was asked to do."""

    def __init__(self):
        self.calls = []

    def __call__(self, delay, bundle_id, chat_id, items):
        self.calls.append((delay, bundle_id, chat_id, list(items)))


class TimerEnqueueLater:
    """``enqueue_later`` on timer threads of this process, for tests without RQ.

    Whatever is pending is lost if the process exits; production uses
    :class:`~tarotbot.telegram.later.RQEnqueueLater`. Bind the sender after building it:
    ``later.sender = Sender(..., later)``. :meth:`wait_idle` waits until
    every scheduled delivery (and whatever it rescheduled) has run.
    """

    def __init__(self, sender=None, max_wait: float = DEFAULT_MAX_WAIT):
        self.sender = sender
        self.max_wait = max_wait
        self.calls: list[tuple[float, str, int, list[int]]] = []
        self.errors: list[str] = []
        self._pending = 0
        self._cond = threading.Condition()

    def __call__(
        self,
        delay: float,
        bundle_id: str,
        chat_id: int,
        items: list[Outgoing],
        at_most_once: bool = False,
    ) -> None:
        with self._cond:
            self._pending += 1
            self.calls.append((delay, bundle_id, chat_id, [item.index for item in items]))
        timer = threading.Timer(
            delay, self._run, args=(bundle_id, chat_id, list(items), at_most_once)
        )
        timer.daemon = True
        timer.start()

    def _run(self, bundle_id: str, chat_id: int, items: list[Outgoing], at_most_once: bool) -> None:
        try:
            if self.sender is None:
                raise RuntimeError("TimerEnqueueLater has no sender bound")
            self.sender.deliver(
                bundle_id, chat_id, items, max_wait=self.max_wait, at_most_once=at_most_once
            )
        except Exception as exc:
            token = self.sender.bot.token if self.sender else None
            self.errors.append(describe(exc, token))
            log.error("rescheduled bundle %s failed: %s", bundle_id, describe(exc, token))
        finally:
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is scheduled any more; False after ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)


@pytest.fixture
def emulator():
    """A running emulator; pyTelegramBotAPI's endpoint is restored afterwards."""
    saved = apihelper.API_URL, apihelper.FILE_URL
    emu = BotAPIEmulator().start()
    try:
        yield emu
    finally:
        emu.stop()
        apihelper.API_URL, apihelper.FILE_URL = saved


@pytest.fixture
def bot(emulator):
    """The real client, built by our own make_bot, pointed at the emulator."""
    settings = load_settings({"TELEGRAM_API_URL": emulator.base_url})
    return make_bot(settings, token=TOKEN, threaded=False)


@pytest.fixture
def users(emulator, bot):
    """Call ``users(*ids)`` to have those users write to the bot (chats must exist)."""

    def start(*user_ids):
        for user_id in user_ids:
            emulator.send(user_id, "/start", bot=BOT_ID)
        return user_ids

    return start


@pytest.fixture
def make_sender(bot, redis_conn):
    """Build a Sender on the real client and Redis; limiter and enqueue_later as asked.

    The limiter defaults to :data:`FAST` limits; pass ``limits=Limits()`` for Telegram's.
    """

    from tarotbot.telegram.sender import Sender

    def build(enqueue_later=None, limits=None, limiter=None, **options):
        limiter = limiter or RedisLimiter(redis_conn, BOT_ID, limits or FAST)
        return Sender(bot, redis_conn, limiter, enqueue_later or Recorder(), **options)

    return build


def bot_texts(emulator, chat_id):
    """What the bot sent to the chat: text or caption of each message, oldest first."""
    return [
        m["text"] if m["text"] is not None else m["caption"] for m in messages(emulator, chat_id)
    ]


def messages(emulator, chat_id):
    return emulator.messages(chat_id, bot=BOT_ID)


@pytest.fixture
def app(pg, redis_conn, make_sender):
    """This process's app (what jobs get from get_app()): the test's Redis, a sender on the emulator."""
    from tarotbot.app import App, set_app

    the_app = App(load_settings({}), redis_conn)
    the_app.set_sender(make_sender())
    set_app(the_app)
    yield the_app
    set_app(None)
