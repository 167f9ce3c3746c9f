"""Sessions, registration and periodic jobs against the real PostgreSQL and Redis."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from jobs import maintenance
from tarotbot import daily, ledger, users
from tarotbot.config import load_settings
from tarotbot.exceptions import DuplicatePayment, UnknownUser
from tarotbot.models import Reading, Transaction, User, utcnow
from tarotbot.readings import perform_reading
from tarotbot.sessions import Session, SessionCache
from tarotbot.tarot.spreads import get_spread


def test_registration_grants_the_welcome_bonus_once(pg):
    first = users.register(42, "ada", "Ada", bonus=5)
    again = users.register(42, "ada", "Ada", bonus=5)
    assert first.created and first.bonus == 5 and first.balance == 5
    assert not again.created and again.bonus == 0 and again.balance == 5
    assert Transaction.select().count() == 1
    assert ledger.balance(first.user.id) == 5


def test_a_reading_key_never_replays_another_persons_reading(pg):
    """Keys are scoped to the user; if one ever met another person's, nothing leaks."""
    settings = load_settings({})
    ada = users.register(50, None, "Ada", bonus=5).user
    bo = users.register(51, None, "Bo", bonus=5).user
    first = perform_reading(ada, "three", "Will it rain?", "reading-7", settings)
    again = perform_reading(ada, "three", "Will it rain?", "reading-7", settings)
    assert not first.replayed and again.replayed and again.reading.id == first.reading.id

    with pytest.raises(DuplicatePayment):  # the ledger refuses the other person's key ...
        perform_reading(bo, "three", "Am I loved?", "reading-7", settings)
    assert ledger.balance(bo.id) == 5  # ... and nothing of Ada's reading reached Bo
    assert Reading.select().where(Reading.user == bo.id).count() == 0


def test_a_retried_reading_after_a_tier_change_is_the_same_reading_charged_once(pg):
    """A retry finds its reading through the debit (no look-up first), even when the
    person's price changed in between (a subscription began): no second charge, no error."""
    settings = load_settings({})
    ada = users.register(52, None, "Ada", bonus=10).user
    first = perform_reading(ada, "celtic", "Where am I going?", "reading-8", settings)
    User.update(subscription_tier="premium", subscription_expires_at=None).where(
        User.id == ada.id
    ).execute()
    ada = users.by_telegram_id(52)
    again = perform_reading(ada, "celtic", "Where am I going?", "reading-8", settings)
    assert again.replayed and again.reading.id == first.reading.id
    assert again.draw.cards == first.draw.cards
    assert ledger.balance(ada.id) == 10 - get_spread("celtic").cost
    assert Transaction.select().where(Transaction.user == ada.id).count() == 2  # bonus, debit


def test_the_daily_card_is_offered_with_the_first_stored_reading_only(pg):
    """The offer is settled in the reading's own transaction: once per person, never with
    a replayed reading, never to someone who has the daily card already."""
    settings = load_settings({})
    ada = users.register(55, None, "Ada", bonus=10).user
    first = perform_reading(ada, "three", "Where to?", "reading-21", settings, offer_daily=True)
    again = perform_reading(ada, "three", "Where to?", "reading-21", settings, offer_daily=True)
    second = perform_reading(ada, "three", "And now?", "reading-22", settings, offer_daily=True)
    assert first.offer_daily and not again.offer_daily and not second.offer_daily
    assert User.get_by_id(ada.id).daily_offered
    bo = users.register(56, None, "Bo", bonus=10).user
    User.update(daily_enabled=True).where(User.id == bo.id).execute()
    assert not daily.may_offer(users.by_telegram_id(56))


def test_by_telegram_id_reads_the_whole_row(pg):
    """The precompiled look-up gives the same user as peewee's own query, unmodified."""
    registered = users.register(53, "bo", "Bo", bonus=1, language="ru").user
    found = users.by_telegram_id(53)
    assert found.__data__ == User.get(User.telegram_id == 53).__data__
    assert found.id == registered.id and found.language == "ru" and not found.is_dirty()
    with pytest.raises(UnknownUser):
        users.by_telegram_id(54)


def test_session_is_rebuilt_from_the_database_on_a_miss(pg, redis_conn):
    registration = users.register(43, None, "Bo", bonus=0)
    users.set_reversals(43, False)
    cache = SessionCache(redis_conn)
    session = cache.get(43)
    assert session == Session(43, registration.user.id, reversals=False)
    cache.set_state(43, "awaiting_question", spread="celtic")
    assert cache.get(43).spread == "celtic"
    assert redis_conn.ttl("session:43") <= SessionCache.SESSION_TTL
    redis_conn.flushdb()  # evicted: the user part comes back from PostgreSQL
    assert cache.get(43) == Session(43, registration.user.id, reversals=False)
    assert cache.get(999) is None


def test_one_question_is_taken_once_however_many_race_for_it(pg, redis_conn):
    registration = users.register(44, None, "Cy", bonus=0)
    cache = SessionCache(redis_conn)
    assert cache.take_question(44, 900) is None  # idle: nothing to take
    cache.set_state(44, "awaiting_question", spread="three")
    assert cache.take_question(44, 901, spread="celtic") is None  # a button of another prompt

    barrier = threading.Barrier(8)

    def race(update_id: int):
        barrier.wait()  # all at once, each on its own pooled connection
        return update_id, SessionCache(redis_conn).take_question(44, update_id, spread="three")

    with ThreadPoolExecutor(8) as pool:
        won = [(u, s) for u, s in pool.map(race, range(1000, 1008)) if s is not None]
    [(winner, session)] = won
    assert session.spread == "three" and session.user_id == registration.user.id
    after = cache.get(44)
    assert after.state == "idle" and after.spread is None
    # the winning update, redelivered after a crash, is answered the same way; no other is
    again = cache.take_question(44, winner)
    assert again is not None and again.spread == "three"
    assert cache.take_question(44, winner + 100) is None


def test_sessions_survive_redis_being_down(pg):
    registration = users.register(44, None, None, bonus=0)
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    cache = SessionCache(down)
    assert cache.get(44) == Session(44, registration.user.id)
    assert cache.set_state(44, "choosing") is not None  # logged, not raised


def test_stale_purchases_and_subscriptions_expire(pg):
    user = users.register(45, None, None, bonus=0).user
    ledger.start_purchase(user.id, 10, payment_reference="charge-x", key="pending-x")
    Transaction.update(created_at=utcnow() - dt.timedelta(hours=2)).execute()
    User.update(
        subscription_tier="premium", subscription_expires_at=utcnow() - dt.timedelta(days=1)
    ).where(User.id == user.id).execute()
    assert maintenance.expire_stale_purchases() == 1
    assert Transaction.get().status == "failed"
    assert maintenance.expire_subscriptions() == 1
    assert User.get_by_id(user.id).subscription_tier == "basic"
    assert maintenance.expire_stale_purchases() == 0


def test_scheduler_registers_each_periodic_job_once(app_env, redis_conn):
    from rq_scheduler import Scheduler

    from tarotbot.cli.runtime import PERIODIC_JOBS

    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "tarotbot", "scheduler", "--register-only"],
            env=app_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    jobs = list(Scheduler(queue_name="maintenance", connection=redis_conn).get_jobs())
    assert sorted(job.id for job in jobs) == sorted(job_id for job_id, _, _ in PERIODIC_JOBS)
    for job in jobs:
        assert job.result_ttl > job.meta.get("interval", 0)


def test_a_debit_without_a_reading_is_refunded(pg):
    user = users.register(46, None, None, bonus=5).user
    ledger.debit_reading(user.id, 2, key="reading-lost")
    assert maintenance.refund_orphan_debits() == 0  # too recent: the job may still be storing
    Transaction.update(created_at=utcnow() - dt.timedelta(hours=1)).execute()
    assert maintenance.refund_orphan_debits() == 1
    assert ledger.balance(user.id) == 5
    assert maintenance.refund_orphan_debits() == 0
    assert Transaction.get(Transaction.idempotency_key == "reading-lost").status == "refunded"
