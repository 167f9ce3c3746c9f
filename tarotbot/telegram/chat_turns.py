"""Whose turn it is to send to a chat, and the delivery records a turn keeps.

Per chat and bot, Redis holds a sorted set of pending bundle ids (score: an
arrival ticket), a hash bundle id -> the unix time it expects to act next
("due"), a ticket counter and a lock held while a bundle is being sent; each
change is one Lua script, with times from Redis. The lock lives
:data:`LOCK_TTL` seconds and :class:`LockKeeper` refreshes the ones a live
process holds, so a dead process holds a chat for seconds. Each bundle's
delivery records are one hash ``sent:<bundle_id>`` (item index -> message id,
``"inflight"`` while its call is under way). The guarantees these give are
described in :mod:`tarotbot.telegram.sender`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis

log = logging.getLogger("tarotbot.sender")

DEFAULT_MAX_WAIT = 1.5  # seconds a deliver() call may sleep for one slot before rescheduling
RECORD_TTL = 3_600  # seconds the records of an unfinished bundle (and its stored picture) live
DONE_TTL = 900  # seconds a finished bundle's records live: a crashed job's retry or a
# redelivered update finds them (idempotency for longer lives in PostgreSQL)
LOCK_TTL = 3.0  # seconds a chat stays locked by a sender that stopped refreshing (crash)
STALE_AFTER = 60.0  # seconds past its due time after which a waiting bundle is skipped
STALE_SENDING = 3.0  # ... and a bundle whose sender died mid-send (its lock expired)
POLL = 1.0  # seconds a bundle waits before asking again whether its turn has come
INFLIGHT = "inflight"  # record value while an item's call is under way


def sent_key(bundle_id: str) -> str:
    """The hash of a bundle's delivery records: item index -> message id (or a state)."""
    return f"sent:{bundle_id}"


_CLAIM_LUA = """
-- KEYS: queue, due, ticket, lock, sent.
-- ARGV: bundle, token, lock_ttl_ms, stale_s, poll_s, keep_s, stale_sending_s, item indexes…
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
  -- the delivery records of the bundle's items ARGV[8..], read in the same call
  local records = {}
  if #ARGV >= 8 then
    local values = redis.call('HMGET', KEYS[5], unpack(ARGV, 8))
    for i = 1, #values do records[i] = values[i] or '' end
  end
  return {1, '0', skipped, 0, returning, records}
end
local wait = math.max(poll, redis.call('PTTL', KEYS[4]) / 1000)
redis.call('HSET', KEYS[2], bundle, string.format('%.6f', now + wait))
return {0, string.format('%.6f', wait), skipped, 1, returning}
"""

_RECORD_LUA = """
-- (shared head of keep and leave) KEYS[sent_at]: sent, KEYS[sent_at + 1]: failures.
-- ARGV[done_at]: index of an item Telegram has answered ('' = none), ARGV[done_at + 1]:
-- its record. Written first, whoever holds the lock: the call happened.
local function record(sent_at, done_at, ttl)
  if ARGV[done_at] ~= '' then
    redis.call('HSET', KEYS[sent_at], ARGV[done_at], ARGV[done_at + 1])
    redis.call('EXPIRE', KEYS[sent_at], ttl)
    redis.call('DEL', KEYS[sent_at + 1])  -- transient failures count in a row
  end
end
"""

_KEEP_LUA = (
    _RECORD_LUA
    + """
-- KEYS: lock, due, sent, failures. ARGV: token, lock_ttl_ms, bundle, index ('' = refresh
-- only), record_ttl, done index ('' = none), done record
record(3, 6, ARGV[5])
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
)

_LEAVE_LUA = (
    _RECORD_LUA
    + """
-- KEYS: queue, due, lock, ticket, sent, failures.
-- ARGV: token, bundle, delay_s (negative: the bundle is done), done_ttl_s,
-- done index ('' = none), done record, record_ttl
record(5, 5, ARGV[7])
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
)


@dataclass
class Claim:
    ok: bool
    wait: float  # seconds until the bundle should ask again (when not ok)
    skipped: list[str]  # overdue bundles of dead senders skipped on the way
    busy: bool  # another bundle is being sent to the chat right now
    returning: bool  # this bundle was skipped earlier and has come back after later ones
    # when ok, the bundle's delivery records: item index -> message id, "0" for a call
    # that creates no message, "failed" (refused for good) or "inflight" (cut short)
    records: dict[int, str] = field(default_factory=dict)


#: An item Telegram has answered, to be recorded with the next call: (index, record).
Done = tuple[int, str] | None


def failures_key(bundle_id: str) -> str:
    """The counter of a bundle's transient failures in a row."""
    return f"send:failures:{bundle_id}"


class ChatTurns:
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

    def claim(self, chat_id: int, bundle_id: str, token: str, indexes: Iterable[int] = ()) -> Claim:
        """Take the chat if it is this bundle's turn; then also read the records of its
        items ``indexes`` (one round trip for both)."""
        indexes = [int(i) for i in indexes]
        reply = self._claim(
            keys=[*self._keys(chat_id), sent_key(bundle_id)],
            args=[
                bundle_id,
                token,
                self.lock_ttl_ms,
                self.stale_after,
                POLL,
                RECORD_TTL,
                self.stale_sending,
                *indexes,
            ],
        )
        ok, wait, skipped, busy, returning = reply[:5]
        records = {}
        if len(reply) > 5:
            records = {i: v.decode() for i, v in zip(indexes, reply[5], strict=False) if v}
        return Claim(
            bool(ok),
            float(wait),
            [s.decode() for s in skipped],
            bool(busy),
            bool(returning),
            records,
        )

    def keep(
        self,
        chat_id: int,
        bundle_id: str,
        token: str,
        index: int | None = None,
        done: Done = None,
    ) -> bool:
        """Refresh our hold on the chat; with ``index``, mark that item's call as under way.

        ``done``: an item Telegram has answered, recorded first in the same call
        (whether or not the chat is still ours). False: the chat is not ours.
        """
        _, due, _, lock = self._keys(chat_id)
        return bool(
            self._keep(
                keys=[lock, due, sent_key(bundle_id), failures_key(bundle_id)],
                args=[
                    token,
                    self.lock_ttl_ms,
                    bundle_id,
                    "" if index is None else index,
                    RECORD_TTL,
                    *(("", "") if done is None else done),
                ],
            )
        )

    def leave(
        self, chat_id: int, bundle_id: str, token: str, delay: float | None, done: Done = None
    ) -> None:
        """Release the chat; ``delay``: the bundle comes back then (None: it is done).

        ``done``: an item Telegram has answered, recorded first in the same call.
        """
        queue, due, ticket, lock = self._keys(chat_id)
        self._leave(
            keys=[queue, due, lock, ticket, sent_key(bundle_id), failures_key(bundle_id)],
            args=[
                token,
                bundle_id,
                -1 if delay is None else delay,
                DONE_TTL,
                *(("", "") if done is None else done),
                RECORD_TTL,
            ],
        )


class LockKeeper:
    """Refreshes the chat locks this process holds, from a daemon thread.

    A live sender therefore keeps its chat however long one Telegram call
    takes, while the lock of a process that died lapses within the lock TTL:
    the chat's next message waits seconds, not a minute. One thread per
    process (a forked work horse starts its own).
    """

    def __init__(self, turns: ChatTurns):
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
