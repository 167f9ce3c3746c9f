"""The long-polling bot: validate each update, answer what must be instant, enqueue the rest.

Handlers are thin. They read the session (Redis, rebuilt from the database on
a miss), send short instant replies through the one sender, and enqueue every
write (registration, readings, payments, preferences) as an RQ job whose id
derives from the user and the Telegram ``update_id`` (:func:`update_key`);
the instant replies use the chat and update id as their bundle id. An update redelivered after a crash therefore neither
queues its work twice nor repeats a reply. Pre-checkout queries are answered
here, at once, because Telegram allows ten seconds.

The bot never uses ``skip_pending``: queued updates, payments among them, must
not be dropped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import signal
import threading
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
import telebot
from rq import Callback, Retry
from telebot import apihelper, types
from telebot.apihelper import ApiTelegramException

from tarotbot import ledger, subscriptions, users
from tarotbot.app import App
from tarotbot.config import seed_secret_bytes
from tarotbot.exceptions import PollingConflict, TelegramUnavailable, UnknownUser
from tarotbot.i18n import N_, gettext, speaking
from tarotbot.packs import (
    CURRENCY,
    PACKS_BY_ID,
    InvalidPayload,
    check_offer,
    is_subscription,
    subscription_payload,
)
from tarotbot.queue import QUEUE_PAYMENTS, QUEUE_READINGS, QUEUE_READINGS_PRIORITY, job_id
from tarotbot.redaction import redact
from tarotbot.sessions import Prefetch, Session, SessionCache
from tarotbot.tarot.commitment import commitment_of, new_nonce, seed_for
from tarotbot.tarot.errors import QuestionTooLong
from tarotbot.tarot.languages import DEFAULT_LANGUAGE, LANGUAGES, language_for
from tarotbot.tarot.safety import assess_question, clean_question
from tarotbot.tarot.spreads import get_spread
from tarotbot.telegram import keyboards, replies, texts
from tarotbot.telegram.account_chat import AccountChat, command_argument
from tarotbot.telegram.admin_chat import AdminChat
from tarotbot.telegram.client import make_bot
from tarotbot.telegram.sender import sender_for
from tarotbot.tiers import BASIC, SUBSCRIPTION_PERIOD, TIERS_BY_NAME, spread_price

log = logging.getLogger("tarotbot.bot")

QUESTION_LIMIT = 500  # characters
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]
COMMANDS = [
    ("reading", N_("Get a tarot reading")),
    ("balance", N_("Your credits")),
    ("buy", N_("Buy credits with Telegram Stars")),
    ("history", N_("Your past readings")),
    ("settings", N_("Reversed cards, daily card, timezone")),
    ("daily", N_("Your free card of the day")),
    ("verify", N_("Check a reading's cards yourself")),
    ("invite", N_("Invite friends: free credits for both")),
    ("export", N_("All your data as a file")),
    ("delete", N_("Erase your data")),
    ("cancel", N_("Stop what we are doing")),
    ("help", N_("How this works")),
    ("language", N_("Language: English or Russian")),
    ("subscription", N_("Your subscription tier")),
    ("paysupport", N_("Help with a payment")),
    ("terms", N_("Terms of service")),
]
COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]{1,64})?(?:\s|$)")
#: Handler threads: handlers wait on Redis and HTTP, not on the CPU.
HANDLER_THREADS = 8
#: Longest a handler thread sleeps for a rate-limit slot (seconds); beyond it
#: the reply is handed to the sends queue, so handlers stay free.
HANDLER_MAX_WAIT = 0.5
READING_RETRY = (1, 5, 15)  # seconds between attempts of a reading job
# seconds between attempts of a payment job: Stars already taken must be credited
# even after an hour-long database outage
UPDATE_ATTEMPTS = 3  # times the bot handles an update whose handler raises before passing it over
PAYMENT_RETRY = (1, 5, 15, 60, 300, 900, 1800, 3600)


def announce_commands(bot: telebot.TeleBot) -> None:
    """The command menu, once per language: Telegram shows each person their app's language
    (and the English one to everyone else)."""
    for language in LANGUAGES:
        with speaking(language):
            commands = [types.BotCommand(name, gettext(text)) for name, text in COMMANDS]
        code = None if language == DEFAULT_LANGUAGE else language
        bot.set_my_commands(commands, language_code=code)


def update_key(kind: str, user_id: int, update_id: int) -> str:
    """The id of the work an update asks for: a job id, and the ledger key of its charge.

    Derived from the update, so a redelivered update maps to the same job
    (and RQ's ``unique`` refuses it twice). Scoped to the user as well:
    Telegram numbers updates sequentially but restarts at a random number
    after a week without updates, so an update_id alone could meet another
    person's old key (their reading would be replayed to the wrong person).
    """
    return job_id(kind, user_id, update_id)


def seal_of(settings, nonce: str) -> str:
    """The seal of the reading with ``nonce``: the SHA-256 of its seed (published at once)."""
    return commitment_of(seed_for(seed_secret_bytes(settings), nonce))


def help_text() -> str:
    """/help: the commands, the payment commands and what each tier gives."""
    return "\n\n".join(
        [texts.render(texts.HELP), texts.render(texts.HELP_PAYMENTS), texts.tier_lines()]
    )


def has_words(text: str) -> bool:
    """True if ``text`` holds a letter, digit or symbol (emoji), not just invisible marks."""
    return any(unicodedata.category(ch)[0] in "LNS" for ch in text)


def _chat_of(update: types.Update) -> object:
    """Whose conversation an update belongs to (the chat, else the user, else itself)."""
    if update.message is not None:
        return update.message.chat.id
    for item in (update.callback_query, update.pre_checkout_query):
        if item is not None:
            return item.from_user.id
    return ("update", update.update_id)


class _UpdateAwareBot(telebot.TeleBot):
    """A TeleBot that handles each batch of updates in full, chat by chat, before confirming it.

    pyTelegramBotAPI's threaded mode hands updates to a pool and polls again
    at once: that next getUpdates confirms them to Telegram while handlers may
    still be running (a crash then loses them, a payment among them), and two
    updates of one chat run at the same time in any order (a "No question"
    tap overtaking the tap that chose the spread). Here the next poll waits
    until the batch is handled: chats in parallel on ``handler_threads``
    threads, each chat's updates in order. Each handler also learns the
    ``update_id`` its object came in (``tarot_update_id``).

    A handler that raises (Redis or the database briefly away while a
    payment arrives) stops its chat there, and the next poll asks Telegram
    again from that update: nothing is confirmed unhandled. Handlers are
    idempotent per update, so what is delivered twice does nothing twice.
    An update that fails :data:`UPDATE_ATTEMPTS` times is logged and passed
    over, so one poisonous update cannot stop the bot.
    """

    def __init__(self, token: str, *, handler_threads: int, **options):
        super().__init__(token, threaded=False, **options)
        self._handlers = ThreadPoolExecutor(handler_threads, thread_name_prefix="tarot-handler")
        # pyTelegramBotAPI parses refunded_payment but gives it no content type,
        # so no message handler can match it: refunds are routed here instead.
        self.refund_handler: Callable[[types.Message], None] | None = None
        # the language each update is answered in (the person's, at this moment)
        self.language_of: Callable[[types.Update], str | None] = lambda update: None
        self._attempts: dict[int, int] = {}  # update id -> failed attempts so far

    def process_new_updates(self, updates):
        by_chat: dict[object, list] = {}
        for update in updates:
            for item in (update.message, update.callback_query, update.pre_checkout_query):
                if item is not None:
                    item.tarot_update_id = update.update_id
            by_chat.setdefault(_chat_of(update), []).append(update)
        try:
            running = [self._handlers.submit(self._in_order, batch) for batch in by_chat.values()]
        except RuntimeError:  # stopping: left unconfirmed, Telegram hands them out again
            log.info("stopping; %d update(s) left for the next start", len(updates))
            return
        failed = [first for first in (done.result() for done in running) if first is not None]
        oldest = min(update.update_id for update in updates) if updates else 0
        self._attempts = {u: n for u, n in self._attempts.items() if u >= oldest}
        if failed:
            again = min(failed)
            self.last_update_id = again - 1  # the next getUpdates starts there
            time.sleep(min(5.0, 0.5 * self._attempts[again]))

    def _in_order(self, updates) -> int | None:
        """Handle one chat's updates in order; the id of one to fetch again, or None."""
        for update in updates:
            try:
                with speaking(self.language_of(update)):
                    message = update.message
                    if message is not None and message.refunded_payment is not None:
                        if self.refund_handler is not None:
                            self.refund_handler(message)
                        continue
                    super().process_new_updates([update])
            except Exception:
                tries = self._attempts.get(update.update_id, 0) + 1
                self._attempts[update.update_id] = tries
                if tries < UPDATE_ATTEMPTS:
                    log.warning(
                        "handling update %s failed (attempt %d of %d); it will be fetched again",
                        update.update_id,
                        tries,
                        UPDATE_ATTEMPTS,
                        exc_info=True,
                    )
                    return update.update_id
                log.exception("giving up on update %s after %d attempts", update.update_id, tries)
        return None

    def handle_one(self, update: types.Update) -> bool:
        """Handle one update now (webhook mode); False: it failed and should come again."""
        for item in (update.message, update.callback_query, update.pre_checkout_query):
            if item is not None:
                item.tarot_update_id = update.update_id
        failed = self._in_order([update]) is not None
        if not failed:
            self._attempts.pop(update.update_id, None)
        return not failed

    def close_handlers(self) -> None:
        self._handlers.shutdown(wait=True)


class _PollInterrupted(BaseException):
    """Raised by the signal handler into a long poll, which holds no update yet."""


class _ConflictWatch:
    """Telegram answers 409 when another process polls with the same token.

    One or two 409s happen in a deploy (the old process's last poll meets the
    new one's); a second poller keeps causing them. Several within a minute
    mean another bot process is running: stop with one clear line instead of
    fighting it for updates forever.
    """

    LIMIT = 5  # 409s ...
    WINDOW = 60.0  # ... within this many seconds
    LIMIT_NEW = 3  # fewer for a process that has not polled cleanly once: it is the newcomer

    def __init__(self):
        self.times: list[float] = []
        self.polled_cleanly = False

    def clean(self) -> None:
        self.polled_cleanly = True

    def seen(self) -> None:
        now = time.monotonic()
        self.times = [t for t in self.times if now - t < self.WINDOW] + [now]
        if len(self.times) >= (self.LIMIT if self.polled_cleanly else self.LIMIT_NEW):
            raise PollingConflict(
                "another process is polling Telegram with this bot token (409 Conflict "
                f"{len(self.times)} times in {self.WINDOW:.0f} s); run exactly one `bot` process "
                "per token, or the `web` process instead of `bot`"
            )
        log.warning("Telegram answered 409: another poller with this token (or a deploy overlap)")


@dataclass(frozen=True)
class _Press:
    """A button press, as the handlers in :data:`keyboards.ACTIONS` receive it."""

    update_id: int
    chat_id: int
    user_id: int
    message_id: int
    callback: keyboards.Callback


class TarotBot(AccountChat, AdminChat):
    """Handlers bound to one TeleBot and one :class:`App` (account and admin ones in mixins)."""

    def __init__(self, app: App, token: str | None = None):
        self.app = app.use_sender_factory(sender_for)
        base = make_bot(app.settings, token=token, threaded=True)
        self.bot = _UpdateAwareBot(
            base.token, parse_mode="HTML", handler_threads=HANDLER_THREADS, skip_pending=False
        )
        self.sessions = SessionCache(app.redis)
        self._local = threading.local()  # what was read ahead for the update in hand
        self._stopping = threading.Event()
        self._in_poll = False
        self.bot.register_message_handler(self.on_payment, content_types=["successful_payment"])
        self.bot.refund_handler = self.on_refund
        self.bot.language_of = self.language_of
        self.bot.register_message_handler(self.on_message, content_types=None, func=lambda m: True)
        self.bot.register_message_handler(
            self.on_message,
            content_types=[
                "audio", "document", "photo", "sticker", "video", "video_note", "voice",
                "location", "contact", "animation", "poll", "dice", "venue",
            ],
        )  # fmt: skip
        self.bot.register_callback_query_handler(self.on_callback, func=lambda c: True)
        self.bot.register_pre_checkout_query_handler(self.on_pre_checkout, func=lambda q: True)

    # -- running -------------------------------------------------------------
    def announce_commands(self) -> None:
        announce_commands(self.bot)

    def run(self, poll_timeout: int = 20) -> None:
        """Long-poll until stopped (SIGTERM, SIGINT or :meth:`stop`); never skip pending updates.

        Raises :class:`TelegramUnavailable` (one clear line, no token) when the
        Bot API cannot be reached or refuses the token at start-up, and
        :class:`PollingConflict` when another process keeps polling with the
        same token.
        """
        url = self.app.settings.telegram_api_url
        try:
            self.bot.delete_webhook(drop_pending_updates=False)
            self.announce_commands()
        except ApiTelegramException as exc:
            raise TelegramUnavailable(
                f"the Bot API at {url} refused the bot ({exc.error_code} "
                f"{redact(exc.description)}); check TELEGRAM_BOT_TOKEN"
            ) from None
        except requests.RequestException as exc:
            raise TelegramUnavailable(
                f"cannot reach the Bot API at {url} ({type(exc).__name__}); "
                "check TELEGRAM_API_URL and the network"
            ) from None
        log.info("bot polling %s", url)
        with self._stop_on_signals():
            try:
                self._poll(poll_timeout)
            except _PollInterrupted:  # a poll cut short by SIGTERM: nothing was handed to us yet
                # its connection still waits for the cut poll's answer: use a fresh one
                apihelper._get_req_session().close()
                apihelper._get_req_session(reset=True)
            self._hand_back()
        log.info("bot stopped")

    def handle_webhook_update(self, data: dict) -> bool:
        """Handle one update Telegram pushed to the webhook, as the poller would.

        Same handlers, same job ids and bundle ids (from the update id), so an
        update Telegram pushes twice does nothing twice. False means it failed
        (Redis or the database briefly away): answer non-2xx and Telegram
        pushes it again; after :data:`UPDATE_ATTEMPTS` failures it is logged
        and passed over, as in polling.
        """
        update = types.Update.de_json(data)
        if update is None:
            return True
        return self.bot.handle_one(update)

    def stop(self) -> None:
        """Stop polling after the batch in hand (from another thread)."""
        self._stopping.set()
        self.bot.close_handlers()

    # -- polling ---------------------------------------------------------------
    def _poll(self, poll_timeout: int) -> None:
        """getUpdates in a loop; each batch is handled in full before the next poll confirms it."""
        pause = 0.0
        conflicts = _ConflictWatch()
        while not self._stopping.is_set():
            if pause:
                self._stopping.wait(pause)
                if self._stopping.is_set():
                    return
            try:
                self._in_poll = True
                updates = self.bot.get_updates(
                    offset=self.bot.last_update_id + 1,
                    timeout=poll_timeout,
                    long_polling_timeout=poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                )
            except ApiTelegramException as exc:
                if exc.error_code == 409:
                    conflicts.seen()  # raises PollingConflict once it persists
                    pause = 1.0
                    continue
                if exc.error_code in (401, 404):
                    raise TelegramUnavailable(
                        f"the Bot API refused the bot while polling ({exc.error_code} "
                        f"{redact(exc.description)}); check TELEGRAM_BOT_TOKEN"
                    ) from None
                pause = self._poll_failed(pause, f"{exc.error_code} {redact(exc.description)}")
                continue
            except requests.RequestException as exc:
                pause = self._poll_failed(pause, type(exc).__name__)
                continue
            finally:
                self._in_poll = False
            pause = 0.0
            conflicts.clean()
            if updates:
                self.bot.process_new_updates(updates)

    @staticmethod
    def _poll_failed(pause: float, what: str) -> float:
        pause = min(max(pause * 2, 0.5), 30.0)
        log.warning("getUpdates failed (%s); polling again in %.1f s", what, pause)
        return pause

    def _hand_back(self) -> None:
        """Confirm the handled updates, so the next start does not fetch them again.

        Updates fetched but not handled are not confirmed: Telegram hands them
        to the next process.
        """
        self.bot.close_handlers()
        try:
            # a 1 s poll (pyTelegramBotAPI turns 0 into its 20 s default); what it
            # returns is not confirmed and goes to the next process
            self.bot.get_updates(
                offset=self.bot.last_update_id + 1, limit=1, timeout=5, long_polling_timeout=1
            )
        except (ApiTelegramException, requests.RequestException) as exc:
            log.info("could not confirm the last updates (%s); they will be fetched again", exc)

    @contextlib.contextmanager
    def _stop_on_signals(self):
        """SIGTERM and SIGINT stop the bot: a long poll is cut short, a batch is finished first."""
        if threading.current_thread() is not threading.main_thread():
            yield  # the demo runs the bot on a thread: it stops it with stop()
            return

        def on_signal(signum, frame):
            log.info("got %s; stopping after the updates in hand", signal.Signals(signum).name)
            self._stopping.set()
            if self._in_poll:
                raise _PollInterrupted

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- helpers -------------------------------------------------------------
    def reply(self, update_id: int, chat_id: int, *items, suffix: str = "") -> None:
        self.app.sender.deliver(
            f"u{chat_id}-{update_id}{suffix}",
            chat_id,
            list(items),
            max_wait=HANDLER_MAX_WAIT,
            at_most_once=True,  # an instant reply is better lost in a crash than sent twice
        )

    def say(self, update_id: int, chat_id: int, html: str, markup: dict | None = None) -> None:
        self.reply(update_id, chat_id, replies.text(chat_id, html, markup))

    def session(self, telegram_id: int) -> Session | None:
        """The person's session; the first call of an update uses what :meth:`language_of`
        read for it (one Redis round trip per update, not three)."""
        ahead = self._ahead(telegram_id)
        if ahead is not None and ahead.raw is not None:
            self._local.raw = (telegram_id, ahead.raw)  # for take_question's compare-and-set
            return self.sessions.get(telegram_id, raw=ahead.raw)
        return self.sessions.get(telegram_id)

    def _ahead(self, telegram_id: int, part: str = "raw") -> Prefetch | None:
        """What was read ahead for this update about ``telegram_id``, each ``part`` once."""
        ahead = getattr(self._local, "ahead", None)
        if ahead is None or ahead.telegram_id != telegram_id:
            return None
        used = self._local.used
        if part in used:
            return None
        used.add(part)
        return ahead

    def _seen_raw(self, telegram_id: int) -> bytes | None:
        """The session as this update's :meth:`session` read it, for one compare-and-set."""
        seen = getattr(self._local, "raw", None)
        self._local.raw = None
        return seen[1] if seen and seen[0] == telegram_id else None

    def language_of(self, update: types.Update) -> str:
        """The language to answer ``update`` in: the person's choice on record, else the
        one Telegram says their app uses (ru and the languages whose speakers read it: ru).

        Called first for every update: it reads the session ahead for the handler, with
        the inactivity note of a person who writes (a private message or a button).
        """
        self._local.ahead, self._local.used, self._local.raw = None, set(), None
        sender = next(
            (
                item.from_user
                for item in (update.message, update.callback_query, update.pre_checkout_query)
                if item is not None and item.from_user is not None
            ),
            None,
        )
        if sender is None:
            return DEFAULT_LANGUAGE
        writes = update.callback_query is not None or (
            update.message is not None and update.message.chat.type == "private"
        )
        try:
            ahead = self.sessions.prefetch(sender.id, take_inactive=writes)
            self._local.ahead = ahead
            raw = ahead.raw if ahead is not None else None
            session = self.sessions.get(sender.id, raw=raw)
        except Exception:  # no language is worth failing an update over: Telegram's guess
            session = None
        if session is not None and session.language:
            return session.language
        return language_for(getattr(sender, "language_code", None))

    def note_activity(self, telegram_id: int, update_id: int) -> None:
        """Someone marked inactive (they had blocked the bot) wrote again: mark them active."""
        ahead = self._ahead(telegram_id, "inactive")
        if ahead is not None and ahead.inactive is not None:
            inactive = ahead.inactive  # taken with the session, in one round trip
        else:
            inactive = self.sessions.take_inactive(telegram_id)
        if inactive:
            key = update_key("active", telegram_id, update_id)
            self.app.enqueue(QUEUE_PAYMENTS, "jobs.credits.mark_active", telegram_id, key=key)

    # -- messages ------------------------------------------------------------
    def on_message(self, message: types.Message) -> None:
        update_id = getattr(message, "tarot_update_id", message.message_id)
        chat_id = message.chat.id
        if message.chat.type != "private":
            return  # readings are personal: groups are ignored
        user = message.from_user
        self.note_activity(user.id, update_id)
        if message.content_type == "location" and message.location is not None:
            self.on_location(message, update_id)
            return
        if message.content_type != "text":
            self.say(update_id, chat_id, texts.NOT_TEXT)
            return
        text = message.text or ""
        command = COMMAND_RE.match(text)
        if command:
            self.on_command(command.group(1).lower(), message, update_id)
            return
        session = self.session(user.id)
        if session is None:
            self.say(update_id, chat_id, texts.NOT_REGISTERED)
            return
        waiting = session.state == "awaiting_question" and session.spread
        if waiting or session.taken_update == update_id:  # (or this question, redelivered)
            self.on_question(session, text, chat_id, update_id)
            return
        self.say(update_id, chat_id, texts.FREE_TEXT_HINT, keyboards.main_menu())

    def on_command(self, name: str, message: types.Message, update_id: int) -> None:
        chat_id = message.chat.id
        user = message.from_user
        if name not in ("cancel", "reading"):  # those two manage the step themselves
            self.sessions.end_step(user.id)
        if self.on_account_command(name, message, update_id):
            return
        if self.on_admin_command(name, message, update_id):
            return
        if name == "start":
            self.app.sender.act(chat_id)
            self.app.enqueue(
                QUEUE_PAYMENTS,
                "jobs.credits.register_user",
                user.id,
                chat_id,
                user.username,
                user.first_name,
                update_key("start", user.id, update_id),
                command_argument(message.text)[:64] or None,  # an invitation code, if any
                key=update_key("start", user.id, update_id),
            )
            return
        if name == "help":
            self.say(update_id, chat_id, help_text(), keyboards.main_menu())
            return
        if name in ("paysupport", "terms"):
            page = texts.PAYSUPPORT if name == "paysupport" else texts.TERMS
            self.say(update_id, chat_id, page, keyboards.main_menu())
            return
        if name == "subscription":
            self.show_subscription(user.id, chat_id, update_id)
            return
        if name == "cancel":
            self.cancel(user.id, chat_id, update_id)
            return
        if name == "history":
            self.enqueue_history(user.id, chat_id, None, "older", None, update_id)
            return
        if name == "buy":
            self.say(update_id, chat_id, texts.BUY, keyboards.buy_menu())
            return
        session = self.session(user.id)
        if session is None:
            if name in ("reading", "balance", "settings"):
                self.say(update_id, chat_id, texts.NOT_REGISTERED)
            else:
                self.say(
                    update_id, chat_id, texts.render(texts.UNKNOWN_COMMAND, command="/" + name)
                )
            return
        if name == "reading":
            self.show_spreads(session, chat_id, update_id, command_argument(message.text))
        elif name == "balance":
            balance = ledger.balance(session.user_id)
            self.say(
                update_id,
                chat_id,
                texts.render(texts.BALANCE, balance=balance),
                keyboards.main_menu(),
            )
        elif name == "settings":
            self.show_settings(session, chat_id, update_id)
        elif name == "language":
            self.say(
                update_id, chat_id, texts.render(texts.LANGUAGE_CHOOSE), keyboards.language_menu()
            )
        else:
            self.say(update_id, chat_id, texts.render(texts.UNKNOWN_COMMAND, command="/" + name))

    def show_spreads(
        self, session: Session, chat_id: int, update_id: int, question: str = ""
    ) -> None:
        """The spread menu; a question typed after /reading waits for the spread chosen."""
        pending = None
        if question:
            try:
                pending = clean_question(question, limit=QUESTION_LIMIT)
            except QuestionTooLong:
                self.say(
                    update_id,
                    chat_id,
                    texts.render(
                        texts.QUESTION_TOO_LONG, length=len(question), limit=QUESTION_LIMIT
                    ),
                )
                return
            if not has_words(pending):
                pending = None
        self.sessions.set_state(session.telegram_id, "choosing", pending_question=pending)
        balance = ledger.balance(session.user_id)
        text = texts.render(texts.CHOOSE_SPREAD, balance=balance)
        if pending:
            text = texts.render(texts.READING_WITH_QUESTION, question=pending) + "\n" + text
        self.say(update_id, chat_id, text, keyboards.spreads_menu(balance, session.current_tier()))

    def cancel(self, telegram_id: int, chat_id: int, update_id: int) -> None:
        session = self.session(telegram_id)
        busy = session is not None and session.state != "idle"
        if session is not None:
            self.sessions.set_state(telegram_id, "idle")
        self.say(
            update_id,
            chat_id,
            texts.CANCELLED if busy else texts.NOTHING_TO_CANCEL,
            keyboards.main_menu(),
        )

    def on_question(self, session: Session, text: str, chat_id: int, update_id: int) -> None:
        try:
            question = clean_question(text, limit=QUESTION_LIMIT)
        except QuestionTooLong:
            self.say(
                update_id,
                chat_id,
                texts.render(texts.QUESTION_TOO_LONG, length=len(text), limit=QUESTION_LIMIT),
            )
            return
        if not has_words(question):
            self.say(update_id, chat_id, texts.QUESTION_EMPTY)
            return
        seen = self._seen_raw(session.telegram_id)
        taken = self.sessions.take_question(session.telegram_id, update_id, raw=seen)
        if taken is None:  # another message took this question a moment ago
            self.say(update_id, chat_id, texts.SLOW_DOWN)
            return
        self.start_reading(taken, taken.spread, question, chat_id, update_id)

    def start_reading(
        self,
        session: Session,
        spread_name: str,
        question: str | None,
        chat_id: int,
        update_id: int,
        menu_id: int | None = None,
    ) -> None:
        """Show that the cards are being drawn, then hand the reading to a worker.

        A reading arrives in tens of milliseconds as two messages (the picture,
        then the text), so the bot shows a chat action ("sending a photo…"),
        not a message of its own: a third message per reading would cost a
        third of the bot's share of Telegram's limits. The action goes out
        before the job is queued, so it never shows after the reading. A
        message still comes where it helps: "Shuffling the deck…" when an
        LLM writes the reading (seconds), and, for a question asked with
        /reading before the spread was chosen, the spread menu (``menu_id``)
        becomes "Shuffling the deck…" with the seal, which otherwise was
        never shown before the cards (:mod:`tarotbot.tarot.commitment`).
        """
        spread = get_spread(spread_name)
        nonce = session.nonce or new_nonce()
        items = []
        if question:
            note = assess_question(question)
            if note is not None:
                items.append(replies.text(chat_id, note.html))
                if not note.proceed:
                    self.reply(update_id, chat_id, *items)
                    return
        if self.app.settings.llm_url or menu_id is not None:
            shuffling = texts.render(texts.SHUFFLING, title=texts.local_spread(spread).title)
            seal = seal_of(self.app.settings, nonce)
            ack = f"{shuffling}\n{texts.render(texts.SHUFFLING_SEALED, commitment=seal)}"
            if menu_id is not None:
                items.append(replies.edit_text(chat_id, menu_id, ack))
            else:
                items.append(replies.text(chat_id, ack))
        if items:
            self.reply(update_id, chat_id, *items)
        # A message ends any chat action: the action comes after this update's own.
        self.app.sender.act(chat_id, "upload_photo")
        key = update_key("reading", session.telegram_id, update_id)
        self.app.enqueue(
            QUEUE_READINGS_PRIORITY if session.current_tier().priority else QUEUE_READINGS,
            "jobs.readings.run_reading",
            session.telegram_id,
            chat_id,
            spread.name,
            question,
            key,
            nonce,
            key=key,
            retry=Retry(max=len(READING_RETRY), interval=list(READING_RETRY)),
            on_failure=Callback("jobs.readings.reading_failed"),
        )

    def enqueue_history(
        self,
        telegram_id: int,
        chat_id: int,
        cursor: str | None,
        direction: str,
        edit_message_id: int | None,
        update_id: int,
    ) -> None:
        key = update_key("history", telegram_id, update_id)
        self.app.enqueue(
            QUEUE_READINGS,
            "jobs.readings.show_history",
            telegram_id,
            chat_id,
            cursor,
            direction,
            edit_message_id,
            key,
            key=key,
        )

    # -- buttons -------------------------------------------------------------
    def _answer(self, call: types.CallbackQuery, alert: str | None = None) -> None:
        """Stop the button's spinner (with an alert, if given); never lose the press over it.

        Telegram refuses answers to queries older than ~15 s ("query is too
        old", e.g. after the bot was down): the press is still handled.
        """
        try:
            if alert:
                self.bot.answer_callback_query(call.id, texts.render(alert), show_alert=True)
            else:
                self.bot.answer_callback_query(call.id)
        except (ApiTelegramException, requests.RequestException) as exc:
            log.info("could not answer callback query: %s", redact(exc))

    def on_callback(self, call: types.CallbackQuery) -> None:
        """A button press: parsed strictly, then handled by the table in keyboards.py."""
        try:
            callback = keyboards.parse_callback(call.data)
        except keyboards.ForgedCallback:
            self._answer(call, texts.STALE_BUTTON)
            return
        if call.message is None:
            self._answer(call, texts.STALE_BUTTON)
            return
        self._answer(call)
        self.note_activity(call.from_user.id, getattr(call, "tarot_update_id", 0))
        press = _Press(
            getattr(call, "tarot_update_id", 0),
            call.message.chat.id,
            call.from_user.id,
            call.message.message_id,
            callback,
        )
        rule = callback.rule
        if not rule.keeps_step:
            self.sessions.end_step(press.user_id)
        session = None
        if rule.needs_account:
            session = self.session(press.user_id)
            if session is None:
                self.say(press.update_id, press.chat_id, texts.NOT_REGISTERED)
                return
        getattr(self, rule.handler)(press, session)

    def on_menu_button(self, press: _Press, session: Session | None) -> None:
        update_id, chat_id, arg = press.update_id, press.chat_id, press.callback.arg
        if arg == "hist":
            self.enqueue_history(press.user_id, chat_id, None, "older", None, update_id)
        elif arg == "buy":
            self.say(update_id, chat_id, texts.BUY, keyboards.buy_menu())
        elif arg == "help":
            self.say(update_id, chat_id, help_text(), keyboards.main_menu())
        elif arg == "sub":
            self.show_subscription(press.user_id, chat_id, update_id)
        else:
            session = self.session(press.user_id)
            if session is None:
                self.say(update_id, chat_id, texts.NOT_REGISTERED)
            else:
                self.show_spreads(session, chat_id, update_id)

    def on_cancel_button(self, press: _Press, session: Session | None) -> None:
        if press.callback.arg == "buy":  # the pack list or the tiers: close it
            self.sessions.set_state(press.user_id, "idle")
            self.reply(
                press.update_id,
                press.chat_id,
                replies.edit_text(
                    press.chat_id, press.message_id, texts.BUY_CANCELLED, keyboards.main_menu()
                ),
            )
            return
        self.cancel(press.user_id, press.chat_id, press.update_id)

    def on_buy_button(self, press: _Press, session: Session | None) -> None:
        pack = PACKS_BY_ID[press.callback.arg]
        self.reply(
            press.update_id, press.chat_id, replies.invoice(press.chat_id, pack, press.user_id)
        )

    def on_history_button(self, press: _Press, session: Session | None) -> None:
        direction = "older" if press.callback.arg == "o" else "newer"
        self.enqueue_history(
            press.user_id,
            press.chat_id,
            press.callback.arg2,
            direction,
            press.message_id,
            press.update_id,
        )

    def on_open_button(self, press: _Press, session: Session | None) -> None:
        key = update_key("open", press.user_id, press.update_id)
        self.app.sender.act(press.chat_id, "upload_photo")
        self.app.enqueue(
            QUEUE_READINGS,
            "jobs.readings.open_reading",
            press.user_id,
            press.chat_id,
            int(press.callback.arg),
            key,
            key=key,
        )

    def on_card_button(self, press: _Press, session: Session | None) -> None:
        key = update_key("card", press.user_id, press.update_id)
        self.app.sender.act(press.chat_id, "typing")
        self.app.enqueue(
            QUEUE_READINGS,
            "jobs.readings.show_card",
            press.user_id,
            press.chat_id,
            int(press.callback.arg),
            int(press.callback.arg2),
            key,
            key=key,
        )

    def on_language_button(self, press: _Press, session: Session | None) -> None:
        """/language: remember the choice (a job: it writes), answered in the new language."""
        self._enqueue_setting(press, "language", "jobs.credits.set_language", press.callback.arg)

    def on_reversals_button(self, press: _Press, session: Session | None) -> None:
        on = press.callback.arg == "on"
        self._enqueue_setting(press, "settings", "jobs.credits.set_reversals", on)

    def _enqueue_setting(self, press: _Press, kind: str, func: str, value) -> None:
        """A settings button: the job stores ``value`` and edits the message it came from."""
        key = update_key(kind, press.user_id, press.update_id)
        self.app.enqueue(
            QUEUE_PAYMENTS,
            func,
            press.user_id,
            press.chat_id,
            value,
            press.message_id,
            key,
            key=key,
        )

    def on_spread_button(self, press: _Press, session: Session) -> None:
        update_id, chat_id = press.update_id, press.chat_id
        spread = get_spread(press.callback.arg)
        price = spread_price(session.current_tier(), spread.cost)
        balance = ledger.balance(session.user_id)
        if balance < price:  # say so now, not after the question (the worker checks too)
            self.sessions.end_step(press.user_id)
            notice = texts.render(
                texts.SPREAD_TOO_DEAR,
                title=texts.local_spread(spread).title,
                cost=price,
                balance=balance,
            )
            self.reply(
                update_id,
                chat_id,
                replies.edit_text(
                    chat_id, press.message_id, notice, keyboards.not_enough_credits()
                ),
            )
            return
        nonce = new_nonce()  # the seed is sealed now, before the question is asked
        self.sessions.set_state(press.user_id, "awaiting_question", spread=spread.name, nonce=nonce)
        if session.pending_question:  # /reading <question>: the question came first
            taken = self.sessions.take_question(press.user_id, update_id, spread=spread.name)
            if taken is not None:
                self.start_reading(
                    taken,
                    spread.name,
                    session.pending_question,
                    chat_id,
                    update_id,
                    menu_id=press.message_id,
                )
                return
        words = texts.local_spread(spread)
        prompt = texts.render(
            texts.ASK_QUESTION,
            title=words.title,
            cost=price,
            description=words.description,
            limit=QUESTION_LIMIT,
        )
        prompt += "\n\n" + texts.render(texts.SEALED, commitment=seal_of(self.app.settings, nonce))
        self.reply(
            update_id,
            chat_id,
            replies.edit_text(
                chat_id, press.message_id, prompt, keyboards.question_menu(spread.name)
            ),
        )

    def on_no_question_button(self, press: _Press, session: Session) -> None:
        spread = press.callback.arg
        taken = self.sessions.take_question(press.user_id, press.update_id, spread=spread)
        if taken is None:  # tapped twice, or a prompt from an earlier step
            self.say(press.update_id, press.chat_id, texts.STALE_BUTTON)
            return
        self.start_reading(taken, spread, None, press.chat_id, press.update_id)

    # -- subscriptions ---------------------------------------------------------
    def show_subscription(self, telegram_id: int, chat_id: int, update_id: int) -> None:
        """/subscription: the tier, its renewal date and this period's credits, with buttons."""
        try:
            user = users.by_telegram_id(telegram_id)
        except UnknownUser:
            self.say(update_id, chat_id, texts.NOT_REGISTERED)
            return
        status = subscriptions.status(user)
        if status.tier.name == BASIC:
            page = "\n\n".join(
                [
                    texts.render(texts.SUBSCRIPTION_BASIC, balance=status.balance),
                    texts.tier_lines(),
                    texts.render(texts.SUBSCRIPTION_HOW),
                ]
            )
            self.say(update_id, chat_id, page, keyboards.subscription_offers())
            return
        until = texts.day(status.expires_at)
        left = (status.expires_at - dt.datetime.now(dt.UTC)) if status.expires_at else None
        days = max(0, -(-left // dt.timedelta(days=1))) if left is not None else "-"
        renewal = texts.render(
            texts.SUBSCRIPTION_ENDS if status.canceled else texts.SUBSCRIPTION_RENEWS, until=until
        )
        page = texts.render(
            texts.SUBSCRIPTION_ACTIVE,
            tier=texts.tier_title(status.tier),
            renewal=renewal,
            days=days,
            credits=status.period_credits,
            balance=status.balance,
            discount=status.tier.discount_percent,
        )
        self.say(update_id, chat_id, page, keyboards.subscription_manage(status.canceled))

    def on_subscription_button(self, press: _Press, session: Session) -> None:
        """Subscribe to a tier (an invoice link), or cancel / resume renewal (a job)."""
        arg = press.callback.arg
        if arg in ("cancel", "resume"):
            key = update_key("renewal", press.user_id, press.update_id)
            self.app.sender.act(press.chat_id)
            self.app.enqueue(
                QUEUE_PAYMENTS,
                "jobs.subscriptions.set_renewal",
                press.user_id,
                press.chat_id,
                arg == "cancel",
                press.message_id,
                key,
                key=key,
                retry=Retry(max=3, interval=[1, 5, 15]),
            )
            return
        try:  # the database, not the session: a tier may have ended a moment ago
            current = subscriptions.tier_of(users.by_telegram_id(press.user_id))
        except UnknownUser:
            self.say(press.update_id, press.chat_id, texts.NOT_REGISTERED)
            return
        if current.name != BASIC:
            self.say(press.update_id, press.chat_id, texts.ALREADY_SUBSCRIBED)
            return
        tier = TIERS_BY_NAME[arg]
        try:
            link = self.bot.create_invoice_link(
                title=f"TarotBot {texts.tier_title(tier)}",
                description=texts.render(texts.SUBSCRIPTION_INVOICE, credits=tier.monthly_credits),
                payload=subscription_payload(tier, press.user_id),
                provider_token=None,
                currency=CURRENCY,
                prices=[types.LabeledPrice(texts.tier_title(tier), tier.stars)],
                subscription_period=SUBSCRIPTION_PERIOD,
            )
        except (ApiTelegramException, requests.RequestException) as exc:
            log.warning("could not create a subscription link: %s", redact(exc))
            self.say(press.update_id, press.chat_id, texts.SUBSCRIPTION_LINK_FAILED)
            return
        self.say(
            press.update_id,
            press.chat_id,
            texts.render(texts.SUBSCRIPTION_LINK, tier=texts.tier_title(tier), stars=tier.stars),
            keyboards.subscribe_link(link, tier.stars),
        )

    # -- payments ------------------------------------------------------------
    def on_pre_checkout(self, query: types.PreCheckoutQuery) -> None:
        """Answer at once (Telegram waits at most ten seconds): is this our offer?"""
        try:
            check_offer(
                query.invoice_payload, query.currency, query.total_amount, query.from_user.id
            )
        except InvalidPayload as problem:
            self._answer_checkout(
                query,
                ok=False,
                error_message=texts.render(texts.CHECKOUT_REFUSED, problem=gettext(str(problem))),
            )
            return
        self._answer_checkout(query, ok=True)

    def _answer_checkout(self, query: types.PreCheckoutQuery, **answer) -> None:
        """Answer a pre-checkout query; one answered already (a redelivery) is left be."""
        try:
            self.bot.answer_pre_checkout_query(query.id, **answer)
        except ApiTelegramException as exc:
            log.info("could not answer pre-checkout query: %s", redact(exc))

    def on_refund(self, message: types.Message) -> None:
        """Telegram refunded a Stars payment: take its credits back (a job, like payments)."""
        refund = message.refunded_payment
        charge_id = refund.telegram_payment_charge_id
        self._enqueue_money(
            "jobs.credits.record_refund",
            job_id("refund", charge_id),
            message.from_user.id,
            message.chat.id,
            charge_id,
            refund.total_amount,
        )

    def on_payment(self, message: types.Message) -> None:
        payment = message.successful_payment
        charge_id = payment.telegram_payment_charge_id
        if is_subscription(payment.invoice_payload):
            self._enqueue_money(
                "jobs.subscriptions.record_subscription_payment",
                job_id("payment", charge_id),
                message.from_user.id,
                message.chat.id,
                charge_id,
                payment.invoice_payload,
                payment.currency,
                payment.total_amount,
                payment.subscription_expiration_date,
                bool(payment.is_first_recurring),
                message.from_user.username,
                message.from_user.first_name,
                on_failure=Callback("jobs.credits.payment_failed"),
            )
            return
        self._enqueue_money(
            "jobs.credits.record_payment",
            job_id("payment", charge_id),
            message.from_user.id,
            message.chat.id,
            charge_id,
            payment.invoice_payload,
            payment.currency,
            payment.total_amount,
            message.from_user.username,
            message.from_user.first_name,
            on_failure=Callback("jobs.credits.payment_failed"),
        )

    def _enqueue_money(self, func: str, key: str, *args, **options) -> None:
        """A job about Stars that already moved: on the payments queue, retried for ~1.8 h."""
        self.app.enqueue(
            QUEUE_PAYMENTS,
            func,
            *args,
            key=key,
            retry=Retry(max=len(PAYMENT_RETRY), interval=list(PAYMENT_RETRY)),
            **options,
        )
