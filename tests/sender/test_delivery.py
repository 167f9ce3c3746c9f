"""End to end: rescheduled bundles through a real RQ worker, a flood storm, a killed sender.

Telegram is the emulator; RQ, Redis, pyTelegramBotAPI and our settings code are real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry

import jobs
from jobs import sends
from tarotbot.app import set_app
from tarotbot.config import get_settings
from tarotbot.queue import QUEUE_SENDS, get_redis
from tarotbot.telegram import replies
from tarotbot.telegram.later import SEND_JOB_RESULT_TTL, RQEnqueueLater
from tarotbot.telegram.ratelimit import Limits

from .conftest import BOT_ID, TOKEN, TimerEnqueueLater, bot_texts

ROOT = Path(__file__).resolve().parents[2]
SECRET = TOKEN.split(":", 1)[1]


@pytest.fixture
def installed_sender():
    """jobs.sends uses the sender a test installs (None: the app's, built from settings)."""

    def install(sender):
        if sender is None:
            set_app(None)
        else:
            jobs.get_app().set_sender(sender)

    yield install
    set_app(None)


def run_worker_until(conn, done, timeout: float) -> None:
    """Run a burst SimpleWorker with RQ's scheduler until ``done()`` or ``timeout``.

    In burst mode the worker moves the jobs that are due when it starts and
    does not wait for later ones, so it is started again until the work is done.
    """
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "rescheduled sends were not delivered in time"
        SimpleWorker([Queue(QUEUE_SENDS, connection=conn)], connection=conn).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )
        time.sleep(0.2)


def test_429_rescheduled_through_rq_is_delivered_exactly_once(
    emulator, users, make_sender, redis_conn, installed_sender
):
    users(4001)
    sender = make_sender(RQEnqueueLater(redis_conn))
    installed_sender(sender)
    emulator.inject_fault("sendMessage", 429, retry_after=1)
    items = [replies.text(4001, f"line {n}") for n in range(4)]

    result = sender.deliver("rq-429", 4001, items)

    assert result.rescheduled == [0, 1, 2, 3] and result.delay == 1.0
    registry = ScheduledJobRegistry(QUEUE_SENDS, connection=redis_conn)
    [job_id] = registry.get_job_ids()
    assert job_id == "send-rq-429-1"
    job = Queue(QUEUE_SENDS, connection=redis_conn).fetch_job(job_id)
    assert job.func_name == "jobs.sends.deliver_bundle"
    assert job.args[:2] == ("rq-429", 4001) and len(job.args[2]) == 4
    assert SECRET not in json.dumps(job.args) and job.result_ttl == SEND_JOB_RESULT_TTL

    run_worker_until(redis_conn, lambda: len(bot_texts(emulator, 4001)) >= 4, timeout=15)

    assert bot_texts(emulator, 4001) == [f"line {n}" for n in range(4)]
    assert job.get_status(refresh=True) == "finished"
    assert job.return_value()["sent"] == [0, 1, 2, 3]
    for key in redis_conn.keys("*"):  # no token anywhere in Redis: keys, records, jobs
        assert SECRET.encode() not in key
        if redis_conn.type(key) == b"string":
            assert SECRET.encode() not in redis_conn.get(key)
        if redis_conn.type(key) == b"hash":
            assert all(SECRET.encode() not in v for v in redis_conn.hgetall(key).values())


def test_job_builds_its_sender_from_the_settings(
    emulator, users, redis_url, monkeypatch, installed_sender
):
    users(4002)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_URL", emulator.base_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    installed_sender(None)
    get_settings.cache_clear()
    get_redis.cache_clear()
    try:
        payload = [replies.text(4002, "from the job").to_dict()]
        result = sends.deliver_bundle("env-1", 4002, payload)
        assert jobs.get_app().sender is jobs.get_app().sender  # cached per process
    finally:
        get_settings.cache_clear()
        get_redis.cache_clear()
    assert result["sent"] == [0] and result["rescheduled"] == []
    assert bot_texts(emulator, 4002) == ["from the job"]
    assert SECRET not in json.dumps(result)


def test_storm_under_flood_limits(emulator, users, make_sender):
    """200 messages to 10 chats from 4 threads, Telegram's limits enforced: no 429 at all."""
    emulator.set_limits(True)  # 1/s per chat (burst 3), 30/s per bot (burst 30)
    chats = list(range(5001, 5011))
    users(*chats)
    emulator.reset_stats()
    later = TimerEnqueueLater(max_wait=1.5)
    sender = make_sender(later, limits=Limits())  # the production defaults
    later.sender = sender
    errors: list[BaseException] = []

    def submit(mine: list[int]) -> None:
        try:
            for round_ in range(4):
                for chat in mine:
                    items = [replies.text(chat, f"{chat}:{round_ * 5 + k:02d}") for k in range(5)]
                    sender.deliver(f"storm-{chat}-{round_}", chat, items, max_wait=0.3)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(chats[t::4],)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert later.wait_idle(45), "the storm did not drain in time"

    assert not errors and not later.errors
    for chat in chats:
        assert bot_texts(emulator, chat) == [f"{chat}:{n:02d}" for n in range(20)], chat
    stats = emulator.get_stats()
    assert stats["responses_429"] == 0
    assert stats["calls"]["sendMessage"] == 200  # each message sent once, none retried


def test_paid_broadcasts_carry_the_part_of_a_burst_that_waited_too_long(
    emulator, users, make_sender
):
    """120 people whose readings waited ~1 s in the queue, Telegram's limits enforced, paid
    broadcasts on: what the overall 30/s would hold back goes paid (counted and charged
    by the emulator, reported by the sender), the rest unpaid; no 429, nothing twice."""
    emulator.set_limits(True)
    emulator.set_star_balance(100, bot=BOT_ID)
    chats = list(range(7001, 7121))
    users(*chats)
    emulator.reset_stats()
    sender = make_sender(limits=Limits(), paid_after=1.0)
    queued = time.time() - 0.9  # each reading waited 0.9 s in the queue already
    results = [
        sender.deliver(f"paid-{chat}", chat, [replies.text(chat, f"{chat}")], since=queued)
        for chat in chats
    ]
    assert all(r.complete and r.sent == [0] for r in results)
    paid = sum(len(r.paid) for r in results)
    stats = emulator.get_stats()
    assert stats["responses_429"] == 0 and stats["calls"]["sendMessage"] == 120
    assert 60 <= paid <= 117  # the first ~30 (the burst) and those within 0.1 s went unpaid
    assert stats["paid_broadcasts"] == paid
    assert stats["paid_broadcast_stars"] == pytest.approx(paid / 10)
    balance = emulator.star_balance(bot=BOT_ID)
    assert balance["amount"] + balance.get("nanostar_amount", 0) / 1e9 == pytest.approx(
        100 - paid / 10
    )
    for chat in chats:
        assert bot_texts(emulator, chat) == [f"{chat}"]


def test_paid_broadcasts_stay_off_by_default(emulator, users, make_sender):
    emulator.set_limits(True)
    chats = list(range(7201, 7241))
    users(*chats)
    emulator.reset_stats()
    sender = make_sender(limits=Limits())
    late = time.time() - 30
    for chat in chats:
        sender.deliver(f"free-{chat}", chat, [replies.text(chat, "x")], max_wait=3, since=late)
    assert emulator.get_stats()["paid_broadcasts"] == 0


CHILD = """
import sys
from tarotbot.config import load_settings
from tarotbot.queue import redis_from_settings
from tarotbot.telegram.client import make_bot
from tarotbot.telegram.ratelimit import Limits, RedisLimiter
from tarotbot.telegram import replies
from tarotbot.telegram.sender import Sender

api_url, redis_url, token, chat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
settings = load_settings({"TELEGRAM_API_URL": api_url, "REDIS_URL": redis_url})
conn = redis_from_settings(settings)
bot = make_bot(settings, token=token, threaded=False)
sender = Sender(bot, conn, RedisLimiter(conn, "123456", Limits(chat_rate=2.0)),
                lambda *args: None, lock_ttl=1.0)
items = [replies.text(chat, f"k{n}") for n in range(8)]
sender.deliver("killed", chat, items, max_wait=1.5)
"""


def test_sender_killed_mid_bundle_then_retried(emulator, users, make_sender, redis_url):
    """SIGKILL while the bundle is half out; the retry sends the rest, nothing twice."""
    users(6001)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, emulator.base_url, redis_url, TOKEN, "6001"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        emulator.wait_for_messages(6001, 4, timeout=15, bot=BOT_ID)
        time.sleep(0.2)  # mid-way between two sends (0.5 s apart): the 4th is recorded
        child.kill()
    finally:
        child.wait(timeout=10)
    assert child.returncode != 0
    sent_before = len(bot_texts(emulator, 6001))
    assert 4 <= sent_before < 8

    later = TimerEnqueueLater(max_wait=1.5)
    sender = make_sender(later, limits=Limits(chat_rate=2.0))
    later.sender = sender
    items = [replies.text(6001, f"k{n}") for n in range(8)]
    first = sender.deliver("killed", 6001, items, max_wait=0.2)
    # the dead process still holds the chat for up to its lock TTL (1 s): more than
    # this call may wait in place, so it comes back later
    assert first.rescheduled and first.reason == "waiting for earlier messages to this chat"
    assert later.wait_idle(15) and not later.errors

    assert bot_texts(emulator, 6001) == [f"k{n}" for n in range(8)]
