"""Redis connection, RQ queues, and enqueue helpers with deterministic job ids.

A job id derives from the Telegram ``update_id`` (or another natural key), so
an update redelivered after a crash maps to the same job, and
``enqueue_unique`` refuses to queue it twice (RQ's ``unique=True``). Job ids
may contain only ``[A-Za-z0-9_-]``.
"""

from __future__ import annotations

import functools
import re

import redis

from tarotbot.config import Settings, get_settings
from tarotbot.exceptions import ConfigError

JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

# Queue names, highest priority first: workers listen in this order.
QUEUE_PAYMENTS = "payments"  # money first: never let a payment wait behind readings
QUEUE_READINGS = "readings"
QUEUE_SENDS = "sends"  # outbound Telegram messages, incl. rescheduled after a 429
QUEUE_MAINTENANCE = "maintenance"  # periodic jobs
QUEUE_NAMES = (QUEUE_PAYMENTS, QUEUE_READINGS, QUEUE_SENDS, QUEUE_MAINTENANCE)


def job_id(*parts: object) -> str:
    """A valid RQ job id from its parts, e.g. ``job_id("reading", update_id)``."""
    raw = "-".join(str(p) for p in parts)
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", raw)[:128]
    if not JOB_ID_RE.match(cleaned):
        raise ValueError(f"cannot build a job id from {parts!r}")
    return cleaned


def redis_from_settings(settings: Settings) -> redis.Redis | None:
    """A client for ``REDIS_URL`` (None when unset: embedded mode)."""
    if settings.redis_url is None:
        return None
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )


@functools.cache
def get_redis() -> redis.Redis | None:
    """The process's shared Redis client (thread-safe pool), or None in embedded mode."""
    return redis_from_settings(get_settings())


def check_redis(conn: redis.Redis | None) -> None:
    """Ping Redis once; an unreachable server names ``REDIS_URL``."""
    if conn is None:
        return
    try:
        conn.ping()
    except redis.RedisError as exc:
        raise ConfigError("REDIS_URL", f"cannot reach Redis: {exc}") from None
