"""Conversation sessions: who the person is and where the chat stands.

The spec's ``SessionCache``: key ``session:<telegram_id>``, one-hour TTL,
JSON. A miss (expired, evicted, Redis flushed) is rebuilt from the ``users``
row, so a session is a cache, never the only copy of anything: losing it
costs at most the in-flight conversation step (a chosen spread waiting for
its question). With Redis down, sessions are rebuilt from the database on
every read and state changes are skipped with a warning.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass, replace

import redis

from tarotbot.models import User
from tarotbot.tiers import Tier, effective_tier

log = logging.getLogger("tarotbot.sessions")

STATES = ("idle", "choosing", "awaiting_question")


@dataclass(frozen=True)
class Session:
    telegram_id: int
    user_id: int
    reversals: bool = True
    state: str = "idle"
    spread: str | None = None
    # the update that last took a question, and for which spread: that update,
    # redelivered after a crash, is answered the same way again
    taken_update: int | None = None
    taken_spread: str | None = None
    # the commitment nonce of the reading being asked for (chosen with the
    # spread, see tarotbot.tarot.commitment), and of the one last taken
    nonce: str | None = None
    taken_nonce: str | None = None
    # a question typed after /reading, waiting for its spread
    pending_question: str | None = None
    # the subscription tier on record and its end (unix seconds; None: no end),
    # so the bot prices spreads and picks a queue without reading the database
    tier: str = "basic"
    tier_until: float | None = None
    # the language chosen with /language, or on registration from Telegram's (None: not set)
    language: str | None = None

    def current_tier(self) -> Tier:
        """The tier that applies now (:func:`tarotbot.tiers.effective_tier`)."""
        until = (
            None if self.tier_until is None else dt.datetime.fromtimestamp(self.tier_until, dt.UTC)
        )
        return effective_tier(self.tier, until)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Session:
        data = json.loads(raw)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _from_user(user: User) -> Session:
    """The user part of a session, from the users row."""
    ends = user.subscription_expires_at
    return Session(
        user.telegram_id,
        user.id,
        reversals=user.reads_reversals,
        tier=user.subscription_tier or "basic",
        tier_until=None if ends is None else ends.timestamp(),
        language=user.language,
    )


TAKE_ATTEMPTS = 5  # reads of a session that changes under take_question before giving up

# Compare and set: write ARGV[3] (for ARGV[2] seconds) only if the key still holds ARGV[1].
_SWAP_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SETEX', KEYS[1], ARGV[2], ARGV[3])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Prefetch:
    """What the bot read about a person at the start of an update (:meth:`SessionCache.prefetch`)."""

    telegram_id: int
    raw: bytes | None  # the session as stored (None: not in Redis)
    inactive: bool | None  # the inactivity note was there, and is removed (None: not asked)


def _taking(raw: bytes | None, update_id: int, spread: str | None):
    """``(session, taken)``: the stored session if update ``update_id`` takes its question
    (else None), and what to store instead (None: nothing to write)."""
    try:
        session = Session.from_json(raw) if raw else None
    except (ValueError, TypeError):
        session = None
    if session is None:
        return None, None
    if session.taken_update == update_id and session.taken_spread:
        again = replace(
            session,
            state="awaiting_question",
            spread=session.taken_spread,
            nonce=session.taken_nonce,
        )
        return again, None
    if (
        session.state != "awaiting_question"
        or not session.spread
        or (spread is not None and session.spread != spread)
    ):
        return None, None
    taken = replace(
        session,
        state="idle",
        spread=None,
        taken_update=update_id,
        taken_spread=session.spread,
        nonce=None,
        taken_nonce=session.nonce,
        pending_question=None,
    )
    return session, taken


class SessionCache:
    """Sessions in Redis under ``session:``, rebuilt from the database on a miss."""

    CACHE_KEY_PREFIX = "session:"
    SESSION_TTL = 3600  # seconds

    def __init__(self, redis_conn: redis.Redis):
        self.redis = redis_conn
        self._swap = redis_conn.register_script(_SWAP_LUA)

    def key(self, telegram_id: int) -> str:
        return f"{self.CACHE_KEY_PREFIX}{telegram_id}"

    def prefetch(self, telegram_id: int, take_inactive: bool = False) -> Prefetch | None:
        """The stored session and, with ``take_inactive``, :meth:`take_inactive`, in one
        round trip: what the bot reads about a person for every update. None when Redis
        fails (the callers then ask again, one thing at a time)."""
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(self.key(telegram_id))
                if take_inactive:
                    pipe.delete(f"{self.INACTIVE_PREFIX}{telegram_id}")
                values = pipe.execute()
        except redis.RedisError:
            return None
        return Prefetch(telegram_id, values[0], bool(values[1]) if take_inactive else None)

    def get(self, telegram_id: int, raw: bytes | None = None) -> Session | None:
        """The session, from Redis or else from the database; None for an unknown user.

        ``raw``: the session as just read from Redis (:meth:`prefetch`), not read again.
        """
        if raw is not None:
            cached = raw
        else:
            try:
                cached = self.redis.get(self.key(telegram_id))
            except redis.RedisError as exc:
                log.warning(
                    "session cache unavailable (%s); reading the database", type(exc).__name__
                )
                cached = None
        if cached:
            try:
                return Session.from_json(cached)
            except (ValueError, TypeError):
                log.warning("dropping an unreadable session for %s", telegram_id)
        session = self.load(telegram_id)
        if session is not None:
            self._write(session)
        return session

    @staticmethod
    def load(telegram_id: int) -> Session | None:
        user = User.get_or_none(User.telegram_id == telegram_id)
        if user is None:
            return None
        return _from_user(user)

    def store_user(self, user: User) -> Session:
        """Refresh the user part of a session after a write (keeps the chat state)."""
        current = self._read(user.telegram_id)
        fresh = _from_user(user)
        user_part = {"user_id": fresh.user_id, "reversals": fresh.reversals}
        user_part |= {"tier": fresh.tier, "tier_until": fresh.tier_until}
        user_part |= {"language": fresh.language}
        session = replace(current, **user_part) if current else fresh
        self._write(session)
        return session

    def set_state(
        self,
        telegram_id: int,
        state: str,
        spread: str | None = None,
        nonce: str | None = None,
        pending_question: str | None = None,
    ) -> Session | None:
        if state not in STATES:
            raise ValueError(f"unknown session state {state!r}")
        session = self.get(telegram_id)
        if session is None:
            return None
        session = replace(
            session, state=state, spread=spread, nonce=nonce, pending_question=pending_question
        )
        self._write(session)
        return session

    def take_question(
        self,
        telegram_id: int,
        update_id: int,
        spread: str | None = None,
        raw: bytes | None = None,
    ) -> Session | None:
        """End the wait for a question, atomically; the session as it was, or None.

        Returns the session only if it was waiting for a question (for
        ``spread``, when given), and leaves it idle. Of several updates racing
        for one question (a double tap on "No question", two messages, an old
        button tapped again) exactly one wins, so one prompt never becomes two
        readings. The winning ``update_id`` is remembered: the same update
        redelivered after a crash gets the same answer again (its job and its
        replies are deduplicated downstream). None also when Redis is down:
        no conversation step can be trusted then.
        ``raw``: the session as the caller read it moments ago; the change is
        written only if Redis still holds exactly that (one round trip), else
        the session is read again and the decision made again.
        """
        key = self.key(telegram_id)
        try:
            for _ in range(TAKE_ATTEMPTS):
                if raw is None:
                    raw = self.redis.get(key)
                session, taken = _taking(raw, update_id, spread)
                if taken is None:
                    return session  # nothing to write: not waiting, or this update's again
                if self._swap(keys=[key], args=[raw, self.SESSION_TTL, taken.to_json()]):
                    return session
                raw = None  # changed meanwhile (another update of this person): read again
        except redis.RedisError as exc:
            log.warning("session cache unavailable (%s); question not taken", type(exc).__name__)
            return None
        log.warning("session of %s kept changing; question not taken", telegram_id)
        return None

    def end_step(self, telegram_id: int) -> None:
        """Leave any half-done step (a spread chosen, its question not yet asked).

        Called when the person moves on (another command, another menu), so
        a message typed later is not taken as the question of a reading they
        walked away from, and charged. A session not in Redis is idle anyway.
        """
        current = self._read(telegram_id)
        if current is not None and (current.state != "idle" or current.pending_question):
            self._write(replace(current, state="idle", spread=None, pending_question=None))

    # -- activity -----------------------------------------------------------
    INACTIVE_PREFIX = "inactive:"
    INACTIVE_TTL = 90 * 24 * 3600  # seconds; the users row keeps the fact for good

    def mark_inactive(self, telegram_id: int) -> None:
        """Note that the person cannot be reached (they blocked the bot).

        The bot looks for this note when they write again
        (:meth:`take_inactive`), which costs it one Redis call per update
        instead of a database read. Lost with Redis, the note only delays
        ``users.is_active`` becoming true again until their next /start.
        """
        try:
            self.redis.set(f"{self.INACTIVE_PREFIX}{telegram_id}", 1, ex=self.INACTIVE_TTL)
        except redis.RedisError as exc:
            log.warning("inactivity note not cached (%s)", type(exc).__name__)

    def take_inactive(self, telegram_id: int) -> bool:
        """True once if the person was marked inactive (the note is removed)."""
        try:
            return bool(self.redis.delete(f"{self.INACTIVE_PREFIX}{telegram_id}"))
        except redis.RedisError:
            return False

    def _read(self, telegram_id: int) -> Session | None:
        try:
            cached = self.redis.get(self.key(telegram_id))
            return Session.from_json(cached) if cached else None
        except (redis.RedisError, ValueError, TypeError):
            return None

    def _write(self, session: Session) -> None:
        try:
            self.redis.setex(self.key(session.telegram_id), self.SESSION_TTL, session.to_json())
        except redis.RedisError as exc:
            log.warning("session not cached (%s)", type(exc).__name__)
