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
  a log line.

Long texts are split with :func:`~tarotbot.tarot.telegram_text.split_html`
into messages of at most 4096 characters; a photo caption over 1024 is cut at
a paragraph boundary and the rest follows as text. A keyboard always goes on
the last message of the split. Photos travel by reference: job payloads
carry only a ``photo_key``, and the picture lives in Redis under it
(:func:`store_photo`). The job that made a picture passes the bytes to
:meth:`Sender.deliver` (``photos``), which sends them straight away and
stores them in Redis only if the item has to wait for a later attempt, so
the usual path moves no picture through Redis.

The bot token never appears in a payload, a Redis key, a log line or an
exception raised here; error descriptions are passed through :func:`redact`.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import timedelta
from typing import Any

import redis
import telebot
from telebot import types
from telebot.apihelper import ApiTelegramException

from tarotbot import metrics
from tarotbot.queue import QUEUE_SENDS, job_id
from tarotbot.redaction import redact
from tarotbot.tarot.telegram_text import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    split_html,
    strip_html,
    telegram_length,
)
from tarotbot.telegram.ratelimit import Limiter, bot_id_from_token

__all__ = [
    "KINDS",
    "DeliveryResult",
    "EnqueueLater",
    "Outgoing",
    "RQEnqueueLater",
    "Sender",
    "TimerEnqueueLater",
    "redact",
    "store_photo",
]

log = logging.getLogger("tarotbot.sender")

KINDS = ("text", "photo", "edit_text", "edit_markup", "delete", "chat_action", "invoice")
CREATING_KINDS = frozenset({"text", "photo", "invoice"})  # kinds that create a message
EDIT_KINDS = frozenset({"edit_text", "edit_markup"})
# Calls Telegram does not count as messages for its flood limits: they take no slot.
UNLIMITED_KINDS = frozenset({"chat_action", "delete"})

DEFAULT_MAX_WAIT = 1.5  # seconds a deliver() call may sleep for one slot before rescheduling
RECORD_TTL = 3_600  # seconds the records of an unfinished bundle (and its stored picture) live
DONE_TTL = 900  # seconds a finished bundle's records live: a crashed job's retry or a
# redelivered update finds them (idempotency for longer lives in PostgreSQL)
MAX_ATTEMPTS = 5  # transient failures in a row before a bundle is given up
BACKOFF_BASE = 2.0  # seconds before the first retry after a transient failure; doubles
BACKOFF_MAX = 60.0  # seconds, cap on that backoff
LOCK_TTL = 3.0  # seconds a chat stays locked by a sender that stopped refreshing (crash)
STALE_AFTER = 60.0  # seconds past its due time after which a waiting bundle is skipped
STALE_SENDING = 3.0  # ... and a bundle whose sender died mid-send (its lock expired)
POLL = 1.0  # seconds a bundle waits before asking again whether its turn has come
BUSY_POLL = 0.02  # seconds before looking again at a chat another bundle is being sent to
BUSY_POLL_MAX = 0.32  # ... doubling up to this
DEFAULT_RETRY_AFTER = 5  # seconds, when a 429 carries no retry_after
BUNDLE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
SEND_JOB_RESULT_TTL = 30  # seconds a finished send job's record stays (its records tell more)
FAILED = "failed"  # record value of an item Telegram refused for good
INFLIGHT = "inflight"  # record value while an item's call is under way


def _describe(exc: BaseException, token: str | None = None) -> str:
    """A one-line, token-free description of ``exc`` for logs and results."""
    text = " ".join(redact(exc, token).split())
    return f"{type(exc).__name__}: {text[:300]}"


# --------------------------------------------------------------------------- items


@dataclass(frozen=True)
class Outgoing:
    """One Telegram call, described as JSON-friendly data (it travels in RQ job payloads).

    ``kind`` is one of :data:`KINDS`:

    * ``text``: ``text`` (Telegram HTML), optional ``reply_markup``;
    * ``photo``: ``photo_key`` (a Redis key holding the picture, see
      :func:`store_photo`, or a key of the ``photos`` given to
      :meth:`Sender.deliver`), optional caption in ``text`` and ``reply_markup``;
    * ``edit_text``: ``message_id``, ``text``, optional ``reply_markup``;
    * ``edit_markup``: ``message_id``, ``reply_markup`` (None removes the keyboard);
    * ``delete``: ``message_id``;
    * ``chat_action``: ``action`` (``typing``, ``upload_photo``, ...);
    * ``invoice``: ``title``, ``description``, ``payload``, ``currency``
      (``XTR``: Telegram Stars), ``prices`` as ``[{"label", "amount"}]``.

    ``reply_markup`` is a keyboard in Bot API JSON form (a dict).
    ``html=False`` sends ``text`` without parse mode (the sender's fallback
    when Telegram cannot parse the HTML). ``index`` is the item's position in
    its bundle, assigned by the sender; leave it None.
    """

    kind: str
    chat_id: int
    text: str | None = None
    reply_markup: dict[str, Any] | None = None
    photo_key: str | None = None
    message_id: int | None = None
    action: str | None = None
    title: str | None = None
    description: str | None = None
    payload: str | None = None
    currency: str = "XTR"
    prices: list[dict[str, Any]] | None = None
    html: bool = True
    index: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if not isinstance(self.chat_id, int) or isinstance(self.chat_id, bool):
            raise ValueError("chat_id must be an int")
        if self.kind in ("text", "edit_text") and not (self.text and self.text.strip()):
            raise ValueError(f"a {self.kind} item needs a non-empty text")
        if self.kind == "photo" and not self.photo_key:
            raise ValueError("a photo item needs a photo_key (see store_photo)")
        if self.kind in ("edit_text", "edit_markup", "delete") and self.message_id is None:
            raise ValueError(f"a {self.kind} item needs the message_id to act on")
        if self.kind == "chat_action" and not self.action:
            raise ValueError("a chat_action item needs an action, e.g. 'typing'")
        if self.kind == "invoice":
            self._check_invoice()
        if self.reply_markup is not None and not isinstance(self.reply_markup, dict):
            raise ValueError("reply_markup must be a dict in Bot API JSON form")

    def _check_invoice(self) -> None:
        if not self.title or not 1 <= len(self.title) <= 32:
            raise ValueError("an invoice title must be 1-32 characters")
        if not self.description or not 1 <= len(self.description) <= 255:
            raise ValueError("an invoice description must be 1-255 characters")
        if not self.payload or not 1 <= len(self.payload.encode()) <= 128:
            raise ValueError("an invoice payload must be 1-128 bytes")
        if not self.prices or any(
            not isinstance(p, dict) or "label" not in p or not isinstance(p.get("amount"), int)
            for p in self.prices
        ):
            raise ValueError('invoice prices must be [{"label": str, "amount": int}, ...]')

    # -- JSON -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (None fields left out) for a job payload."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outgoing:
        """The item back from :meth:`to_dict` (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    # -- builders -------------------------------------------------------------

    @classmethod
    def message(cls, chat_id: int, text: str, reply_markup: dict | None = None) -> Outgoing:
        return cls("text", chat_id, text=text, reply_markup=reply_markup)

    @classmethod
    def photo(
        cls, chat_id: int, photo_key: str, caption: str | None = None, reply_markup=None
    ) -> Outgoing:
        return cls("photo", chat_id, photo_key=photo_key, text=caption, reply_markup=reply_markup)

    @classmethod
    def edit_text(
        cls, chat_id: int, message_id: int, text: str, reply_markup: dict | None = None
    ) -> Outgoing:
        return cls(
            "edit_text", chat_id, message_id=message_id, text=text, reply_markup=reply_markup
        )

    @classmethod
    def edit_markup(cls, chat_id: int, message_id: int, reply_markup: dict | None) -> Outgoing:
        return cls("edit_markup", chat_id, message_id=message_id, reply_markup=reply_markup)

    @classmethod
    def delete(cls, chat_id: int, message_id: int) -> Outgoing:
        return cls("delete", chat_id, message_id=message_id)

    @classmethod
    def chat_action(cls, chat_id: int, action: str = "typing") -> Outgoing:
        return cls("chat_action", chat_id, action=action)

    @classmethod
    def invoice(
        cls,
        chat_id: int,
        title: str,
        description: str,
        payload: str,
        prices: list[dict[str, Any]],
        currency: str = "XTR",
        reply_markup: dict | None = None,
    ) -> Outgoing:
        return cls(
            "invoice",
            chat_id,
            title=title,
            description=description,
            payload=payload,
            prices=prices,
            currency=currency,
            reply_markup=reply_markup,
        )


def store_photo(conn: redis.Redis, key: str, image: bytes, ttl: int = RECORD_TTL) -> str:
    """Keep a picture (JPEG or PNG bytes) in Redis under ``key`` for ``ttl`` s; return the key.

    Items refer to it by ``photo_key``: image bytes never go into a job payload.
    """
    if not isinstance(image, bytes | bytearray) or not image:
        raise ValueError("image must be non-empty bytes")
    conn.set(key, bytes(image), ex=int(ttl))
    return key


def _split_text(text: str, limit: int, as_html: bool) -> list[str]:
    """``text`` as pieces of at most ``limit`` characters (split only when needed)."""
    if telegram_length(text) <= limit:
        return [text]
    if as_html:
        return list(split_html(text, limit))
    # Plain text: split the escaped form, then unescape (which never makes a piece longer).
    return [html.unescape(p) for p in split_html(html.escape(text, quote=False), limit)]


def expand(item: Outgoing) -> list[Outgoing]:
    """One item as the Telegram calls it takes: long texts and captions split.

    The keyboard goes on the last piece. An edit cannot be split: a text over
    the limit keeps its first message-sized piece (logged).
    """
    if item.kind == "text":
        pieces = _split_text(item.text or "", MESSAGE_LIMIT, item.html)
        return [
            replace(item, text=p, reply_markup=item.reply_markup if i == len(pieces) - 1 else None)
            for i, p in enumerate(pieces)
        ]
    if item.kind == "photo" and item.text and telegram_length(item.text) > CAPTION_LIMIT:
        head, *rest = _split_text(item.text, CAPTION_LIMIT, item.html)
        tail = _split_text("\n\n".join(rest), MESSAGE_LIMIT, item.html)
        texts = [Outgoing("text", item.chat_id, text=t, html=item.html) for t in tail if t.strip()]
        if not texts:
            return [item]
        texts[-1] = replace(texts[-1], reply_markup=item.reply_markup)
        return [replace(item, text=head, reply_markup=None), *texts]
    if item.kind == "edit_text" and telegram_length(item.text or "") > MESSAGE_LIMIT:
        log.warning(
            "edit of message %s in chat %s is over %d characters; keeping the first part",
            item.message_id,
            item.chat_id,
            MESSAGE_LIMIT,
        )
        return [replace(item, text=_split_text(item.text or "", MESSAGE_LIMIT, item.html)[0])]
    return [item]


# --------------------------------------------------------------------------- results


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
    delay: float | None = None
    reason: str | None = None

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


EnqueueLater = Callable[[float, str, int, list[Outgoing]], Any]


# --------------------------------------------------------------------------- chat queue
#
# Per chat and bot: a sorted set of pending bundle ids (score: arrival ticket),
# a hash bundle id -> the unix time it expects to act next ("due"), a ticket
# counter and a lock held while a bundle is being sent. Times come from Redis.

_CLAIM_LUA = """
-- KEYS: queue, due, ticket, lock.
-- ARGV: bundle, token, lock_ttl_ms, stale_s, poll_s, keep_s, stale_sending_s
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local bundle = ARGV[1]
local stale_after = tonumber(ARGV[4])
local poll = tonumber(ARGV[5])
local keep = tonumber(ARGV[6])
local stale_sending = tonumber(ARGV[7])
local returning = 0  -- this bundle lost its place earlier (skipped as stale) and is back
if not redis.call('ZSCORE', KEYS[1], bundle) then
  if redis.call('HEXISTS', KEYS[2], '~skipped:' .. bundle) == 1 then returning = 1 end
  redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[3]), bundle)
end
redis.call('HSET', KEYS[2], bundle, string.format('%.6f', now))
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], keep) end
local locked = redis.call('EXISTS', KEYS[4]) == 1
local busy = locked and 1 or 0  -- another bundle is being sent to the chat right now
local sending = redis.call('HGET', KEYS[2], '~sending')  -- the bundle that took the lock last
local skipped = {}
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if head == bundle then break end
  local due = tonumber(redis.call('HGET', KEYS[2], head) or '0')
  -- a bundle whose sender died mid-send (its lock lapsed) gets a short grace to come
  -- back (a restarted process); one waiting for a later attempt gets longer
  local grace = stale_after
  if head == sending then grace = stale_sending end
  if locked or due + grace >= now then
    local wait = math.max(poll, due - now + poll)
    if head == sending then wait = math.min(wait, math.max(0.05, due + grace - now)) end
    redis.call('HSET', KEYS[2], bundle, string.format('%.6f', now + wait))
    return {0, string.format('%.6f', wait), skipped, busy, returning}
  end
  redis.call('ZREM', KEYS[1], head)
  redis.call('HDEL', KEYS[2], head)
  redis.call('HSET', KEYS[2], '~skipped:' .. head, string.format('%.6f', now))
  table.insert(skipped, head)
end
if redis.call('SET', KEYS[4], ARGV[2], 'NX', 'PX', ARGV[3]) then
  redis.call('HSET', KEYS[2], '~sending', bundle)
  return {1, '0', skipped, 0, returning}
end
local wait = math.max(poll, redis.call('PTTL', KEYS[4]) / 1000)
redis.call('HSET', KEYS[2], bundle, string.format('%.6f', now + wait))
return {0, string.format('%.6f', wait), skipped, 1, returning}
"""

_KEEP_LUA = """
-- KEYS: lock, due, sent. ARGV: token, lock_ttl_ms, bundle, index ('' = refresh only), record_ttl
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1000000))
if ARGV[4] ~= '' then
  redis.call('HSETNX', KEYS[3], ARGV[4], 'inflight')
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
return 1
"""

_LEAVE_LUA = """
-- KEYS: queue, due, lock, ticket, sent.
-- ARGV: token, bundle, delay_s (negative: the bundle is done), done_ttl_s
local delay = tonumber(ARGV[3])
if delay < 0 then
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[5], ARGV[4])
elseif redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  local t = redis.call('TIME')
  local due = tonumber(t[1]) + tonumber(t[2]) / 1000000 + delay
  redis.call('HSET', KEYS[2], ARGV[2], string.format('%.6f', due))
end
if redis.call('HGET', KEYS[2], '~sending') == ARGV[2] then redis.call('HDEL', KEYS[2], '~sending') end
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[4])
  redis.call('EXPIRE', KEYS[2], ARGV[4])  -- only skip marks are left in it
end
return 1
"""


@dataclass
class _Claim:
    ok: bool
    wait: float  # seconds until the bundle should ask again (when not ok)
    skipped: list[str]  # overdue bundles of dead senders skipped on the way
    busy: bool  # another bundle is being sent to the chat right now
    returning: bool  # this bundle was skipped earlier and has come back after later ones


class _ChatTurn:
    """Whose turn it is to send to a chat (see the module doc, "Order per chat")."""

    def __init__(
        self,
        conn: redis.Redis,
        bot_id: str,
        lock_ttl: float,
        stale_after: float,
        stale_sending: float = STALE_SENDING,
    ):
        self.redis = conn
        self.prefix = f"send:chat:{bot_id}"
        self.lock_ttl = lock_ttl
        self.lock_ttl_ms = int(lock_ttl * 1000)
        self.stale_after = stale_after
        self.stale_sending = stale_sending
        self._claim = conn.register_script(_CLAIM_LUA)
        self._keep = conn.register_script(_KEEP_LUA)
        self._leave = conn.register_script(_LEAVE_LUA)

    def _keys(self, chat_id: int) -> list[str]:
        base = f"{self.prefix}:{int(chat_id)}"
        return [f"{base}:queue", f"{base}:due", f"{base}:ticket", f"{base}:lock"]

    def claim(self, chat_id: int, bundle_id: str, token: str) -> _Claim:
        ok, wait, skipped, busy, returning = self._claim(
            keys=self._keys(chat_id),
            args=[
                bundle_id,
                token,
                self.lock_ttl_ms,
                self.stale_after,
                POLL,
                RECORD_TTL,
                self.stale_sending,
            ],
        )
        return _Claim(
            bool(ok), float(wait), [s.decode() for s in skipped], bool(busy), bool(returning)
        )

    def keep(self, chat_id: int, bundle_id: str, token: str, index: int | None = None) -> bool:
        """Refresh our hold on the chat; with ``index``, mark that item's call as under way."""
        _, due, _, lock = self._keys(chat_id)
        return bool(
            self._keep(
                keys=[lock, due, _sent_key(bundle_id)],
                args=[
                    token,
                    self.lock_ttl_ms,
                    bundle_id,
                    "" if index is None else index,
                    RECORD_TTL,
                ],
            )
        )

    def leave(self, chat_id: int, bundle_id: str, token: str, delay: float | None) -> None:
        """Release the chat; ``delay``: the bundle comes back then (None: it is done)."""
        queue, due, ticket, lock = self._keys(chat_id)
        self._leave(
            keys=[queue, due, lock, ticket, _sent_key(bundle_id)],
            args=[token, bundle_id, -1 if delay is None else delay, DONE_TTL],
        )


class _LockKeeper:
    """Refreshes the chat locks this process holds, from a daemon thread.

    A live sender therefore keeps its chat however long one Telegram call
    takes, while the lock of a process that died lapses within the lock TTL:
    the chat's next message waits seconds, not a minute. One thread per
    process (a forked work horse starts its own).
    """

    def __init__(self, turns: _ChatTurn):
        self.turns = turns
        self.interval = turns.lock_ttl / 3
        self.held: dict[str, tuple[int, str]] = {}  # token -> (chat, bundle)
        self._lock = threading.Lock()
        self._pid: int | None = None

    def hold(self, chat_id: int, bundle_id: str, token: str) -> None:
        with self._lock:
            self.held[token] = (chat_id, bundle_id)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="chat-lock-keeper", daemon=True).start()

    def release(self, token: str) -> None:
        with self._lock:
            self.held.pop(token, None)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                held = list(self.held.items())
            for token, (chat_id, bundle_id) in held:
                try:
                    self.turns.keep(chat_id, bundle_id, token)
                except redis.RedisError as exc:  # the next item's own keep will tell
                    log.debug("could not refresh the lock of chat %s: %s", chat_id, exc)


# --------------------------------------------------------------------------- sender


class _Reschedule(Exception):
    """Internal: stop here and hand the remaining items to ``enqueue_later``."""

    def __init__(self, delay: float, reason: str):
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class _Drop(Exception):
    """Internal: the remaining items cannot be delivered."""


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


def _sent_key(bundle_id: str) -> str:
    """The hash of a bundle's delivery records: item index -> message id (or a state)."""
    return f"sent:{bundle_id}"


def _failures_key(bundle_id: str) -> str:
    return f"send:failures:{bundle_id}"


def _markup(markup: dict[str, Any] | None) -> str | None:
    """A keyboard as the JSON string the Bot API expects (pyTelegramBotAPI passes it on)."""
    return None if markup is None else json.dumps(markup, ensure_ascii=False)


def _retry_after(exc: ApiTelegramException) -> float:
    """Seconds Telegram asks us to wait (pyTelegramBotAPI keeps them only in result_json)."""
    parameters = (exc.result_json or {}).get("parameters") or {}
    try:
        return max(1.0, float(parameters["retry_after"]))
    except (KeyError, TypeError, ValueError):
        return float(DEFAULT_RETRY_AFTER)


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
        self._turns = _ChatTurn(conn, self.bot_id, lock_ttl, stale_after)
        self._keeper = _LockKeeper(self._turns)

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

    def recorded(self, bundle_id: str, indexes: Iterable[int]) -> dict[int, str]:
        """Records of the items of ``bundle_id`` already delivered: index -> message id.

        The value is ``"0"`` for calls that create no message, ``"failed"``
        for items Telegram refused for good and ``"inflight"`` for an item
        whose call was under way when its sender stopped.
        """
        indexes = list(indexes)
        if not indexes:
            return {}
        values = self.redis.hmget(_sent_key(bundle_id), [str(i) for i in indexes])
        return {i: v.decode() for i, v in zip(indexes, values, strict=True) if v is not None}

    # -- delivery -------------------------------------------------------------

    def deliver(
        self,
        bundle_id: str,
        chat_id: int,
        items: list[Outgoing],
        max_wait: float = DEFAULT_MAX_WAIT,
        photos: dict[str, bytes] | None = None,
        at_most_once: bool = False,
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
        dropped. Otherwise (readings) such an item is sent again. Returns
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
        )
        taken = self._take_turn(run)
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
            self._turns.leave(chat_id, bundle_id, run.token, comes_back)
        return result

    def _take_turn(self, run: _Run) -> bool | None:
        """Claim the chat; while another bundle is being sent to it, wait up to ``max_wait``.

        False: not our turn soon enough; ``run.wait`` says when to come back.
        None: an at-most-once bundle that lost its place to later ones (drop it).
        """
        deadline = time.monotonic() + run.max_wait
        busy_pause = BUSY_POLL
        while True:
            claim = self._turns.claim(run.chat_id, run.bundle_id, run.token)
            for other in claim.skipped:
                log.warning(
                    "chat %s: bundle %s is long overdue; sending later ones", run.chat_id, other
                )
            if claim.returning and run.at_most_once:
                return None
            if claim.ok:
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
        done = self.recorded(run.bundle_id, [item.index for item in plan])
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
        succeeded = False
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
                log.info(
                    "chat %s: dropping %d item(s) of bundle %s: %s",
                    run.chat_id,
                    len(pending) - position,
                    run.bundle_id,
                    drop,
                )
                self.redis.delete(_failures_key(run.bundle_id))
                return None
            if isinstance(outcome, Outgoing):  # send this instead (plain-text fallback)
                pending[position] = outcome
                continue
            # Recorded only now, after Telegram's answer; until then the record says
            # "inflight" (see the module doc, "Never twice").
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(_sent_key(run.bundle_id), str(item.index), outcome)
                pipe.expire(_sent_key(run.bundle_id), RECORD_TTL)
                if item.kind == "photo" and item.photo_key not in run.photos:
                    pipe.delete(item.photo_key)  # a picture stored for a later attempt: used
                pipe.execute()
            if not succeeded:
                self.redis.delete(_failures_key(run.bundle_id))  # failures count in a row
                succeeded = True
            metrics.count_send(item.kind, "failed" if outcome == FAILED else "ok")
            if outcome == FAILED:
                result.failed.append(item.index)
            else:
                result.sent.append(item.index)
                if item.kind in CREATING_KINDS and int(outcome) > 0:
                    result.message_ids[item.index] = int(outcome)
            position += 1
        return None

    def _hand_over(self, run: _Run, items: list[Outgoing], delay: float, reason: str) -> None:
        """Give ``items`` to ``enqueue_later`` and note it in the result."""
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
        if item.kind == "photo":
            photo = run.photos.get(item.photo_key) or self.redis.get(item.photo_key)
            if photo is None:
                return self._photo_missing(item)
        if item.kind not in UNLIMITED_KINDS:
            slot = self.limiter.reserve_slot(run.chat_id, max_delay=run.max_wait)
            if not slot.reserved:
                raise _Reschedule(slot.delay, "rate limit")
            if slot.delay > 0:
                self._sleep(slot.delay)
        if not self._turns.keep(run.chat_id, run.bundle_id, run.token, item.index):
            raise _Reschedule(POLL, "lost the chat lock (a call outlasted its TTL)")
        try:
            return self._call(item, photo)
        except Exception as exc:
            # the process is alive and knows the call failed: not "inflight" any more
            self.redis.hdel(_sent_key(run.bundle_id), str(item.index))
            if isinstance(exc, ApiTelegramException):
                return self._refused(run, item, exc)
            # connection errors, timeouts, answers that are not JSON
            raise self._transient(run, item, _describe(exc, self.bot.token)) from None

    def _photo_missing(self, item: Outgoing) -> str | Outgoing:
        log.error(
            "chat %s: picture %s has expired or was never stored; sending its caption alone",
            item.chat_id,
            item.photo_key,
        )
        if item.text and item.text.strip():
            return replace(item, kind="text", photo_key=None)
        return FAILED

    def _call(self, item: Outgoing, photo: bytes | None) -> str:
        """Make the Bot API call; return the record value (message id or "0")."""
        bot = self.bot
        chat_id = item.chat_id
        markup = _markup(item.reply_markup)
        parse_mode = "HTML" if item.html else ""  # "": no parse mode (pyTelegramBotAPI omits it)
        if item.kind == "text":
            message = bot.send_message(
                chat_id, item.text, parse_mode=parse_mode, reply_markup=markup
            )
            return str(message.message_id)
        if item.kind == "photo":
            message = bot.send_photo(
                chat_id,
                photo,
                caption=item.text or None,
                parse_mode=parse_mode if item.text else None,
                reply_markup=markup,
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
            retry_after = _retry_after(exc)
            self.limiter.hold(run.chat_id, retry_after)
            raise _Reschedule(retry_after, f"429 from Telegram, retry after {retry_after:g} s")
        if code == 403 or (
            code == 400 and ("chat not found" in lowered or "user not found" in lowered)
        ):
            raise _Drop(f"{code} {description}")
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
        key = _failures_key(run.bundle_id)
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


# --------------------------------------------------------------------------- enqueue_later


def _job_key(bundle_id: str) -> str:
    """A job-id-safe form of ``bundle_id`` that stays unique (hash when characters change)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", bundle_id)
    if cleaned == bundle_id and len(bundle_id) <= 90:
        return bundle_id
    return f"{cleaned[:80]}_{hashlib.sha1(bundle_id.encode()).hexdigest()[:10]}"


class RQEnqueueLater:
    """``enqueue_later`` for production: an RQ job ``jobs.sends.deliver_bundle`` on ``sends``.

    The job id is ``send-<bundle>-<n>`` with ``n`` counting the bundle's
    reschedules (a Redis counter), so ids are valid, unique and traceable.
    Job records are kept ``keep`` seconds. Delayed jobs need a worker running
    with the scheduler (``rq worker --with-scheduler``, as our worker does).
    """

    FUNC = "jobs.sends.deliver_bundle"

    def __init__(self, conn: redis.Redis, queue_name: str = QUEUE_SENDS, keep: int = RECORD_TTL):
        from rq import Queue

        self.redis = conn
        self.queue = Queue(queue_name, connection=conn)
        self.keep = keep

    def __call__(
        self,
        delay: float,
        bundle_id: str,
        chat_id: int,
        items: list[Outgoing],
        at_most_once: bool = False,
    ):
        counter = f"send:attempt:{bundle_id}"
        attempt = int(self.redis.incr(counter))
        self.redis.expire(counter, self.keep)
        args = (bundle_id, int(chat_id), [item.to_dict() for item in items])
        kwargs = {"at_most_once": True} if at_most_once else {}
        options = {
            "job_id": job_id("send", _job_key(bundle_id), attempt),
            "result_ttl": SEND_JOB_RESULT_TTL,
            "failure_ttl": self.keep,
            "description": f"send {len(items)} item(s) of bundle {bundle_id} to chat {chat_id}",
        }
        if delay <= 0:
            return self.queue.enqueue(self.FUNC, *args, **kwargs, **options)
        return self.queue.enqueue_in(
            timedelta(seconds=delay), self.FUNC, *args, **kwargs, **options
        )


class TimerEnqueueLater:
    """``enqueue_later`` on timer threads of this process, for tests and tools without RQ.

    Whatever is pending is lost if the process exits; production uses
    :class:`RQEnqueueLater`. Bind the sender after building it:
    ``later.sender = Sender(..., later)``. :meth:`wait_idle` waits until
    every scheduled delivery (and whatever it rescheduled) has run.
    """

    def __init__(self, sender: Sender | None = None, max_wait: float = DEFAULT_MAX_WAIT):
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
            self.errors.append(_describe(exc, token))
            log.error("rescheduled bundle %s failed: %s", bundle_id, _describe(exc, token))
        finally:
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is scheduled any more; False after ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)
