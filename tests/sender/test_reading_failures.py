"""A reading job that fails for good: the person is told the truth and never pays for nothing.

Real RQ (a burst SimpleWorker in this process, so a fault can be injected),
PostgreSQL, Redis and the emulator with the real client.
"""

from __future__ import annotations

from rq import Callback, Queue, Retry, SimpleWorker

from jobs import readings as reading_jobs
from tarotbot import ledger
from tarotbot import users as accounts
from tarotbot.models import Reading, Transaction
from tarotbot.queue import QUEUE_READINGS

from .conftest import bot_texts


def run_reading_job(conn, telegram_id: int, key: str) -> None:
    """Enqueue a reading as the bot does (one retry here) and work until it is done."""
    queue = Queue(QUEUE_READINGS, connection=conn)
    queue.enqueue(
        "jobs.readings.run_reading",
        telegram_id,
        telegram_id,
        "three",
        "Will it rain?",
        key,
        job_id=key,
        retry=Retry(max=1),
        on_failure=Callback("jobs.readings.reading_failed"),
    )
    SimpleWorker([queue], connection=conn).work(burst=True, logging_level="WARNING")


def failing(problem: str):
    """A stand-in that always raises RuntimeError(problem)."""

    def broken(*args, **kwargs):
        raise RuntimeError(problem)

    return broken


def test_reading_stored_but_never_sent_is_refunded(app, emulator, users, monkeypatch):
    users(5001)
    person = users_register(5001)

    monkeypatch.setattr(reading_jobs, "render_spread", failing("the renderer broke"))
    run_reading_job(app.redis, 5001, "reading-5001-1")

    [reading] = Reading.select().where(Reading.user == person.id)
    assert ledger.balance(person.id) == 5  # charged 2, refunded 2
    refund = Transaction.get(Transaction.type == "refund")
    assert refund.amount == 2 and refund.refund_of.idempotency_key == "reading-5001-1"
    assert refund.refund_of.status == "refunded" and reading.transaction_id == refund.refund_of.id
    [told] = bot_texts(emulator, 5001)
    assert "could not send it" in told and "2 credits are back" in told
    assert "not charged" not in told


def test_reading_never_stored_says_nothing_was_charged(app, emulator, users, monkeypatch):
    users(5002)
    person = users_register(5002)

    monkeypatch.setattr(reading_jobs, "perform_reading", failing("the database went away"))
    run_reading_job(app.redis, 5002, "reading-5002-1")

    assert ledger.balance(person.id) == 5
    assert Transaction.select().where(Transaction.user == person.id).count() == 1  # the bonus
    [told] = bot_texts(emulator, 5002)
    assert "You were not charged" in told


def users_register(telegram_id: int):
    """A registered person holding the five-credit welcome bonus."""
    return accounts.register(telegram_id, None, "Ada", bonus=5).user


def test_a_reading_the_balance_no_longer_covers_is_refused_without_a_charge(app, emulator, users):
    """The bot checks the balance at the spread menu; the job checks again, authoritatively."""
    users(5003)
    person = users_register(5003)
    ledger.debit_reading(person.id, 4, key="spent-elsewhere")  # 1 credit left

    result = reading_jobs.run_reading(5003, 5003, "three", None, "reading-5003-1")

    assert result == {"status": "insufficient-credits"}
    assert ledger.balance(person.id) == 1 and Reading.select().count() == 0
    [told] = bot_texts(emulator, 5003)
    assert "needs 2 credits and you hold 1" in told and "You were not charged" in told


def test_a_reading_job_run_again_long_after_is_not_sent_twice(app, emulator, users):
    """An update redelivered after the delivery records expired runs its job again:
    PostgreSQL knows the reading, so nothing is charged or sent a second time."""
    import datetime as dt

    from tarotbot.telegram.chat_turns import DONE_TTL

    users(5004)
    person = users_register(5004)
    run_reading_job(app.redis, 5004, "reading-5004-1")
    sent = len(bot_texts(emulator, 5004))
    assert sent >= 1 and ledger.balance(person.id) == 3
    app.redis.flushdb()  # the delivery records and job records are long gone
    long_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=DONE_TTL + 60)
    Reading.update(created_at=long_ago).execute()

    run_reading_job(app.redis, 5004, "reading-5004-1")

    assert len(bot_texts(emulator, 5004)) == sent
    assert ledger.balance(person.id) == 3
    assert Reading.select().count() == 1
