"""``enqueue_later``: how a bundle's remainder comes back after a delay.

The sender hands the items it cannot send now (a rate-limit slot too far
away, a 429, a transient failure) to an ``enqueue_later`` callable, which
must arrange for ``Sender.deliver(bundle_id, chat_id, items)`` to run again
after the delay: an RQ job (tests also use a timer thread of their own).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis

from tarotbot.queue import QUEUE_SENDS, job_id
from tarotbot.telegram.chat_turns import RECORD_TTL
from tarotbot.telegram.outgoing import Outgoing

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
