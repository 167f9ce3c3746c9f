"""``enqueue_later``: how a bundle's remainder comes back after a delay.

The sender hands the items it cannot send now (a rate-limit slot too far
away, a 429, a transient failure) to an ``enqueue_later`` callable, which
must arrange for ``Sender.deliver(bundle_id, chat_id, items)`` to run again
after the delay: an RQ job in production, a timer thread in tests and tools.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import redis

from tarotbot.queue import QUEUE_SENDS, job_id
from tarotbot.redaction import describe
from tarotbot.telegram.chat_turns import DEFAULT_MAX_WAIT, RECORD_TTL
from tarotbot.telegram.outgoing import Outgoing

if TYPE_CHECKING:
    from tarotbot.telegram.sender import Sender

log = logging.getLogger("tarotbot.sender")

EnqueueLater = Callable[[float, str, int, list[Outgoing]], Any]
SEND_JOB_RESULT_TTL = 30  # seconds a finished send job's record stays (its records tell more)


def _job_key(bundle_id: str) -> str:
    """A job-id-safe form of ``bundle_id`` that stays unique (hash when characters change)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", bundle_id)
    if cleaned == bundle_id and len(bundle_id) <= 90:
        return bundle_id
    return f"{cleaned[:80]}_{hashlib.sha1(bundle_id.encode()).hexdigest()[:10]}"


class RQEnqueueLater:
    """``enqueue_later`` for production: an RQ job ``jobs.sends.deliver_bundle`` on ``sends``.

    The job id is ``send-<bundle>-<n>`` with ``n`` counting the bundle's
    reschedules (a Redis counter), so ids are valid, unique and traceable.
    Job records are kept ``keep`` seconds. Delayed jobs need a worker running
    with the scheduler (``rq worker --with-scheduler``, as our worker does).
    """

    FUNC = "jobs.sends.deliver_bundle"

    def __init__(self, conn: redis.Redis, queue_name: str = QUEUE_SENDS, keep: int = RECORD_TTL):
        from rq import Queue

        self.redis = conn
        self.queue = Queue(queue_name, connection=conn)
        self.keep = keep

    def __call__(
        self,
        delay: float,
        bundle_id: str,
        chat_id: int,
        items: list[Outgoing],
        at_most_once: bool = False,
    ):
        counter = f"send:attempt:{bundle_id}"
        attempt = int(self.redis.incr(counter))
        self.redis.expire(counter, self.keep)
        args = (bundle_id, int(chat_id), [item.to_dict() for item in items])
        kwargs = {"at_most_once": True} if at_most_once else {}
        options = {
            "job_id": job_id("send", _job_key(bundle_id), attempt),
            "result_ttl": SEND_JOB_RESULT_TTL,
            "failure_ttl": self.keep,
            "description": f"send {len(items)} item(s) of bundle {bundle_id} to chat {chat_id}",
        }
        if delay <= 0:
            return self.queue.enqueue(self.FUNC, *args, **kwargs, **options)
        return self.queue.enqueue_in(
            timedelta(seconds=delay), self.FUNC, *args, **kwargs, **options
        )


class TimerEnqueueLater:
    """``enqueue_later`` on timer threads of this process, for tests and tools without RQ.

    Whatever is pending is lost if the process exits; production uses
    :class:`RQEnqueueLater`. Bind the sender after building it:
    ``later.sender = Sender(..., later)``. :meth:`wait_idle` waits until
    every scheduled delivery (and whatever it rescheduled) has run.
    """

    def __init__(self, sender: Sender | None = None, max_wait: float = DEFAULT_MAX_WAIT):
        self.sender = sender
        self.max_wait = max_wait
        self.calls: list[tuple[float, str, int, list[int]]] = []
        self.errors: list[str] = []
        self._pending = 0
        self._cond = threading.Condition()

    def __call__(
        self,
        delay: float,
        bundle_id: str,
        chat_id: int,
        items: list[Outgoing],
        at_most_once: bool = False,
    ) -> None:
        with self._cond:
            self._pending += 1
            self.calls.append((delay, bundle_id, chat_id, [item.index for item in items]))
        timer = threading.Timer(
            delay, self._run, args=(bundle_id, chat_id, list(items), at_most_once)
        )
        timer.daemon = True
        timer.start()

    def _run(self, bundle_id: str, chat_id: int, items: list[Outgoing], at_most_once: bool) -> None:
        try:
            if self.sender is None:
                raise RuntimeError("TimerEnqueueLater has no sender bound")
            self.sender.deliver(
                bundle_id, chat_id, items, max_wait=self.max_wait, at_most_once=at_most_once
            )
        except Exception as exc:
            token = self.sender.bot.token if self.sender else None
            self.errors.append(describe(exc, token))
            log.error("rescheduled bundle %s failed: %s", bundle_id, describe(exc, token))
        finally:
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is scheduled any more; False after ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)
