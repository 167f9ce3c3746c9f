"""Redis connection, RQ queues, and enqueue helpers with deterministic job ids.

A job id derives from the Telegram ``update_id`` (or another natural key), so
an update redelivered after a crash maps to the same job, and
``enqueue_unique`` refuses to queue it twice (RQ's ``unique=True``). Job ids
may contain only ``[A-Za-z0-9_-]``.
"""

from __future__ import annotations

import functools
import os
import re
import ssl

import redis

from tarotbot.config import Settings, get_settings
from tarotbot.exceptions import ConfigError

JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

# Queue names, highest priority first: workers listen in this order.
QUEUE_PAYMENTS = "payments"  # money first: never let a payment wait behind readings
QUEUE_READINGS = "readings"
QUEUE_READINGS_PRIORITY = "readings-priority"  # readings of tiers with priority (tarotbot.tiers)
QUEUE_SENDS = "sends"  # outbound Telegram messages, incl. rescheduled after a 429
QUEUE_MAINTENANCE = "maintenance"  # periodic jobs
QUEUE_BULK = "bulk"  # daily cards and broadcasts: last, paced below Telegram's limits
QUEUE_NAMES = (
    QUEUE_PAYMENTS,
    QUEUE_READINGS_PRIORITY,
    QUEUE_READINGS,
    QUEUE_SENDS,
    QUEUE_MAINTENANCE,
    QUEUE_BULK,
)


def job_id(*parts: object) -> str:
    """A valid RQ job id from its parts, e.g. ``job_id("reading", update_id)``."""
    raw = "-".join(str(p) for p in parts)
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", raw)[:128]
    if not JOB_ID_RE.match(cleaned):
        raise ValueError(f"cannot build a job id from {parts!r}")
    return cleaned


def redis_tls_options(settings: Settings) -> dict:
    """redis-py's TLS arguments for a ``rediss://`` REDIS_URL (none for redis:// or unix://).

    ``REDIS_TLS_VERIFY=none`` (the default) accepts the self-signed
    certificate Heroku Redis presents: the link is encrypted but the server
    not authenticated. ``required`` checks the certificate and the host name
    against ``REDIS_TLS_CA_FILE``, or the system CAs when that is unset.
    """
    if settings.redis_url is None or not settings.redis_url.startswith("rediss://"):
        return {}
    if settings.redis_tls_verify == "none":
        return {"ssl_cert_reqs": "none", "ssl_check_hostname": False}
    options: dict = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    ca_file = settings.redis_tls_ca_file
    if ca_file is not None:
        if not os.path.isfile(ca_file):
            raise ConfigError("REDIS_TLS_CA_FILE", f"{ca_file!r} is not a readable file")
        try:  # the bundle is read per connection: find a bad one now, in one line
            ssl.create_default_context(cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            reason = " ".join(str(exc).split())
            raise ConfigError(
                "REDIS_TLS_CA_FILE", f"{ca_file!r} is not a PEM CA bundle ({reason})"
            ) from None
        options["ssl_ca_certs"] = ca_file
    return options


def redis_from_settings(settings: Settings) -> redis.Redis | None:
    """A client for ``REDIS_URL`` (None when unset: embedded mode), TLS set up for rediss://."""
    if settings.redis_url is None:
        return None
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        **redis_tls_options(settings),
    )


@functools.cache
def get_redis() -> redis.Redis | None:
    """The process's shared Redis client (thread-safe pool), or None in embedded mode."""
    return redis_from_settings(get_settings())


def check_redis(conn: redis.Redis | None) -> None:
    """Ping Redis once; an unreachable server names ``REDIS_URL`` in one line.

    A certificate the client refuses names ``REDIS_TLS_VERIFY`` instead,
    with the way out. Neither message carries the password.
    """
    if conn is None:
        return
    try:
        conn.ping()
    except (redis.RedisError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        kwargs = conn.connection_pool.connection_kwargs
        password = kwargs.get("password")
        if password:
            reason = reason.replace(str(password), "***")
        if "CERTIFICATE_VERIFY_FAILED" in reason or "certificate verify failed" in reason:
            raise ConfigError(
                "REDIS_TLS_VERIFY",
                f"required, but Redis's TLS certificate was refused ({_tls_reason(reason)}); "
                "Heroku Redis uses a self-signed certificate: set REDIS_TLS_VERIFY=none, "
                "or REDIS_TLS_CA_FILE to the CA that signed it",
            ) from None
        raise ConfigError("REDIS_URL", f"cannot reach Redis: {reason}") from None


def _tls_reason(reason: str) -> str:
    """The part of an OpenSSL verify error a person can act on, e.g. 'self-signed certificate'."""
    match = re.search(r"certificate verify failed: ([^(]+)", reason)
    return match.group(1).strip() if match else "certificate verify failed"
