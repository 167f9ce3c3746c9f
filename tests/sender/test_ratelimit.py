"""The shared outbound limiter: real Redis, several threads and a second process.

Reservations are checked on the slot times the limiter hands out (Redis's
clock), so the tests are exact and need not wait for the slots themselves.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path

import pytest

from tarotbot.telegram.ratelimit import (
    DEFAULT_LIMITS,
    Limits,
    RedisLimiter,
    bot_id_from_token,
)

from .conftest import BOT_ID, TOKEN

ROOT = Path(__file__).resolve().parents[2]
EPS = 1e-6


@pytest.fixture
def limiter_factory(redis_conn):
    """The limiter behind a factory; tests take ``make(limits)``."""
    return lambda limits=DEFAULT_LIMITS: RedisLimiter(redis_conn, BOT_ID, limits)


def accepted_by_bucket(times, rate, burst):
    """Would a token bucket (rate per second, burst tokens; Telegram's model) accept all?"""
    tokens, last = float(burst), None
    for at in sorted(times):
        if last is not None:
            tokens = min(burst, tokens + (at - last) * rate)
        if tokens < 1 - EPS:
            return False
        tokens -= 1
        last = at
    return True


def max_in_window(times, width=1.0):
    """The most slots in any half-open window [t, t + width)."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= width - EPS:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_burst_then_one_per_second(limiter_factory):
    limiter = limiter_factory()
    slots = [limiter.reserve_slot(7) for _ in range(6)]
    start = slots[0].at
    offsets = [round(s.at - start, 3) for s in slots]
    # three at once (the third after the 50 ms jitter margin), then one a second
    assert offsets[:2] == [0.0, pytest.approx(1 / 30, abs=1e-3)]
    assert offsets[2] <= 0.1
    assert offsets[3] == pytest.approx(1.05, abs=1e-3)  # burst spent: TAT minus tolerance
    for earlier, later in itertools.pairwise(offsets[3:]):
        assert later - earlier == pytest.approx(1.0, abs=1e-3)
    assert slots[0].delay == 0.0 and all(s.reserved for s in slots)


def test_other_chats_are_not_held_back_by_a_busy_chat(limiter_factory):
    limiter = limiter_factory()
    for _ in range(10):  # chat 1 books ~8 s ahead
        limiter.reserve_slot(1)
    delays = [limiter.reserve_slot(chat).delay for chat in range(2, 12)]
    assert max(delays) < 0.5  # only the global spacing of 1/30 s applies to them


def test_max_delay_books_nothing(limiter_factory):
    limiter = limiter_factory()
    for _ in range(4):
        limiter.reserve_slot(5)
    far = limiter.reserve_slot(5, max_delay=0.5)
    assert not far.reserved and far.delay > 0.5
    again = limiter.reserve_slot(5)
    assert again.reserved and again.at == pytest.approx(far.at, abs=0.01)  # slot was kept free


def test_paid_broadcasts_take_the_part_of_a_burst_that_would_wait_too_long(limiter_factory):
    """With ``paid_after``, a slot the overall timeline would push more than that far out
    goes on the paid timeline (1 ms apart) at the chat's own earliest time; per-chat
    limits still hold, and without ``paid_after`` nothing is ever paid."""
    limiter = limiter_factory()
    free = [limiter.reserve_slot(1000 + n) for n in range(60)]  # 60 chats at once: 2 s at 30/s
    assert not any(s.paid for s in free) and free[-1].delay > 1.5
    paid = [limiter.reserve_slot(2000 + n, paid_after=0.5) for n in range(100)]
    assert all(s.paid for s in paid)  # the overall timeline is 2 s deep: all of them paid
    offsets = sorted(s.at for s in paid)
    assert offsets[-1] - offsets[0] == pytest.approx(99 / 1000, abs=0.02)  # 1,000 a second
    assert max(s.delay for s in paid) < 0.2
    # per chat, the rate stays one a second after the burst, paid or not
    same_chat = [limiter.reserve_slot(3000, paid_after=0.5) for _ in range(5)]
    assert accepted_by_bucket([s.at for s in same_chat], rate=1.0, burst=3)
    assert same_chat[3].delay > 0.9


def test_paid_broadcast_only_past_its_delay(limiter_factory):
    limiter = limiter_factory()
    first = [limiter.reserve_slot(4000 + n, paid_after=1.0) for n in range(40)]
    waited = [s for s in first if not s.paid]
    assert len(waited) >= 30 and max(s.delay for s in waited) <= 1.0 + 1 / 30 + EPS
    assert all(s.delay < 0.1 for s in first if s.paid)


def test_a_message_that_waited_in_the_queue_goes_paid_sooner(limiter_factory):
    """The wait so far counts (a reading queued behind others): held back at all by the
    overall limit, a message already past ``paid_after`` goes paid; one the limit does not
    hold back goes unpaid however long it waited."""
    limiter = limiter_factory()
    alone = limiter.reserve_slot(5000, paid_after=1.0, waited=30.0)
    assert not alone.paid and alone.delay == 0.0  # a free slot now: nothing to pay for
    for n in range(5):
        limiter.reserve_slot(5100 + n)  # the overall timeline is ~0.17 s deep
    assert not limiter.reserve_slot(5200, paid_after=1.0, waited=0.5).paid
    late = limiter.reserve_slot(5201, paid_after=1.0, waited=0.95)
    assert late.paid and late.delay < 0.05


def test_hold_after_429(limiter_factory):
    limiter = limiter_factory()
    limiter.reserve_slot(9)
    limiter.hold(9, 2.0)
    assert limiter.reserve_slot(9).delay == pytest.approx(2.0, abs=0.05)
    assert limiter.reserve_slot(10).delay < 0.2  # other chats unaffected


def test_groups_get_twenty_a_minute(limiter_factory):
    limiter = limiter_factory()
    slots = [limiter.reserve_slot(-100123).at for _ in range(5)]
    assert slots[4] - slots[3] == pytest.approx(3.0, abs=1e-3)


def test_bots_do_not_share_budgets_and_keys_hold_no_token(redis_conn):
    first = RedisLimiter(redis_conn, bot_id_from_token(TOKEN))
    second = RedisLimiter(redis_conn, "654321")
    for _ in range(5):
        first.reserve_slot(1)
    assert second.reserve_slot(1).delay == 0.0
    keys = [k.decode() for k in redis_conn.keys("*")]
    assert keys and all(BOT_ID in k or "654321" in k for k in keys)
    assert not any(TOKEN.split(":")[1] in k for k in keys)


def test_token_is_never_echoed():
    with pytest.raises(ValueError) as caught:
        RedisLimiter(None, TOKEN)  # type: ignore[arg-type]
    assert TOKEN not in str(caught.value) and "sender-test" not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        bot_id_from_token("nodigits:" + TOKEN.split(":")[1])
    assert "sender-test" not in str(caught.value)
    assert bot_id_from_token(TOKEN) == BOT_ID


CHILD = """
import json, sys, redis
from tarotbot.telegram.ratelimit import RedisLimiter
conn = redis.Redis.from_url(sys.argv[1])
limiter = RedisLimiter(conn, sys.argv[2])
out = []
for n in range(int(sys.argv[3])):
    chat = 100 + n % 10
    out.append([chat, limiter.reserve_slot(chat).at])
print(json.dumps(out))
"""


def test_limits_hold_across_threads_and_processes(redis_conn, redis_url):
    """4 threads and 2 processes book 300 slots for 10 chats: no limit is ever exceeded."""
    limits = Limits()
    limiter = RedisLimiter(redis_conn, BOT_ID, limits)
    per_thread = 50
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, redis_url, BOT_ID, str(per_thread)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    booked: list[tuple[int, float, str, int]] = []  # chat, slot, who, sequence number
    lock = threading.Lock()

    def book(name: str) -> None:
        for n in range(per_thread):
            chat = 100 + n % 10
            at = limiter.reserve_slot(chat).at
            with lock:
                booked.append((chat, at, name, n))

    threads = [threading.Thread(target=book, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, child in enumerate(children):
        out, _ = child.communicate(timeout=30)
        assert child.returncode == 0
        booked += [(chat, at, f"p{index}", n) for n, (chat, at) in enumerate(json.loads(out))]

    assert len(booked) == 6 * per_thread
    every = [at for _, at, _, _ in booked]
    assert len(set(every)) == len(every)
    assert max_in_window(every) <= limits.global_rate
    assert min(b - a for a, b in itertools.pairwise(sorted(every))) >= (
        1 / limits.global_rate - EPS
    )
    by_chat = defaultdict(list)
    for chat, at, who, n in booked:
        by_chat[chat].append((at, who, n))
    for chat, slots in by_chat.items():
        times = [at for at, _, _ in slots]
        assert max_in_window(times) <= limits.chat_burst, chat
        assert accepted_by_bucket(times, limits.chat_rate, limits.chat_burst), chat
        # order: each booker's own reservations for the chat come out in booking order
        for who in {w for _, w, _ in slots}:
            mine = [(n, at) for at, w, n in slots if w == who]
            assert [at for _, at in sorted(mine)] == sorted(at for _, at in mine)
