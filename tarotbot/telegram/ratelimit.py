"""Outbound rate limits shared by every process that talks to Telegram for one bot.

Telegram refuses a bot that sends too fast with ``429 Too Many Requests`` and
a ``retry_after`` of its choosing. Its published guidance: about 30 messages
per second overall, about one message per second in one chat (short bursts
tolerated), about 20 messages per minute in one group. The bot process and
every worker send, so the budget must be shared: :class:`RedisLimiter` keeps
it in Redis and updates it in one Lua script (atomic, one round trip, Redis's
clock for every process); embedded mode runs it on the in-process fakeredis.

It **reserves** a slot rather than ask "may I send now?": ``reserve_slot``
returns the delay in seconds until the caller's slot (``0.0``: send now) and
books it, so callers that reserve one after the other get slots in that order
and the messages of one chat keep their order even across threads and
processes. A caller that would rather not wait that long passes ``max_delay``
and nothing is booked when the slot lies further out (it reschedules the work
and reserves again later instead of holding a slot it may not use).

The algorithms:

* per chat, GCRA (the "generic cell rate algorithm", a token bucket expressed
  as one timestamp, the theoretical arrival time TAT): a slot at time ``s`` is
  allowed when ``s >= TAT - tolerance``; booking it sets
  ``TAT = max(TAT, s) + interval``. ``tolerance = (burst - 1) * interval -
  margin``: the margin (default 50 ms) absorbs network jitter, because a
  message that reaches Telegram a little later than its slot spends its token
  later than we assumed (without the margin a late first message could make a
  punctual fourth one look too early to Telegram's bucket).
* per bot overall, a timeline of booked slot times (a sorted set): a new slot
  is the first time at or after the chat's earliest time that lies at least
  ``1 / global_rate`` seconds from every booked slot. A plain GCRA here would
  let one chat's slot 1.4 s in the future push every other chat back as well;
  the timeline leaves the gaps before it usable.

**Paid broadcasts** (``TELEGRAM_PAID_BROADCAST=on``, off by default): Telegram
lifts the overall limit, up to 1,000 messages per second, for a message sent
with ``allow_paid_broadcast`` (0.1 Star each, from the bot's balance). With
``paid_after`` set, a slot the overall timeline holds back, for a message
that would then have waited more than ``paid_after`` seconds in all (its
``waited`` so far, e.g. in the job queue, plus the slot's delay), is booked
on a timeline of its own (1 ms apart) at the chat's earliest time instead,
and comes back marked ``paid``: the caller sends that message with the flag.
Per-chat limits apply either way.

Keys are namespaced by the bot's id, the digits before the colon of its token
(never the token itself), so two bots never share a budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import redis

KEY_PREFIX = "tarotbot:ratelimit"
HISTORY_SECONDS = 5.0  # how long past global slots are kept for the spacing check
PAID_RATE = 1000.0  # messages per second Telegram allows paid broadcasts


@dataclass(frozen=True)
class Limits:
    """Outbound limits for one bot. Every process of a bot must use the same values."""

    global_rate: float = 30.0  # messages per second, all chats together (Telegram: ~30)
    chat_rate: float = 1.0  # messages per second in one private chat (Telegram: ~1)
    group_rate: float = 20 / 60  # messages per second in one group, chat_id < 0 (~20/minute)
    chat_burst: int = 3  # messages one chat may receive back to back before its rate applies
    margin: float = 0.05  # seconds of headroom per chat against network jitter

    def __post_init__(self) -> None:
        if self.global_rate <= 0 or self.chat_rate <= 0 or self.group_rate <= 0:
            raise ValueError("rates must be positive (messages per second)")
        if self.chat_burst < 1:
            raise ValueError("chat_burst must be at least 1 message")
        if self.margin < 0:
            raise ValueError("margin must not be negative (seconds)")

    @property
    def global_interval(self) -> float:
        """Seconds between two slots of the bot."""
        return 1.0 / self.global_rate

    def chat_interval(self, chat_id: int) -> float:
        """Seconds between two slots in ``chat_id`` once its burst is spent."""
        return 1.0 / (self.group_rate if chat_id < 0 else self.chat_rate)

    def chat_tolerance(self, chat_id: int) -> float:
        """How far ahead of its TAT a chat may send (seconds; the burst minus the margin)."""
        return (self.chat_burst - 1) * self.chat_interval(chat_id) - self.margin


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Reservation:
    """The answer to a reservation request.

    ``delay``: seconds from now until the slot (0.0: now). ``at``: the slot as
    unix time on the limiter's clock (Redis's for :class:`RedisLimiter`).
    ``reserved``: False when the slot lay beyond ``max_delay`` and nothing was booked.
    """

    delay: float
    at: float
    reserved: bool
    paid: bool = False  # booked as a paid broadcast: send it with allow_paid_broadcast


class Limiter(Protocol):
    """What the sender needs from a limiter."""

    def reserve_slot(
        self,
        chat_id: int,
        max_delay: float | None = None,
        paid_after: float | None = None,
        waited: float = 0.0,
    ) -> Reservation:
        """Book the next slot for ``chat_id`` (nothing when it lies beyond ``max_delay``);
        with ``paid_after``, a paid-broadcast slot instead of one the overall limit holds
        back when the message, which has ``waited`` seconds already, would wait longer
        than that in all."""
        ...

    def hold(self, chat_id: int, seconds: float) -> None:
        """Give ``chat_id`` no slot for ``seconds`` (Telegram answered 429 retry_after)."""
        ...


def bot_id_from_token(token: str) -> str:
    """The bot's numeric id: the digits before the colon of its token.

    The error never repeats the token, since it is a secret.
    """
    head, sep, _ = str(token).partition(":")
    if not sep or not head.isdigit():
        raise ValueError("not a bot token: expected <digits>:<secret>")
    return head


def retry_after(exc: Exception, default: float) -> float:
    """The seconds a 429 asks for (pyTelegramBotAPI keeps them only in ``result_json``)."""
    parameters = (getattr(exc, "result_json", None) or {}).get("parameters") or {}
    try:
        return max(1.0, float(parameters["retry_after"]))
    except (KeyError, TypeError, ValueError):
        return float(default)


def _check_bot_id(bot_id: str | int) -> str:
    text = str(bot_id)
    if not text.isdigit():
        # Never echo the value: a caller passing the whole token by mistake must not log it.
        raise ValueError("bot_id must be the digits before the token's colon, not the token")
    return text


# KEYS[1]: the chat's TAT (string, unix seconds); KEYS[2]: the bot's slot timeline (zset);
# KEYS[3]: the bot's paid-broadcast timeline (zset).
# ARGV: chat interval, chat tolerance, global interval, max delay (negative: unbounded),
#       history to keep, paid after (negative: no paid broadcasts), paid interval, and how
#       long the message has waited already. Seconds.
# Returns {delay, at, booked, paid} with the numbers as strings (Lua numbers would be
# truncated).
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local spacing = tonumber(ARGV[3])
local max_delay = tonumber(ARGV[4])
local history = tonumber(ARGV[5])
local paid_after = tonumber(ARGV[6])
local paid_spacing = tonumber(ARGV[7])
local waited = tonumber(ARGV[8])

local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local earliest = math.max(now, tat - tolerance)

-- first time >= start that keeps `gap` from every slot booked on `timeline` (sorted)
local function first_free(timeline, start, gap)
  local at = start
  local booked = redis.call('ZRANGEBYSCORE', timeline, at - gap, '+inf')
  for _, member in ipairs(booked) do
    local slot = tonumber(member)
    if slot >= at + gap then
      break
    end
    if slot > at - gap then
      at = slot + gap
    end
  end
  return at
end

local timeline, gap = KEYS[2], spacing
local at = first_free(timeline, earliest, spacing)
local paid = 0
if paid_after >= 0 and at > earliest and waited + (at - now) > paid_after then
  timeline, gap, paid = KEYS[3], paid_spacing, 1
  at = first_free(timeline, earliest, paid_spacing)
end

local delay = at - now
if max_delay >= 0 and delay > max_delay then
  return {string.format('%.6f', delay), string.format('%.6f', at), 0, paid}
end

local new_tat = math.max(tat, at) + interval
redis.call('SET', KEYS[1], string.format('%.6f', new_tat),
           'PX', math.ceil((new_tat - now) * 1000) + 1000)
redis.call('ZADD', timeline, at, string.format('%.6f', at))
redis.call('ZREMRANGEBYSCORE', timeline, '-inf', now - history)
redis.call('PEXPIRE', timeline, math.ceil((at - now + history) * 1000))
return {string.format('%.6f', delay), string.format('%.6f', at), 1, paid}
"""

# KEYS[1]: the chat's TAT. ARGV: seconds to hold, chat tolerance.
_HOLD_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_tat = now + tonumber(ARGV[1]) + tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_tat > tat then
  redis.call('SET', KEYS[1], string.format('%.6f', until_tat),
             'PX', math.ceil((until_tat - now) * 1000) + 1000)
end
return 1
"""


class RedisLimiter:
    """Limits shared through Redis by every process of one bot (see the module doc)."""

    def __init__(self, conn: redis.Redis, bot_id: str | int, limits: Limits = DEFAULT_LIMITS):
        self.redis = conn
        self.bot_id = _check_bot_id(bot_id)
        self.limits = limits
        self.prefix = f"{KEY_PREFIX}:{self.bot_id}"
        self._reserve = conn.register_script(_RESERVE_LUA)
        self._hold = conn.register_script(_HOLD_LUA)

    def chat_key(self, chat_id: int) -> str:
        return f"{self.prefix}:chat:{int(chat_id)}"

    @property
    def global_key(self) -> str:
        return f"{self.prefix}:global"

    @property
    def paid_key(self) -> str:
        return f"{self.prefix}:paid"

    def reserve_slot(
        self,
        chat_id: int,
        max_delay: float | None = None,
        paid_after: float | None = None,
        waited: float = 0.0,
    ) -> Reservation:
        limits = self.limits
        delay, at, booked, paid = self._reserve(
            keys=[self.chat_key(chat_id), self.global_key, self.paid_key],
            args=[
                repr(limits.chat_interval(chat_id)),
                repr(limits.chat_tolerance(chat_id)),
                repr(limits.global_interval),
                repr(-1.0 if max_delay is None else max(0.0, float(max_delay))),
                repr(HISTORY_SECONDS),
                repr(-1.0 if paid_after is None else max(0.0, float(paid_after))),
                repr(1.0 / PAID_RATE),
                repr(max(0.0, float(waited))),
            ],
        )
        return Reservation(
            delay=max(0.0, float(delay)), at=float(at), reserved=bool(booked), paid=bool(paid)
        )

    def hold(self, chat_id: int, seconds: float) -> None:
        self._hold(
            keys=[self.chat_key(chat_id)],
            args=[repr(max(0.0, float(seconds))), repr(self.limits.chat_tolerance(chat_id))],
        )


class NoLimiter:
    """Grants every slot at once: for capacity benchmarks against a local emulator only.

    Selected by ``TELEGRAM_RATE_LIMITS=off``. Never use it against the real
    Telegram, which answers a bot over its limits with 429s.
    """

    def reserve_slot(
        self,
        chat_id: int,
        max_delay: float | None = None,
        paid_after: float | None = None,
        waited: float = 0.0,
    ) -> Reservation:
        return Reservation(delay=0.0, at=time.time(), reserved=True)

    def hold(self, chat_id: int, seconds: float) -> None:
        pass
