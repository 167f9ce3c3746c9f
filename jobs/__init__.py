"""RQ entry points: thin top-level functions that take ids, not objects.

Every job runs inside :func:`job_context`, which makes sure the process has
its database bound and gives the job a connection of its own, closed when the
job ends. A forked work horse therefore never touches the connection its
parent may hold (see ``tarotbot.db``).

:func:`job_context` also records each run in :mod:`tarotbot.metrics`
(``tarotbot_jobs_total`` and ``tarotbot_job_duration_seconds`` by queue);
:func:`timed_job` does only that, for a job that needs no database.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from rq import get_current_job

from tarotbot import app, db, metrics
from tarotbot.i18n import speaking

F = TypeVar("F", bound=Callable)

#: Queue label of a job function called directly, not by an RQ worker.
INLINE = "inline"

_depth = threading.local()


def get_app() -> app.App:
    """The process's app, able to send: jobs deliver through the Telegram sender."""
    from tarotbot.telegram.sender import sender_for

    return app.get_app().use_sender_factory(sender_for)


def ensure_database() -> None:
    """Bind the database proxy from settings if this process has not yet."""
    if db.database.obj is None:
        db.init_database()


def _queue_of_run(func_name: str) -> str | None:
    """The queue to file this run under; None when it is not a job run of its own.

    Under RQ that is the current job's queue, if ``func_name`` is the job's
    function (another timed function the job calls is part of that job).
    Outside RQ it is :data:`INLINE`, unless a timed job is already running on
    this thread.
    """
    if getattr(_depth, "value", 0):
        return None
    try:
        from rq import get_current_job

        job = get_current_job()
        if job is None:
            return INLINE
        return job.origin if job.func_name == func_name else None
    except Exception:  # metrics must never break a job
        return None


def timed_job(func: F) -> F:
    """Record each run of ``func`` (duration, succeeded or failed) by queue; change nothing else.

    A function whose name starts with ``_`` is a helper (e.g. one a failure
    callback calls, outside any job), not an entry point: it is left untimed.
    """
    if func.__name__.startswith("_"):
        return func
    func_name = f"{func.__module__}.{func.__qualname__}"

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        queue = _queue_of_run(func_name)
        if queue is None:
            return func(*args, **kwargs)
        status = "failed"
        started = time.perf_counter()
        _depth.value = getattr(_depth, "value", 0) + 1
        try:
            result = func(*args, **kwargs)
            status = "succeeded"
            return result
        finally:
            _depth.value -= 1
            metrics.observe_job(queue, status, time.perf_counter() - started)

    return wrapper  # type: ignore[return-value]


def job_context(func: F) -> F:
    """Run ``func`` with the database bound and a connection of its own, speaking the
    language its enqueuer spoke (the job's meta); time it (:func:`timed_job`)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ensure_database()
        job = get_current_job()
        language = job.meta.get("language") if job is not None else None
        with db.connection(), speaking(language):
            return func(*args, **kwargs)

    return timed_job(wrapper)  # type: ignore[return-value]
