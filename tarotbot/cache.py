"""Redis caches in front of the database: a shared base and :class:`CreditCache`.

Every cache here is an optimisation, never a source of truth. The rules they
share (:class:`RedisCache`):

- Keys are ``<prefix><id>`` (the specification's prefixes: ``credits:``, and
  later ``session:``, ``reading:``), each with a TTL in seconds.
- Redis unavailable (connection refused, timeout, any ``RedisError``) is a
  miss: reads fall back to the database and writes are skipped, with one
  warning per outage, never an exception. After a failure the cache leaves
  Redis alone for :attr:`RedisCache.retry_after` seconds (default 1.0), so a
  dead server costs one failed connect per second, not one per call.
- The client is :func:`tarotbot.queue.get_redis` (``REDIS_URL``) unless one
  is passed in (tests); ``client=None`` (embedded mode, no ``REDIS_URL``)
  disables the cache: every read misses, every write is a no-op.

:class:`CreditCache` guarantees that after a committed balance change has
returned to its caller, no reader gets the old balance from Redis. How, for
user ``u`` (value key ``credits:u`` = ``"<balance>:<version>"``, marker key
``credits:u:writers`` = a sorted set of in-flight writer tokens scored by
their deadline in ms):

1. Before changing the database a writer adds its token to the marker set
   (deadline now + :attr:`CreditCache.dirty_ttl`, 30 s) and deletes the value
   (:meth:`CreditCache.begin_change`).
2. While any marker is live, readers miss (they go to the database) and may
   not repopulate the key.
3. After the outermost commit the writer removes its token and stores
   ``balance:version`` unless the key already holds the same or a newer
   version (:meth:`CreditCache.finish_change`). A failed store deletes the
   value and leaves the marker to expire; if Redis is unreachable even for
   that, the process remembers the key and deletes it at its next successful
   contact. A change that rolled back removes its marker
   (:meth:`CreditCache.abandon_change`).
4. A reader that missed reads the database and populates the key only if no
   marker exists and the key is absent or holds an older version
   (:meth:`CreditCache.populate`); a version compare in Lua means an older
   version never overwrites a newer one.
5. A marker whose deadline passed without being removed means a writer died
   or overran after possibly committing: whoever sees it (reader, writer)
   deletes the value as suspect. The marker set outlives any value stored
   while it had live members (its TTL is ``dirty_ttl + ttl``), so such a
   value cannot outlast the evidence.

All four steps run as Lua scripts (EVALSHA, loaded on first use), so each is
atomic in Redis. The time is Redis's own (``TIME``), so client clocks do not
matter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, TypeVar

import redis

log = logging.getLogger(__name__)

T = TypeVar("T")

_DEFAULT_CLIENT: Any = object()  # sentinel: use tarotbot.queue.get_redis()


class _ThreadConnection(threading.local):
    """Per thread: a Redis connection, the process that opened it, its client."""

    conn: Any = None
    pid: int = 0
    client: Any = None


class RedisCache:
    """Shared plumbing: key prefix, TTL, JSON helpers, "Redis down is a miss".

    Subclasses set :attr:`prefix` and :attr:`ttl`. ``client`` is injected in
    tests; by default it is the process's shared client from ``REDIS_URL``.
    """

    prefix: ClassVar[str] = ""
    ttl: ClassVar[int] = 300  # seconds a cached value lives
    retry_after: float = 1.0  # seconds to leave Redis alone after a failure

    def __init__(
        self,
        client: redis.Redis | None = _DEFAULT_CLIENT,
        *,
        prefix: str | None = None,
        ttl: int | None = None,
    ):
        self._client = client
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._warned = False
        self._stale: set[str] = set()  # keys to delete at the next successful contact
        self._direct = _ThreadConnection()  # this thread's own connection (see _command)
        if prefix is not None:
            self.prefix = prefix
        if ttl is not None:
            self.ttl = ttl

    # -- plumbing -------------------------------------------------------------

    @property
    def client(self) -> redis.Redis | None:
        """The Redis client, or None when caching is disabled (embedded mode)."""
        if self._client is _DEFAULT_CLIENT:
            from tarotbot.queue import get_redis

            self._client = get_redis()
        return self._client

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def key(self, ident: object) -> str:
        return f"{self.prefix}{ident}"

    def _run(self, what: str, fn: Callable[[redis.Redis], T], default: T) -> T:
        """Run ``fn(client)``; on any Redis error log once, back off, return ``default``."""
        client = self.client
        if client is None:
            return default
        if self._down_until and time.monotonic() < self._down_until:
            return default
        try:
            if self._stale:
                self._flush_stale(client)
            result = fn(client)
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + self.retry_after
            if not self._warned:
                self._warned = True
                log.warning(
                    "Redis unavailable (%s: %s); %s falls back to the database",
                    type(exc).__name__,
                    exc,
                    type(self).__name__,
                )
            else:
                log.debug("Redis still unavailable during %s: %s", what, exc)
            return default
        if self._warned:
            self._warned = False
            log.warning("Redis reachable again; %s back in use", type(self).__name__)
        self._down_until = 0.0
        return result

    def _command(self, client: redis.Redis, *args: Any) -> Any:
        """One command on this thread's own connection to ``client``'s server.

        The hot path (two calls per ledger write) skips the pool's per-call
        checkout, liveness probe and release, which cost as much CPU as the
        round trip itself. Same server, credentials and timeouts as the
        client (its pool's connection class and arguments); a new connection
        after fork or after any connection error.
        """
        pool = getattr(client, "connection_pool", None)
        if pool is None or not hasattr(pool, "connection_class"):
            return client.execute_command(*args)
        direct = self._direct
        conn = direct.conn
        if conn is None or direct.pid != os.getpid() or direct.client is not client:
            conn = pool.connection_class(**pool.connection_kwargs)
            direct.conn, direct.pid, direct.client = conn, os.getpid(), client
        try:
            conn.send_command(*args)
            return conn.read_response()
        except redis.ResponseError:
            raise  # an error reply (e.g. NOSCRIPT): the connection is fine
        except (redis.RedisError, OSError) as exc:
            direct.conn = None
            conn.disconnect()
            if isinstance(exc, redis.RedisError):
                raise
            raise redis.ConnectionError(f"{type(exc).__name__}: {exc}") from exc

    def _flush_stale(self, client: redis.Redis) -> None:
        with self._lock:
            keys, self._stale = list(self._stale), set()
        if keys:
            try:
                client.delete(*keys)
            except redis.RedisError:
                with self._lock:
                    self._stale.update(keys)
                raise

    def _remember_stale(self, *keys: str) -> None:
        """A key we could not invalidate: delete it when Redis answers again."""
        with self._lock:
            self._stale.update(keys)

    # -- JSON helpers for value caches -----------------------------------------

    @staticmethod
    def dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)

    @staticmethod
    def loads(raw: bytes | str | None) -> Any:
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None  # a corrupt entry is a miss

    def get_json(self, ident: object) -> Any:
        """The cached JSON value, or None on a miss or when Redis is down."""
        return self.loads(self._run("get", lambda c: c.get(self.key(ident)), None))

    def set_json(self, ident: object, value: Any, ttl: int | None = None) -> bool:
        """Store ``value`` for ``ttl`` seconds (default :attr:`ttl`); False if Redis is down."""
        data = self.dumps(value)
        ok = self._run(
            "set", lambda c: bool(c.set(self.key(ident), data, ex=ttl or self.ttl)), False
        )
        if not ok:
            self.delete(ident)
        return ok

    def delete(self, ident: object) -> bool:
        """Drop the entry; if Redis is down, drop it at the next successful contact."""
        key = self.key(ident)
        ok = self._run("delete", lambda c: (c.delete(key), True)[1], False)
        if not ok and self.enabled:
            self._remember_stale(key)
        return ok


# Lua shared by the CreditCache scripts. KEYS[1] is the value key
# ("<balance>:<version>"), KEYS[2] the sorted set of in-flight writer tokens.
_LUA_PRELUDE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function version_of(value)
  if not value then return nil end
  return tonumber(string.match(value, ':(%d+)$'))
end
"""

# ARGV: token, dirty_ms, keep_ms
_LUA_BEGIN = (
    _LUA_PRELUDE
    + """
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('DEL', KEYS[1])
return 1
"""
)

# no ARGV; returns the value or nil (miss)
_LUA_GET = (
    _LUA_PRELUDE
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then
  local now = now_ms()
  if redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') > 0 then return false end
  redis.call('DEL', KEYS[2], KEYS[1])
  return false
end
return redis.call('GET', KEYS[1])
"""
)

# ARGV: token, balance, version, ttl_s; returns 1 if stored
_LUA_FINISH = (
    _LUA_PRELUDE
    + """
redis.call('ZREM', KEYS[2], ARGV[1])
local now = now_ms()
if redis.call('ZCOUNT', KEYS[2], '-inf', now) > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('DEL', KEYS[1])
  return 0
end
local current = version_of(redis.call('GET', KEYS[1]))
if current and current >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. ARGV[3], 'EX', ARGV[4])
return 1
"""
)

# ARGV: balance, version, ttl_s; returns 1 if stored
_LUA_POPULATE = (
    _LUA_PRELUDE
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then
  local now = now_ms()
  if redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') == 0 then
    redis.call('DEL', KEYS[2], KEYS[1])
  end
  return 0
end
local current = version_of(redis.call('GET', KEYS[1]))
if current and current >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'EX', ARGV[3])
return 1
"""
)

# ARGV: token (may be empty); drops the value, refreshes nothing
_LUA_ABANDON = """
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[2], ARGV[1]) end
redis.call('DEL', KEYS[1])
return 1
"""


class _Script(NamedTuple):
    source: str
    sha: str


def _script(source: str) -> _Script:
    return _Script(source, hashlib.sha1(source.encode()).hexdigest())


_GET = _script(_LUA_GET)
_POPULATE = _script(_LUA_POPULATE)
_BEGIN = _script(_LUA_BEGIN)
_FINISH = _script(_LUA_FINISH)
_ABANDON = _script(_LUA_ABANDON)


class CreditCache(RedisCache):
    """Credit balances under ``credits:<user_id>`` for 300 s, never stale after a commit.

    Written through by :mod:`tarotbot.ledger` only; see the module docstring
    for the protocol. Values are ``"<balance>:<version>"`` where version is
    ``credits.version``.
    """

    prefix: ClassVar[str] = "credits:"
    ttl: ClassVar[int] = 300  # seconds (the specification's BALANCE_TTL)
    dirty_ttl: ClassVar[int] = 30  # seconds a writer's marker blocks readers at most

    def _keys(self, user_id: int) -> list[str]:
        key = self.key(user_id)
        return [key, key + ":writers"]

    def _eval(self, client: redis.Redis, script: _Script, keys: list[str], args: list) -> Any:
        """EVALSHA, loading the script once if the server does not know it yet."""
        try:
            return self._command(client, "EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            self._command(client, "SCRIPT", "LOAD", script.source)
            return self._command(client, "EVALSHA", script.sha, len(keys), *keys, *args)

    def get(self, user_id: int) -> int | None:
        """The cached balance, or None (miss, a writer in flight, or Redis down)."""
        keys = self._keys(user_id)
        raw = self._run("get", lambda c: self._eval(c, _GET, keys, []), None)
        if raw is None:
            return None
        try:
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            balance, _, _version = text.partition(":")
            return int(balance)
        except (ValueError, AttributeError):
            return None

    def populate(self, user_id: int, balance: int, version: int) -> bool:
        """After a miss: store a committed ``balance``/``version`` read from the database.

        Refused while a writer is in flight or when the key holds the same or
        a newer version. Returns True if stored.
        """
        keys = self._keys(user_id)
        args = [balance, version, self.ttl]
        return bool(
            self._run(
                "populate",
                lambda c: self._eval(c, _POPULATE, keys, args),
                0,
            )
        )

    def begin_change(self, user_id: int) -> str | None:
        """Before a database change: mark the key dirty; returns the writer's token.

        None means Redis could not be told; the key is then remembered and
        deleted at the next successful contact (and :meth:`finish_change`
        still overwrites it with the newer version if Redis is back by then).
        """
        if not self.enabled:
            return None
        token = uuid.uuid4().hex
        keys = self._keys(user_id)
        dirty_ms = self.dirty_ttl * 1000
        args = [token, dirty_ms, dirty_ms + self.ttl * 1000]
        ok = self._run(
            "begin_change",
            lambda c: self._eval(c, _BEGIN, keys, args),
            None,
        )
        if ok is None:
            self._remember_stale(keys[0])
            return None
        return token

    def finish_change(self, user_id: int, token: str | None, balance: int, version: int) -> bool:
        """After the outermost commit: unmark and store ``balance:version`` (if newest).

        A failed store invalidates the key instead and leaves the writer's
        marker in place until it expires, so no reader that read the database
        before the commit can put the old balance back meanwhile. Returns True
        if the value was stored.
        """
        if not self.enabled:
            return False
        keys = self._keys(user_id)
        args = [token or "", balance, version, self.ttl]
        stored = self._run(
            "finish_change",
            lambda c: self._eval(c, _FINISH, keys, args),
            None,
        )
        if stored is None:
            self.invalidate(user_id)
            return False
        return bool(stored)

    def abandon_change(self, user_id: int, token: str | None) -> None:
        """The change did not happen (rolled back): unmark and drop the value."""
        if not self.enabled:
            return
        keys = self._keys(user_id)
        ok = self._run(
            "abandon_change",
            lambda c: self._eval(c, _ABANDON, keys, [token or ""]),
            None,
        )
        if ok is None:
            self._remember_stale(keys[0])

    def invalidate(self, user_id: int) -> None:
        """Drop the cached balance, keeping any writer markers (now, or at the next
        successful contact with Redis if it is unreachable)."""
        self.delete(user_id)


class ReadingCache(RedisCache):
    """Finished readings under the spec's ``reading:`` prefix for an hour.

    Filled when a person opens a reading from their history (and by the
    warmer when they come back), read when they open it again. A new reading
    is not written here: most are never opened again, and each would hold
    ~5 KB of Redis for the hour. The stored reading is immutable, so there is
    nothing to invalidate.
    """

    prefix: ClassVar[str] = "reading:"
    ttl: ClassVar[int] = 3600  # seconds

    FIELDS: ClassVar[tuple[str, ...]] = (
        "id", "user_id", "spread_type", "question", "cards", "interpretation", "transaction_id",
    )  # fmt: skip

    def put(self, reading: Any) -> bool:
        value = {name: getattr(reading, name) for name in self.FIELDS}
        value["created_at"] = reading.created_at.isoformat()
        return self.set_json(reading.id, value)

    def get(self, reading_id: int) -> dict | None:
        value = self.get_json(reading_id)
        return value if isinstance(value, dict) and value.get("id") == reading_id else None
