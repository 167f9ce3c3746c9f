"""Prometheus metrics: readings, payments, jobs, outbound sends, 429s, and their exposition.

The README (Operating it, Metrics) lists every ``tarotbot_*`` metric, how the
processes serve them (``TAROTBOT_METRICS_PORT``) and multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``) for a forking worker. Labels carry no personal
data (no user or chat ids, no questions) and take few values, so the series
stay few. Updates go through the ``count_*`` / :func:`observe_job` helpers,
which never raise: a metric must not break a job or a send. No metric is a
gauge, so nothing needs ``mark_process_dead`` when a process exits.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server

from tarotbot.exceptions import ConfigError

log = logging.getLogger("tarotbot.metrics")

#: Where prometheus_client's multiprocess mode keeps its files (its own variable name).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The port to serve metrics on; unset or empty: no metrics endpoint.
PORT_ENV = "TAROTBOT_METRICS_PORT"

#: Job durations from a 5 ms send to a 30 s reading with a slow LLM.
JOB_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def multiprocess_dir() -> str | None:
    """The multiprocess directory when ``PROMETHEUS_MULTIPROC_DIR`` is set, else None."""
    return os.environ.get(MULTIPROC_ENV) or None


def _prepare_multiprocess_dir() -> None:
    # prometheus_client opens its files there as soon as a value exists; a
    # missing directory would make importing this module (and every job) fail.
    path = multiprocess_dir()
    if path:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            log.warning("cannot create %s=%s: %s", MULTIPROC_ENV, path, exc)


class _Unavailable:
    """Stands in for a metric that could not be created: accepts every update, records none."""

    def labels(self, *args, **kwargs) -> _Unavailable:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


def _metric(factory, *args, **kwargs):
    try:
        return factory(*args, **kwargs)
    except Exception as exc:  # e.g. an unwritable multiprocess directory
        log.warning("metric %s unavailable: %s", args[0], exc)
        return _Unavailable()


_prepare_multiprocess_dir()

READINGS = _metric(
    Counter,
    "tarotbot_readings",
    "Reading jobs by spread and outcome (done: charged and stored; replayed: a stored "
    "reading sent again; insufficient-credits; unknown-user).",
    ["spread", "outcome"],
)
PAYMENTS = _metric(
    Counter,
    "tarotbot_payments",
    "Stars payments and refunds applied to the ledger, by kind.",
    ["kind"],
)
JOBS = _metric(
    Counter,
    "tarotbot_jobs",
    "Job runs by queue and status (succeeded or failed; every attempt counts).",
    ["queue", "status"],
)
JOB_DURATION = _metric(
    Histogram,
    "tarotbot_job_duration_seconds",
    "Wall-clock time of a job run, by queue.",
    ["queue"],
    buckets=JOB_DURATION_BUCKETS,
)
SENDS = _metric(
    Counter,
    "tarotbot_sends",
    "Outbound Bot API calls by method and outcome (ok, failed, rescheduled, dropped).",
    ["method", "outcome"],
)
TELEGRAM_429 = _metric(
    Counter,
    "tarotbot_telegram_429",
    "429 Too Many Requests answers from the Bot API.",
)
PAID_BROADCASTS = _metric(
    Counter,
    "tarotbot_paid_broadcasts",
    "Messages sent with allow_paid_broadcast (0.1 Star each; TELEGRAM_PAID_BROADCAST=on).",
)

# Label children by label values: a dict lookup instead of prometheus_client's
# validating .labels() on every update.
_children: dict[tuple, object] = {}


def _child(metric, *values: str):
    key = (id(metric), *values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


def _never_raises(update):
    """``update`` made safe to call from a job or a send: a failure is logged, never raised."""

    @functools.wraps(update)
    def guarded(*args) -> None:
        try:
            update(*args)
        except Exception:
            log.debug("%s failed", update.__name__, exc_info=True)

    return guarded


@_never_raises
def count_reading(spread: str, outcome: str) -> None:
    """One reading job ended with ``outcome`` (done, replayed, insufficient-credits, unknown-user).

    A spread that is not one of the nine is counted as ``other`` (labels stay few).
    """
    from tarotbot.tarot.spreads import SPREADS

    _child(READINGS, spread if spread in SPREADS else "other", str(outcome)).inc()


@_never_raises
def count_payment(kind: str) -> None:
    """One payment event reached the ledger (purchase, refund, ...)."""
    _child(PAYMENTS, str(kind)).inc()


@_never_raises
def observe_job(queue: str, status: str, seconds: float) -> None:
    """One job run on ``queue`` ended with ``status`` (succeeded, failed) after ``seconds``."""
    seconds = float(seconds)
    _child(JOBS, str(queue), str(status)).inc()
    _child(JOB_DURATION, str(queue)).observe(seconds)


@_never_raises
def count_send(method: str, outcome: str) -> None:
    """One Bot API call (sendMessage, sendPhoto, ...) ended ok, failed, rescheduled or dropped."""
    _child(SENDS, str(method), str(outcome)).inc()


@_never_raises
def count_paid_broadcast() -> None:
    """A message went out as a paid broadcast."""
    PAID_BROADCASTS.inc()


@_never_raises
def count_429() -> None:
    """The Bot API answered 429 Too Many Requests."""
    TELEGRAM_429.inc()


def exposition_registry():
    """The registry to expose: every process's values in multiprocess mode, else this process's."""
    if multiprocess_dir() is None:
        return REGISTRY
    from prometheus_client import multiprocess

    _prepare_multiprocess_dir()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def serve(port: int, addr: str = "0.0.0.0"):
    """Serve ``/metrics`` (any path) on ``addr:port`` from a daemon thread; return (server, thread).

    In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set) the endpoint
    shows the values summed over every process writing to that directory,
    forked work horses included. ``server.shutdown()`` stops it.
    """
    registry = exposition_registry()
    if registry is not REGISTRY and not _values_in_files():
        log.warning(
            "%s was set after prometheus_client was imported: this process's own "
            "metrics are not in the multiprocess files",
            MULTIPROC_ENV,
        )
    server, thread = start_http_server(port, addr=addr, registry=registry)
    log.info(
        "metrics on http://%s:%s/metrics%s",
        addr,
        server.server_port,
        " (multiprocess)" if registry is not REGISTRY else "",
    )
    return server, thread


def _values_in_files() -> bool:
    """True if this process's metric values live in the multiprocess files."""
    from prometheus_client import values

    return bool(getattr(values.ValueClass, "_multiprocess", False))


def port_from_env(environ: Mapping[str, str] | None = None) -> int | None:
    """``TAROTBOT_METRICS_PORT`` as a port number; None when unset or empty (metrics off)."""
    env = os.environ if environ is None else environ
    raw = (env.get(PORT_ENV) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(PORT_ENV, f"expected a port number 1..65535, got {raw[:20]!r}")
    return int(raw)


def serve_from_env(addr: str = "0.0.0.0", environ: Mapping[str, str] | None = None):
    """:func:`serve` on ``TAROTBOT_METRICS_PORT`` when it is set; None (and no server) otherwise."""
    port = port_from_env(environ)
    if port is None:
        return None
    return serve(port, addr)
