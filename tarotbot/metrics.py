"""Prometheus metrics: readings, payments, jobs, outbound sends, and their HTTP exposition.

Every metric is named ``tarotbot_*``:

===================================  =================  ==========================================
metric                               labels             counts
===================================  =================  ==========================================
``tarotbot_readings_total``          spread, outcome    reading jobs: done, replayed,
                                                        insufficient-credits, unknown-user
``tarotbot_payments_total``          kind               Stars payments: purchase, purchase-replayed,
                                                        refund, refund-replayed,
                                                        refund-nothing-to-undo, refund-credits-spent
``tarotbot_jobs_total``              queue, status      job runs (each attempt): succeeded, failed
``tarotbot_job_duration_seconds``    queue              histogram of job run time (5 ms .. 30 s)
``tarotbot_sends_total``             method, outcome    Bot API calls: ok, failed, rescheduled,
                                                        dropped
``tarotbot_telegram_429_total``      (none)             429 Too Many Requests answers
===================================  =================  ==========================================

Labels carry no personal data (no user ids, chat ids or questions): a
label's values are a short fixed set, which also keeps the series few.

Updates go through the ``count_*`` / :func:`observe_job` helpers, which never
raise (a metric must not break a job or a send) and cost a few microseconds.

**Serving.** :func:`serve` starts the exposition on a port
(``TAROTBOT_METRICS_PORT``, read by :func:`port_from_env`; unset means off).

**Multiprocess mode.** A forking RQ worker runs each job in a work horse that
exits afterwards, taking its in-memory counters with it. With the environment
variable ``PROMETHEUS_MULTIPROC_DIR`` set (to an empty directory, before the
process starts: prometheus_client picks its storage at import), every process
writes its values to files in that directory and :func:`serve` exposes the
sum over all of them through a ``MultiProcessCollector``, as the
prometheus_client documentation describes. The same holds for an HTTP
endpoint served by gunicorn workers (build the app with
``prometheus_client.make_wsgi_app(metrics.exposition_registry())``). No metric
here is a gauge, so nothing needs ``mark_process_dead`` when a process exits.
The directory grows by a few files per process (per work horse with the fork
worker class); empty it when the dyno (re)starts, never while processes run.
"""

from __future__ import annotations

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

# Label children by label values: a dict lookup instead of prometheus_client's
# validating .labels() on every update.
_children: dict[tuple, object] = {}


def _child(metric, *values: str):
    key = (id(metric), *values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


def count_reading(spread: str, outcome: str) -> None:
    """One reading job ended with ``outcome`` (done, replayed, insufficient-credits, unknown-user).

    A spread that is not one of the nine is counted as ``other`` (labels stay few).
    """
    try:
        from tarotbot.tarot.spreads import SPREADS

        _child(READINGS, spread if spread in SPREADS else "other", str(outcome)).inc()
    except Exception:  # never let a metric break a job
        log.debug("count_reading failed", exc_info=True)


def count_payment(kind: str) -> None:
    """One payment event reached the ledger (purchase, refund, ...)."""
    try:
        _child(PAYMENTS, str(kind)).inc()
    except Exception:
        log.debug("count_payment failed", exc_info=True)


def observe_job(queue: str, status: str, seconds: float) -> None:
    """One job run on ``queue`` ended with ``status`` (succeeded, failed) after ``seconds``."""
    try:
        seconds = float(seconds)
        _child(JOBS, str(queue), str(status)).inc()
        _child(JOB_DURATION, str(queue)).observe(seconds)
    except Exception:
        log.debug("observe_job failed", exc_info=True)


def count_send(method: str, outcome: str) -> None:
    """One Bot API call (sendMessage, sendPhoto, ...) ended ok, failed, rescheduled or dropped."""
    try:
        _child(SENDS, str(method), str(outcome)).inc()
    except Exception:
        log.debug("count_send failed", exc_info=True)


def count_429() -> None:
    """The Bot API answered 429 Too Many Requests."""
    try:
        TELEGRAM_429.inc()
    except Exception:
        log.debug("count_429 failed", exc_info=True)


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
