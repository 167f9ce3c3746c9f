"""CreditCache against the real Redis, against a closed port, and under concurrent writes."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import pytest
import redis

from tarotbot import ledger
from tarotbot.cache import CreditCache, RedisCache


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def dead_redis():
    return redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=0.2)


class FlakyConnection(redis.Connection):
    """A real connection; the next ``fail`` commands (on any connection of this class)
    raise ConnectionError, as a network fault would."""

    fail = 0

    def send_command(self, *args, **kwargs):
        if FlakyConnection.fail > 0:
            FlakyConnection.fail -= 1
            raise redis.ConnectionError("injected network fault")
        return super().send_command(*args, **kwargs)


@pytest.fixture
def cache(redis_conn):
    c = CreditCache(redis_conn)
    ledger.set_credit_cache(c)
    return c


def test_key_layout_and_ttl(cache, redis_conn):
    assert cache.populate(7, 12, 3)
    assert redis_conn.get("credits:7") == b"12:3"
    assert 290 <= redis_conn.ttl("credits:7") <= 300
    assert cache.get(7) == 12


def test_older_version_never_overwrites_a_newer_one(cache, redis_conn):
    token = cache.begin_change(1)
    assert cache.finish_change(1, token, 5, 4)
    assert not cache.populate(1, 9, 3)  # a reader that read the database before the change
    assert not cache.finish_change(1, None, 9, 3)  # a writer that finished late
    assert cache.get(1) == 5
    assert cache.populate(1, 6, 5) and cache.get(1) == 6  # a newer version is fine


def test_a_writer_in_flight_makes_readers_miss_and_blocks_populate(cache, redis_conn):
    cache.populate(1, 10, 1)
    token = cache.begin_change(1)
    assert cache.get(1) is None
    assert not cache.populate(1, 10, 1)
    assert redis_conn.get("credits:1") is None
    cache.finish_change(1, token, 9, 2)
    assert cache.get(1) == 9


def test_two_writers_the_last_to_finish_does_not_win_with_an_older_version(cache):
    a = cache.begin_change(1)
    b = cache.begin_change(1)
    cache.finish_change(1, b, 3, 3)  # b committed second but finished first
    assert cache.get(1) is None  # a still in flight
    cache.finish_change(1, a, 4, 2)
    assert cache.get(1) == 3


def test_a_dead_writers_marker_expires_and_takes_the_value_with_it(redis_conn):
    cache = CreditCache(redis_conn)
    cache.dirty_ttl = 1  # seconds (instance override for the test)
    cache.begin_change(1)  # this writer dies before finishing
    other = cache.begin_change(1)
    cache.finish_change(1, other, 5, 7)  # stored while the dead writer's marker is live
    assert cache.get(1) is None
    time.sleep(1.1)
    # The dead writer may have committed something newer than version 7: the value goes.
    assert cache.get(1) is None
    assert redis_conn.get("credits:1") is None
    assert cache.populate(1, 4, 8) and cache.get(1) == 4


def test_redis_down_is_a_miss_and_ledger_writes_succeed(pg, make_user, dead_redis, caplog):
    cache = CreditCache(dead_redis)
    ledger.set_credit_cache(cache)
    user = make_user()
    with caplog.at_level(logging.WARNING, logger="tarotbot.cache"):
        assert ledger.grant_bonus(user, 3, key="b").balance_after == 3
        assert ledger.debit_reading(user, 1, key="d").balance_after == 2
        assert ledger.balance(user) == 2
    assert cache.get(user) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "falls back to the database" in warnings[0].getMessage()


def test_embedded_mode_has_no_cache(pg, make_user):
    ledger.set_credit_cache(CreditCache(client=None))
    user = make_user()
    ledger.grant_bonus(user, 2, key="b")
    assert ledger.balance(user) == 2


def test_write_through_after_commit(pg, make_user, cache, redis_conn):
    user = make_user()
    ledger.grant_bonus(user, 5, key="b")
    assert redis_conn.get(f"credits:{user}") == b"5:2"
    with pg.atomic():
        ledger.debit_reading(user, 2, key="d")
        assert redis_conn.get(f"credits:{user}") is None  # dirty until the outer commit
        assert cache.get(user) is None
    assert redis_conn.get(f"credits:{user}") == b"3:3"
    assert redis_conn.zcard(f"credits:{user}:writers") == 0


def test_outer_savepoint_rollback_does_not_cache_the_undone_change(pg, make_user, cache):
    user = make_user()
    ledger.grant_bonus(user, 5, key="b")
    with pg.atomic(), pytest.raises(RuntimeError), pg.atomic():
        ledger.debit_reading(user, 2, key="d")
        raise RuntimeError("inner work failed")
    assert ledger.balance(user) == 5
    assert cache.get(user) == 5


def test_failed_cache_write_invalidates(pg, make_user, redis_url):
    client = redis.Redis.from_url(redis_url, connection_class=FlakyConnection)
    cache = CreditCache(client)
    cache.retry_after = 0.0
    ledger.set_credit_cache(cache)
    user = make_user()
    ledger.grant_bonus(user, 5, key="b")
    assert cache.get(user) == 5
    # Redis unreachable before and after the change (mark, store, invalidate all
    # fail): the old value survives in Redis, but this process deletes it at its
    # next contact, before anything is read.
    FlakyConnection.fail = 3
    ledger.debit_reading(user, 2, key="d")
    assert FlakyConnection.fail == 0
    assert client.get(f"credits:{user}") == b"5:2"
    assert ledger.balance(user) == 3
    assert cache.get(user) == 3
    # Only the store after commit fails: the value goes, the marker stays (readers
    # miss and cannot repopulate until it expires).
    token = cache.begin_change(user)
    assert token is not None
    FlakyConnection.fail = 1
    assert not cache.finish_change(user, token, 1, 99)
    assert client.get(f"credits:{user}") is None
    assert cache.get(user) is None and not cache.populate(user, 3, 4)
    assert client.zcard(f"credits:{user}:writers") == 1


def test_json_helpers_and_down_behaviour(redis_conn, dead_redis):
    class Things(RedisCache):
        prefix = "things:"
        ttl = 60

    up = Things(redis_conn)
    assert up.set_json(1, {"a": [1, 2]}) and up.get_json(1) == {"a": [1, 2]}
    assert 55 <= redis_conn.ttl("things:1") <= 60
    up.delete(1)
    assert up.get_json(1) is None
    down = Things(dead_redis)
    assert down.get_json(1) is None and not down.set_json(1, 1) and not down.delete(1)


@pytest.mark.parametrize("nested", [False, True])
def test_no_reader_sees_a_balance_older_than_the_last_returned_commit(pg, make_user, cache, nested):
    """Readers hammer balance() while a writer debits: after each debit has returned,
    nobody may read the balance from before it (balances only fall here)."""
    user = make_user()
    start = 300
    ledger.grant_bonus(user, start, key="b")
    committed = [start]
    done = threading.Event()
    errors: list[str] = []
    reads = [0]
    hits = [0]

    def writer():
        try:
            for i in range(start):
                if nested:
                    with pg.atomic():
                        entry = ledger.debit_reading(user, 1, key=f"d{i}")
                else:
                    entry = ledger.debit_reading(user, 1, key=f"d{i}")
                committed[0] = entry.balance_after
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))
        finally:
            done.set()
            pg.close()

    def reader():
        try:
            while not done.is_set():
                floor = committed[0]
                if cache.get(user) is not None:
                    hits[0] += 1
                seen = ledger.balance(user)
                reads[0] += 1
                if seen > floor:
                    errors.append(f"read {seen} after {floor} was committed")
                    return
        finally:
            pg.close()

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    assert ledger.balance(user) == 0
    assert reads[0] > 100 and hits[0] > 0, (reads, hits)


def test_a_forked_child_opens_its_own_redis_connection(redis_conn):
    cache = CreditCache(redis_conn)
    cache.populate(1, 7, 2)
    assert cache.get(1) == 7  # the parent's own connection is open now
    parent_conn = cache._direct.conn
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: use the cache as a forked RQ work horse would
        code = 1
        try:
            ok = cache.get(1) == 7 and cache._direct.conn is not parent_conn
            cache.populate(2, 3, 1)
            os.write(write, b"ok" if ok else b"no")
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(child, 0)
    answer = os.read(read, 8)
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0 and answer == b"ok"
    assert cache._direct.conn is parent_conn and cache.get(1) == 7 and cache.get(2) == 3
