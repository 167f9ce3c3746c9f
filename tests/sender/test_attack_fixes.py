"""Three money and input paths an attack with real processes found broken, each fixed.

Real RQ (burst workers in this process), PostgreSQL, Redis and the emulator
with the real pyTelegramBotAPI client.
"""

from __future__ import annotations

from rq import Queue, SimpleWorker

from jobs import credits
from jobs import readings as reading_jobs
from tarotbot import ledger
from tarotbot import users as accounts
from tarotbot.models import Reading, Transaction, User
from tarotbot.packs import PACKS, invoice_payload
from tarotbot.queue import QUEUE_PAYMENTS
from tarotbot.sessions import SessionCache
from tarotbot.tarot.safety import clean_question
from tarotbot.telegram.sender import report_drop

from .conftest import bot_texts
from .test_reading_failures import run_reading_job


def work_payments(conn) -> None:
    SimpleWorker([Queue(QUEUE_PAYMENTS, connection=conn)], connection=conn).work(
        burst=True, logging_level="WARNING"
    )


def test_a_reading_to_someone_who_blocked_the_bot_is_refunded_and_they_go_inactive(
    app, emulator, users, make_sender
):
    app.set_sender(make_sender(on_dropped=report_drop(app)))
    users(5301)
    person = accounts.register(5301, None, "Ada", bonus=5).user
    emulator.block(5301)  # after the question, before the reading is sent

    run_reading_job(app.redis, 5301, "reading-5301-1")
    work_payments(app.redis)  # the job the sender handed the dropped bundle to

    assert Reading.select().where(Reading.user == person.id).count() == 1  # stored, in /history
    assert ledger.balance(person.id) == 5  # charged 2, refunded 2
    refund = Transaction.get(Transaction.type == "refund")
    assert refund.refund_of.idempotency_key == "reading-5301-1"
    assert User.get_by_id(person.id).is_active is False
    # the failure callback of a job that later fails for good refunds nothing twice
    assert reading_jobs._refund_undelivered("reading-5301-1").replayed
    assert Transaction.select().where(Transaction.type == "refund").count() == 1

    # writing again (the bot finds the note) marks them active
    assert SessionCache(app.redis).take_inactive(5301)
    assert not SessionCache(app.redis).take_inactive(5301)
    credits.mark_active(5301)
    assert User.get_by_id(person.id).is_active is True


def test_an_instant_reply_to_a_blocked_chat_marks_inactive_and_refunds_nothing(
    app, emulator, users, make_sender
):
    app.set_sender(make_sender(on_dropped=report_drop(app)))
    users(5302)
    person = accounts.register(5302, None, "Bo", bonus=5).user
    emulator.block(5302)

    from tarotbot.telegram import replies

    result = app.sender.deliver("u5302-77", 5302, [replies.text(5302, "hi")], at_most_once=True)
    work_payments(app.redis)

    assert result.unreachable and result.dropped == [0]
    assert User.get_by_id(person.id).is_active is False
    assert Transaction.select().where(Transaction.type == "refund").count() == 0
    assert ledger.balance(person.id) == 5


NASTY = "Ada\x00\ud800 \x07Lovelace\u202e"


def test_a_payer_with_a_nul_in_their_name_is_registered_and_credited(app, emulator, users):
    users(5303)
    pack = PACKS[0]
    args = (5303, 5303, "charge-5303", invoice_payload(pack, 5303), "XTR", pack.stars)

    result = credits.record_payment(*args, "ada\x00x", NASTY)

    assert not result["replayed"]
    person = User.get(User.telegram_id == 5303)
    assert person.first_name == "Ada Lovelace\u202e" and person.username == "adax"
    assert ledger.balance(person.id) == app.settings.welcome_bonus + pack.credits
    assert "credits were added" in bot_texts(emulator, 5303)[-1]


def test_a_start_with_a_nul_in_the_name_gets_its_welcome(app, emulator, users):
    users(5304)

    credits.register_user(5304, 5304, "\x00", "\x00Zoë\x00", "start-5304-1")

    assert User.get(User.telegram_id == 5304).first_name == "Zoë"
    assert User.get(User.telegram_id == 5304).username is None
    assert "Welcome, Zoë." in bot_texts(emulator, 5304)[-1]


def test_a_question_with_a_nul_or_a_surrogate_is_cleaned():
    assert clean_question("Will\x00 it\ud800 rain?") == "Will it rain?"


def test_a_history_cursor_past_the_end_shows_the_newest_page(app, emulator, users):
    users(5305)
    accounts.register(5305, None, "Cy", bonus=5)
    run_reading_job(app.redis, 5305, "reading-5305-1")
    before = len(bot_texts(emulator, 5305))

    result = reading_jobs.show_history(5305, 5305, "zzzzzzzz.1", "older", None, "history-5305-2")

    assert result == {"status": "shown", "count": 1}
    shown = bot_texts(emulator, 5305)[before:]
    assert shown == ["📜 Your readings (newest first). Tap one to open it again."]
