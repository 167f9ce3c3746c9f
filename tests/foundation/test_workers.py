"""The worker classes' lighter bookkeeping: sparse heartbeats and suspension checks."""

from __future__ import annotations

import time

import pytest
from rq import Queue
from rq.exceptions import StopRequested
from rq.suspension import resume, suspend

from tarotbot.workers import HEARTBEAT_EVERY, TarotSimpleWorker


def _worker(redis_conn) -> TarotSimpleWorker:
    return TarotSimpleWorker([Queue("sparse", connection=redis_conn)], connection=redis_conn)


def test_bare_heartbeats_come_at_most_once_a_second(redis_conn):
    worker = _worker(redis_conn)
    worker.register_birth()
    worker.heartbeat()
    first = redis_conn.hget(worker.key, "last_heartbeat")
    time.sleep(0.01)
    worker.heartbeat()  # within the second: nothing sent
    assert redis_conn.hget(worker.key, "last_heartbeat") == first
    worker.heartbeat(timeout=90)  # with a timeout (a horse being watched): always sent
    assert redis_conn.hget(worker.key, "last_heartbeat") != first
    assert 0 < redis_conn.ttl(worker.key) <= 90
    worker.register_death()


def test_a_suspension_is_noticed_within_a_second(redis_conn):
    worker = _worker(redis_conn)
    worker.check_for_suspension(burst=True)  # not suspended: returns
    suspend(redis_conn)
    try:
        worker.check_for_suspension(burst=True)  # checked a moment ago: not yet
        time.sleep(HEARTBEAT_EVERY + 0.05)
        with pytest.raises(StopRequested):  # a burst worker stops when suspended
            worker.check_for_suspension(burst=True)
    finally:
        resume(redis_conn)
