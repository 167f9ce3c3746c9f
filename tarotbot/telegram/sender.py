"""The one way out to Telegram: every outbound message goes through :class:`Sender`.

Callers describe what to send as a *bundle*: an id of their choosing (derived
from the work that produced it, e.g. the update id, so a retried job reuses
it), a chat and a list of :class:`Outgoing` items. :meth:`Sender.deliver`
sends the items in order and guarantees:

* **Limits.** Before each message it sends or edits (chat actions and
  deletes are not counted by Telegram) it reserves a slot from the shared
  limiter (:mod:`tarotbot.telegram.ratelimit`). A slot at most ``max_wait``
  seconds away is waited for in place; a later one, a 429 (its
  ``retry_after``), a transient failure (5xx, connection error; exponential
  backoff, :data:`MAX_ATTEMPTS` at most) all hand the *remaining* items to
  ``enqueue_later``, which runs :func:`jobs.sends.deliver_bundle` later. No
  process ever sleeps long on Telegram's behalf.
* **Order per chat.** One bundle at a time is delivered to a chat, in the
  order the bundles first reached the sender (a small queue per chat in
  Redis). A bundle that finds another one being sent to the chat right now
  waits in place (up to ``max_wait``: a reading finished while the bot is
  still sending its acknowledgement); one that finds an earlier bundle
  waiting for later reschedules itself behind it. The chat's lock lives
  :data:`LOCK_TTL` seconds and a thread of the sending process refreshes
  it, so a process that dies mid-send holds the chat for seconds only; its
  bundle then gets :data:`STALE_SENDING` seconds to come back (a restarted
  process) before later ones go first. A bundle waiting for a later attempt
  is skipped once it is :data:`STALE_AFTER` seconds overdue, so the chat
  never stays stuck.
* **Never twice.** Before each call the item is marked ``inflight``, and
  after Telegram's answer recorded with its message id (a hash
  ``sent:<bundle_id>``, kept :data:`RECORD_TTL` seconds while the bundle is
  unfinished and :data:`DONE_TTL` after). A bundle delivered again (a
  retried job, a redelivered update, a rescheduled remainder) skips what is
  recorded. An item found ``inflight`` was interrupted by a crash, and
  Telegram may or may not have it: readings send it again (at least once),
  while instant replies (``at_most_once``: acknowledgements, menus) do not,
  and are dropped altogether when later messages already went out to the
  chat.
* **Never lost.** An item Telegram refuses for good is logged and recorded as
  failed, the rest of the bundle still goes out. Items are dropped only when
  the chat is unreachable (403: the user blocked the bot; 400 "chat not
  found") or after :data:`MAX_ATTEMPTS` transient failures in a row, each with
  a log line. A dropped bundle (any but an instant reply dropped after
  transient failures) is reported to ``on_dropped(chat_id, bundle_id,
  unreachable)``; in production (:func:`report_drop`) a job then refunds a
  reading the bundle was delivering and, for an unreachable chat, marks the
  person inactive.

The parts live beside it: the items and how texts are split
(:mod:`~tarotbot.telegram.outgoing`), whose turn it is in a chat and the
delivery records (:mod:`~tarotbot.telegram.chat_turns`), and how a remainder
comes back later (:mod:`~tarotbot.telegram.later`).

Long texts and captions are split by :func:`~tarotbot.telegram.outgoing.expand`
(a keyboard goes on the last piece); pictures travel by ``photo_key``, and the
bytes a job hands to :meth:`Sender.deliver` (``photos``) go to Redis only when
their item has to wait for a later attempt.

The bot token never appears in a payload, a Redis key, a log line or an
exception raised here; error descriptions are passed through :func:`redact`.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import redis
import telebot
from telebot import types
from telebot.apihelper import ApiTelegramException

from tarotbot import metrics
from tarotbot.redaction import describe, redact
from tarotbot.tarot.telegram_text import strip_html
from tarotbot.telegram.chat_turns import (
    DEFAULT_MAX_WAIT,
    DONE_TTL,  # noqa: F401 (jobs.readings takes it from here)
    INFLIGHT,
    LOCK_TTL,
    POLL,
    RECORD_TTL,
    STALE_AFTER,
    ChatTurns,
    Done,
    LockKeeper,
    failures_key,
    sent_key,
)
from tarotbot.telegram.later import EnqueueLater, RQEnqueueLater
from tarotbot.telegram.outgoing import (
    CREATING_KINDS,
    EDIT_KINDS,
    FILE_KINDS,
    UNLIMITED_KINDS,
    Outgoing,
    expand,
    store_photo,
)
from tarotbot.telegram.ratelimit import Limiter, bot_id_from_token, retry_after

log = logging.getLogger("tarotbot.sender")

MAX_ATTEMPTS = 5  # transient failures in a row before a bundle is given up
BACKOFF_BASE = 2.0  # seconds before the first retry after a transient failure; doubles
BACKOFF_MAX = 60.0  # seconds, cap on that backoff
BUSY_POLL = 0.02  # seconds before looking again at a chat another bundle is being sent to
BUSY_POLL_MAX = 0.32  # ... doubling up to this
DEFAULT_RETRY_AFTER = 5  # seconds, when a 429 carries no retry_after
BUNDLE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
FAILED = "failed"  # record value of an item Telegram refused for good


@dataclass
class DeliveryResult:
    """What one :meth:`Sender.deliver` call did, by item index (position in the bundle).

    ``message_ids`` maps the index of every item that created a message
    (text, photo, invoice) to its Telegram ``message_id``, including items an
    earlier attempt delivered; :attr:`created` lists them in order.
    ``rescheduled`` items were handed to ``enqueue_later`` to go out in
    ``delay`` seconds; ``dropped`` items will not be sent (``reason`` says why).
    """

    bundle_id: str
    chat_id: int
    sent: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    rescheduled: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    message_ids: dict[int, int] = field(default_factory=dict)
    paid: list[int] = field(default_factory=list)  # sent as paid broadcasts
    delay: float | None = None
    reason: str | None = None
    unreachable: bool = False  # dropped because the chat is unreachable (403, chat not found)

    @property
    def complete(self) -> bool:
        """True when nothing of the bundle is left for later."""
        return not self.rescheduled

    @property
    def created(self) -> list[int]:
        """Message ids of the messages this bundle created, in bundle order."""
        return [self.message_ids[i] for i in sorted(self.message_ids)]

    def to_dict(self) -> dict[str, Any]:
        """JSON data (a job's result)."""
        data = asdict(self)
        data["message_ids"] = {str(k): v for k, v in self.message_ids.items()}
        return data


class _Reschedule(Exception):
    """Internal: stop here and hand the remaining items to ``enqueue_later``."""

    def __init__(self, delay: float, reason: str):
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class _Drop(Exception):
    """Internal: the remaining items cannot be delivered."""

    def __init__(self, reason: str, unreachable: bool = False):
        super().__init__(reason)
        self.unreachable = unreachable


@dataclass
class _Run:
    """The context of one :meth:`Sender.deliver` call."""

    bundle_id: str
    chat_id: int
    token: str  # identifies this call's hold on the chat lock (random, not the bot token)
    max_wait: float
    result: DeliveryResult
    photos: dict[str, bytes] = field(default_factory=dict)  # pictures in hand, by photo_key
    wait: float = 0.0  # when the chat was not ours: seconds until we ask again
    at_most_once: bool = False  # an item whose call a crash interrupted is not sent again
    records: dict[int, str] = field(default_factory=dict)  # read when the chat was taken
    done: Done = None  # an item Telegram answered, recorded with the next Redis call
    unpaid: bool = False  # Telegram refused a paid broadcast: the rest waits its turn
    since: float | None = None  # unix time the person began to wait for these messages


def _markup(markup: dict[str, Any] | None) -> str | None:
    """A keyboard as the JSON string the Bot API expects (pyTelegramBotAPI passes it on)."""
    return None if markup is None else json.dumps(markup, ensure_ascii=False)


class Sender:
    """Delivers bundles of :class:`Outgoing` items (see the module doc for the guarantees).

    ``bot``: a pyTelegramBotAPI ``TeleBot`` (``threaded=False`` suffices).
    ``conn``: Redis (delivery records, chat queues, photos). ``limiter``: the
    shared rate limiter. ``enqueue_later(delay_seconds, bundle_id, chat_id,
    items)`` must arrange for ``deliver(bundle_id, chat_id, items)`` to run
    again after the delay (:class:`RQEnqueueLater` in production). ``sleep``
    is injectable for tests. Thread-safe: one sender serves a whole process.
    """

    def __init__(
        self,
        bot: telebot.TeleBot,
        conn: redis.Redis,
        limiter: Limiter,
        enqueue_later: EnqueueLater,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base: float = BACKOFF_BASE,
        backoff_max: float = BACKOFF_MAX,
        lock_ttl: float = LOCK_TTL,
        stale_after: float = STALE_AFTER,
        sleep: Callable[[float], None] = time.sleep,
        on_dropped: Callable[[int, str, bool], object] | None = None,
        paid_after: float | None = None,
    ):
        self.bot = bot
        self.redis = conn
        self.limiter = limiter
        self.enqueue_later = enqueue_later
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        self.bot_id = bot_id_from_token(bot.token)
        self._turns = ChatTurns(conn, self.bot_id, lock_ttl, stale_after)
        self._keeper = LockKeeper(self._turns)
        self.on_dropped = on_dropped
        self.paid_after = paid_after

    # -- planning -------------------------------------------------------------

    @staticmethod
    def plan(chat_id: int, items: Iterable[Outgoing]) -> list[Outgoing]:
        """The bundle as numbered Telegram calls (long texts split, ``index`` set).

        Items that already carry indexes (a rescheduled remainder) are kept as
        they are. The split is deterministic, so a bundle retried with the
        same items gets the same numbering and its delivered items are
        recognised.
        """
        items = list(items)
        for item in items:
            if not isinstance(item, Outgoing):
                raise TypeError(f"expected Outgoing items, got {type(item).__name__}")
            if item.chat_id != chat_id:
                raise ValueError(f"an item for chat {item.chat_id} in a bundle for chat {chat_id}")
        numbered = [item.index is not None for item in items]
        if all(numbered):
            return items
        if any(numbered):
            raise ValueError("a bundle mixes planned (indexed) and new items")
        planned: list[Outgoing] = []
        for item in items:
            for piece in expand(item):
                planned.append(replace(piece, index=len(planned)))
        return planned

    # -- delivery -------------------------------------------------------------

    def act(self, chat_id: int, action: str = "typing") -> bool:
        """Show ``action`` ("typing", "upload_photo", ...) in the chat now; False if it failed.

        A chat action creates no message, costs no rate-limit slot and lasts
        until the next message (or 5 s), so it takes no turn in the chat's
        queue and leaves no delivery record: sent once, at most, and a failure
        costs nothing but the indicator. Send it *before* the work whose
        messages end it is handed on, so it never shows after them.
        """
        try:
            self.bot.send_chat_action(int(chat_id), action)
        except Exception as exc:
            metrics.count_send("chat_action", "failed")
            log.info("chat %s: chat action not shown (%s)", chat_id, describe(exc, self.bot.token))
            return False
        metrics.count_send("chat_action", "ok")
        return True

    def deliver(
        self,
        bundle_id: str,
        chat_id: int,
        items: list[Outgoing],
        max_wait: float = DEFAULT_MAX_WAIT,
        photos: dict[str, bytes] | None = None,
        at_most_once: bool = False,
        since: float | None = None,
    ) -> DeliveryResult:
        """Send ``items`` to ``chat_id`` in order; reschedule what cannot go out soon.

        ``max_wait``: the longest this call sleeps for one rate-limit slot,
        or for the chat while another bundle is being sent to it (seconds).
        ``photos``: pictures by ``photo_key`` that need not be
        fetched from Redis; one whose item is rescheduled is stored there
        first (:func:`store_photo`). ``at_most_once``: for instant replies (an
        acknowledgement, a menu), better lost in a crash than sent twice: an
        item whose call a crash interrupted is not sent again, and a bundle
        that comes back after later messages went out to the chat is
        dropped. Otherwise (readings) such an item is sent again. ``since``:
        when the person began to wait for these messages (unix time, e.g. when
        their reading was queued); with paid broadcasts (``paid_after``) that
        wait counts towards the delay from which a message goes paid. Returns
        what happened, including the message ids created.
        Raises only for malformed input or when Redis or ``enqueue_later``
        fail; then nothing is lost: a retry of the caller's job resumes after
        the recorded items.
        """
        if not BUNDLE_ID_RE.match(str(bundle_id)):
            raise ValueError("bundle_id must be 1-200 characters of [A-Za-z0-9_.:-]")
        chat_id = int(chat_id)
        result = DeliveryResult(bundle_id, chat_id)
        plan = self.plan(chat_id, items)
        if not plan:
            return result
        run = _Run(
            bundle_id,
            chat_id,
            secrets.token_hex(8),
            max(0.0, max_wait),
            result,
            dict(photos or {}),
            at_most_once=at_most_once,
            since=since,
        )
        taken = self._take_turn(run, [item.index for item in plan])
        if taken is None:  # an instant reply overtaken by later messages: pointless now
            self._turns.leave(chat_id, bundle_id, run.token, None)
            result.dropped.extend(item.index for item in plan)
            result.reason = "later messages already went out to the chat"
            log.info("chat %s: dropping bundle %s: %s", chat_id, bundle_id, result.reason)
            return result
        if not taken:
            self._hand_over(run, plan, run.wait, "waiting for earlier messages to this chat")
            return result
        comes_back: float | None = POLL  # if we fail out, keep the bundle's place in the queue
        self._keeper.hold(chat_id, bundle_id, run.token)
        try:
            comes_back = self._send_all(run, plan)
        finally:
            self._keeper.release(run.token)
            self._turns.leave(chat_id, bundle_id, run.token, comes_back, done=run.done)
        return result

    def _take_turn(self, run: _Run, indexes: list[int]) -> bool | None:
        """Claim the chat; while another bundle is being sent to it, wait up to ``max_wait``.

        False: not our turn soon enough; ``run.wait`` says when to come back.
        None: an at-most-once bundle that lost its place to later ones (drop it).
        """
        deadline = time.monotonic() + run.max_wait
        busy_pause = BUSY_POLL
        while True:
            claim = self._turns.claim(run.chat_id, run.bundle_id, run.token, indexes)
            for other in claim.skipped:
                log.warning(
                    "chat %s: bundle %s is long overdue; sending later ones", run.chat_id, other
                )
            if claim.returning and run.at_most_once:
                return None
            if claim.ok:
                run.records = claim.records
                return True
            left = deadline - time.monotonic()
            if left <= 0 or (not claim.busy and claim.wait > left):
                run.wait = claim.wait
                return False
            self._sleep(min(busy_pause, left) if claim.busy else claim.wait)
            if claim.busy:
                busy_pause = min(busy_pause * 2, BUSY_POLL_MAX)  # a long bundle: look less often

    def _send_all(self, run: _Run, plan: list[Outgoing]) -> float | None:
        """Send what is not yet recorded; return the reschedule delay, or None when done."""
        result = run.result
        done = run.records
        pending: list[Outgoing] = []
        for item in plan:
            value = done.get(item.index)
            if value is None:
                pending.append(item)
                continue
            if value == INFLIGHT and not run.at_most_once:
                pending.append(item)  # its call may not have reached Telegram: send it again
                continue
            if value == INFLIGHT:
                log.warning(
                    "chat %s: item %s of bundle %s was being sent when its sender stopped; "
                    "not sending it again",
                    run.chat_id,
                    item.index,
                    run.bundle_id,
                )
            result.skipped.append(item.index)
            if item.kind in CREATING_KINDS and value.isdigit() and int(value) > 0:
                result.message_ids[item.index] = int(value)
        position = 0
        while position < len(pending):
            item = pending[position]
            try:
                outcome = self._send_one(run, item)
            except _Reschedule as stop:
                self._hand_over(run, pending[position:], stop.delay, stop.reason)
                return stop.delay
            except _Drop as drop:
                for dropped in pending[position:]:
                    metrics.count_send(dropped.kind, "dropped")
                result.dropped.extend(i.index for i in pending[position:])
                result.reason = str(drop)
                result.unreachable = drop.unreachable
                log.info(
                    "chat %s: dropping %d item(s) of bundle %s: %s",
                    run.chat_id,
                    len(pending) - position,
                    run.bundle_id,
                    drop,
                )
                self._flush(run)
                self.redis.delete(failures_key(run.bundle_id))
                if drop.unreachable or not run.at_most_once:
                    self._report_drop(run, drop.unreachable)
                return None
            if isinstance(outcome, Outgoing):  # send this instead (plain-text fallback)
                pending[position] = outcome
                continue
            # Recorded only now, after Telegram's answer, with the next Redis call (the
            # next item's, or leaving the chat); until then the record says "inflight"
            # (see the module doc, "Never twice").
            run.done = (item.index, outcome)
            if item.kind in FILE_KINDS and item.photo_key not in run.photos:
                self.redis.delete(item.photo_key)  # a picture stored for a later attempt: used
            metrics.count_send(item.kind, "failed" if outcome == FAILED else "ok")
            if outcome == FAILED:
                result.failed.append(item.index)
            else:
                result.sent.append(item.index)
                if item.kind in CREATING_KINDS and int(outcome) > 0:
                    result.message_ids[item.index] = int(outcome)
            position += 1
        return None

    def _flush(self, run: _Run) -> None:
        """Write the record of the item Telegram answered last, if not yet written."""
        if run.done is not None:
            index, value = run.done
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(sent_key(run.bundle_id), str(index), value)
                pipe.expire(sent_key(run.bundle_id), RECORD_TTL)
                pipe.delete(failures_key(run.bundle_id))
                pipe.execute()
            run.done = None

    def _report_drop(self, run: _Run, unreachable: bool) -> None:
        """Tell ``on_dropped`` a bundle was given up; never fail the delivery over it."""
        if self.on_dropped is None:
            return
        try:
            self.on_dropped(run.chat_id, run.bundle_id, unreachable)
        except Exception as exc:
            log.warning(
                "chat %s: could not report bundle %s as undeliverable (%s)",
                run.chat_id,
                run.bundle_id,
                type(exc).__name__,
            )

    def _hand_over(self, run: _Run, items: list[Outgoing], delay: float, reason: str) -> None:
        """Give ``items`` to ``enqueue_later`` and note it in the result."""
        self._flush(run)  # what went out is on record before the rest is handed on
        delay = max(0.0, float(delay))
        for item in items:  # the later attempt finds its picture in Redis
            if item.photo_key in run.photos:
                store_photo(self.redis, item.photo_key, run.photos.pop(item.photo_key))
        if run.at_most_once:
            self.enqueue_later(delay, run.bundle_id, run.chat_id, list(items), at_most_once=True)
        else:
            self.enqueue_later(delay, run.bundle_id, run.chat_id, list(items))
        run.result.rescheduled.extend(item.index for item in items)
        for item in items:
            metrics.count_send(item.kind, "rescheduled")
        run.result.delay = delay
        run.result.reason = reason
        log.info(
            "chat %s: %d item(s) of bundle %s rescheduled in %.2f s (%s)",
            run.chat_id,
            len(items),
            run.bundle_id,
            delay,
            reason,
        )

    def _send_one(self, run: _Run, item: Outgoing) -> str | Outgoing:
        """One Telegram call for ``item`` within the limits.

        Returns the record value (a message id, ``"0"`` or :data:`FAILED`) or a
        replacement item to send instead; raises :class:`_Reschedule` or
        :class:`_Drop`.
        """
        photo = None
        if item.kind in FILE_KINDS:
            photo = run.photos.get(item.photo_key) or self.redis.get(item.photo_key)
            if photo is None:
                return self._photo_missing(item)
        paid = False
        if item.kind not in UNLIMITED_KINDS:
            paid_after = None
            if self.paid_after is not None and item.kind in CREATING_KINDS and not run.unpaid:
                paid_after = self.paid_after
            waited = 0.0 if run.since is None else max(0.0, time.time() - run.since)
            slot = self.limiter.reserve_slot(
                run.chat_id, max_delay=run.max_wait, paid_after=paid_after, waited=waited
            )
            paid = slot.paid
            if not slot.reserved:
                raise _Reschedule(slot.delay, "rate limit")
            if slot.delay > 0:
                self._flush(run)  # never wait with a delivered item off the record
                self._sleep(slot.delay)
        done, run.done = run.done, None  # recorded by this call, whatever it answers
        if not self._turns.keep(run.chat_id, run.bundle_id, run.token, item.index, done):
            raise _Reschedule(POLL, "lost the chat lock (a call outlasted its TTL)")
        try:
            outcome = self._call(item, photo, paid)
        except Exception as exc:
            # the process is alive and knows the call failed: not "inflight" any more
            self.redis.hdel(sent_key(run.bundle_id), str(item.index))
            if isinstance(exc, ApiTelegramException):
                if paid and int(exc.error_code) == 400:
                    # e.g. too few Stars on the bot's balance: this and the rest go unpaid
                    log.warning(
                        "chat %s: Telegram refused a paid broadcast (%s); sending it unpaid",
                        run.chat_id,
                        redact(exc.description, self.bot.token),
                    )
                    run.unpaid = True
                    return item
                return self._refused(run, item, exc)
            # connection errors, timeouts, answers that are not JSON
            raise self._transient(run, item, describe(exc, self.bot.token)) from None
        if paid:
            metrics.count_paid_broadcast()
            run.result.paid.append(item.index)
        return outcome

    def _photo_missing(self, item: Outgoing) -> str | Outgoing:
        log.error(
            "chat %s: picture %s has expired or was never stored; sending its caption alone",
            item.chat_id,
            item.photo_key,
        )
        if item.text and item.text.strip():
            return replace(item, kind="text", photo_key=None, file_name=None)
        return FAILED

    def _call(self, item: Outgoing, photo: bytes | None, paid: bool = False) -> str:
        """Make the Bot API call; return the record value (message id or "0").

        ``paid``: send it as a paid broadcast (``allow_paid_broadcast``).
        """
        bot = self.bot
        chat_id = item.chat_id
        extra = {"allow_paid_broadcast": True} if paid else {}
        markup = _markup(item.reply_markup)
        parse_mode = "HTML" if item.html else ""  # "": no parse mode (pyTelegramBotAPI omits it)
        if item.kind == "text":
            message = bot.send_message(
                chat_id, item.text, parse_mode=parse_mode, reply_markup=markup, **extra
            )
            return str(message.message_id)
        if item.kind == "photo":
            message = bot.send_photo(
                chat_id,
                # an InputFile, not bytes: pyTelegramBotAPI formats its arguments into a
                # debug line before every call, and bytes would be printed whole
                types.InputFile(io.BytesIO(photo), file_name=item.file_name or "picture"),
                caption=item.text or None,
                parse_mode=parse_mode if item.text else None,
                reply_markup=markup,
                **extra,
            )
            return str(message.message_id)
        if item.kind == "document":
            message = bot.send_document(
                chat_id,
                types.InputFile(io.BytesIO(photo), file_name=item.file_name),
                caption=item.text or None,
                parse_mode=parse_mode if item.text else None,
                reply_markup=markup,
                **extra,
            )
            return str(message.message_id)
        if item.kind == "edit_text":
            bot.edit_message_text(
                item.text,
                chat_id=chat_id,
                message_id=item.message_id,
                parse_mode=parse_mode,
                reply_markup=markup,
            )
            return str(item.message_id)
        if item.kind == "edit_markup":
            bot.edit_message_reply_markup(chat_id, item.message_id, reply_markup=markup)
            return str(item.message_id)
        if item.kind == "delete":
            bot.delete_message(chat_id, item.message_id)
            return "0"
        if item.kind == "chat_action":
            bot.send_chat_action(chat_id, item.action)
            return "0"
        if item.kind == "invoice":
            message = bot.send_invoice(
                chat_id,
                title=item.title,
                description=item.description,
                invoice_payload=item.payload,
                provider_token=None,  # Telegram Stars (XTR) need none
                currency=item.currency,
                prices=[
                    types.LabeledPrice(p["label"], int(p["amount"])) for p in item.prices or ()
                ],
                reply_markup=markup,
                **extra,
            )
            return str(message.message_id)
        raise ValueError(f"unknown kind {item.kind!r}")  # unreachable: checked on creation

    def _refused(self, run: _Run, item: Outgoing, exc: ApiTelegramException) -> str | Outgoing:
        """What a Telegram error answer means for ``item`` (see the module doc)."""
        code = int(exc.error_code)
        description = redact(exc.description, self.bot.token)
        lowered = description.lower()
        if code == 429:
            metrics.count_429()
            delay = retry_after(exc, DEFAULT_RETRY_AFTER)
            self.limiter.hold(run.chat_id, delay)
            raise _Reschedule(delay, f"429 from Telegram, retry after {delay:g} s")
        if code == 403 or (
            code == 400 and ("chat not found" in lowered or "user not found" in lowered)
        ):
            raise _Drop(f"{code} {description}", unreachable=True)
        if code >= 500:
            raise self._transient(run, item, f"{code} {description}")
        if item.kind in EDIT_KINDS and "message is not modified" in lowered:
            return str(item.message_id)
        if item.kind == "delete" and "message to delete not found" in lowered:
            return "0"
        if "can't parse entities" in lowered and item.html and strip_html(item.text or "").strip():
            log.warning(
                "chat %s: Telegram cannot parse item %s of bundle %s as HTML (%s); "
                "sending it as plain text",
                run.chat_id,
                item.index,
                run.bundle_id,
                description,
            )
            return replace(item, text=strip_html(item.text), html=False)
        log.error(
            "chat %s: Telegram refused item %s (%s) of bundle %s: %s %s; skipping it",
            run.chat_id,
            item.index,
            item.kind,
            run.bundle_id,
            code,
            description,
        )
        return FAILED

    def _transient(self, run: _Run, item: Outgoing, what: str) -> Exception:
        """A reschedule with exponential backoff, or a drop once the attempts are used up."""
        key = failures_key(run.bundle_id)
        failures = int(self.redis.incr(key))
        self.redis.expire(key, RECORD_TTL)
        if failures >= self.max_attempts:
            log.error(
                "chat %s: giving up on bundle %s after %d failed attempts in a row (last: %s)",
                run.chat_id,
                run.bundle_id,
                failures,
                what,
            )
            return _Drop(f"gave up after {failures} attempts: {what}")
        delay = min(self.backoff_max, self.backoff_base * 2 ** (failures - 1))
        log.warning(
            "chat %s: attempt %d/%d at item %s of bundle %s failed (%s); retrying in %.0f s",
            run.chat_id,
            failures,
            self.max_attempts,
            item.index,
            run.bundle_id,
            what,
            delay,
        )
        return _Reschedule(delay, f"transient failure: {what}")


def sender_for(app) -> Sender:
    """The sender of a process's :class:`~tarotbot.app.App`: its Redis, the shared limiter, RQ.

    The edge (the bot, the web process, the jobs) hands this to the app as
    its sender factory; services below never build a Telegram client.
    """
    from tarotbot.telegram.client import make_bot
    from tarotbot.telegram.ratelimit import NoLimiter, RedisLimiter

    bot = make_bot(app.settings, threaded=False)
    if app.settings.rate_limits:
        limiter = RedisLimiter(app.redis, bot_id=bot_id_from_token(bot.token))
    else:
        limiter = NoLimiter()
    settings = app.settings
    return Sender(
        bot,
        app.redis,
        limiter,
        RQEnqueueLater(app.redis),
        on_dropped=report_drop(app),
        paid_after=settings.paid_broadcast_after if settings.paid_broadcast else None,
    )


def report_drop(app) -> Callable[[int, str, bool], object]:
    """An ``on_dropped`` that hands a given-up bundle to ``jobs.credits.bundle_dropped``.

    On the payments queue, once per bundle (the job id derives from it): it
    refunds a reading the bundle was delivering (the README's promise for
    undeliverable readings) and marks a person who blocked the bot inactive.
    """
    from tarotbot.queue import QUEUE_PAYMENTS, job_id

    def enqueue(chat_id: int, bundle_id: str, unreachable: bool) -> None:
        app.enqueue(
            QUEUE_PAYMENTS,
            "jobs.credits.bundle_dropped",
            chat_id,
            bundle_id,
            unreachable,
            key=job_id("dropped", bundle_id),
        )

    return enqueue
