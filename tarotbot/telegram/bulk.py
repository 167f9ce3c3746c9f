"""Pacing for bulk sends (daily cards, broadcasts), so they never crowd out readings.

Bulk messages go through the one sender and its shared limiter like every
other message, and before each one a bulk job also takes a slot from a
budget of its own: at most ``BULK_SENDS_PER_SECOND`` (20 of Telegram's ~30
per second), all bulk jobs of the bot together. The rest of the bot's budget
stays free for readings and replies. Bulk jobs also run on their own queue
(``bulk``), which workers take last.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from tarotbot.telegram.ratelimit import KEY_PREFIX, Limits, RedisLimiter, bot_id_from_token

#: The chat id the bulk budget is kept under (one budget for all bulk sends).
_BUDGET = 0


class BulkPacer:
    """One Redis-shared budget for bulk sends; :meth:`wait_turn` sleeps until the next slot."""

    def __init__(
        self,
        conn: redis.Redis,
        bot_id: str,
        rate: float,
        sleep: Callable[[float], None] = time.sleep,
    ):
        limits = Limits(global_rate=rate, chat_rate=rate, group_rate=rate, chat_burst=1, margin=0.0)
        self.limiter = RedisLimiter(conn, bot_id, limits)
        self.limiter.prefix = f"{KEY_PREFIX}:{self.limiter.bot_id}:bulk"
        self._sleep = sleep

    def wait_turn(self) -> float:
        """Book the next bulk slot and sleep until it; the seconds slept."""
        delay = self.limiter.reserve_slot(_BUDGET).delay
        if delay > 0:
            self._sleep(delay)
        return delay


def pacer_for(app) -> BulkPacer:
    """The process app's bulk pacer (its Redis, its bot, ``BULK_SENDS_PER_SECOND``)."""
    return BulkPacer(app.redis, bot_id_from_token(app.sender.bot.token), app.settings.bulk_rate)


def unreachable(result) -> bool:
    """True when a delivery was dropped because the person blocked the bot (or is gone)."""
    return bool(result.dropped) and result.unreachable
