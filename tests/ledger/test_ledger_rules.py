"""The ledger's rules on PostgreSQL: each operation, its replay, its refusals."""

from __future__ import annotations

import datetime as dt
import threading
import time

import peewee
import psycopg2
import pytest
from playhouse.test_utils import count_queries

from tarotbot import audit, ledger
from tarotbot.exceptions import (
    ConflictDetected,
    DuplicatePayment,
    InsufficientCredits,
    InvalidTransition,
    NotRefundable,
    UnknownTransaction,
    UnknownUser,
)
from tarotbot.models import Credit, Reading, Transaction


def _rows(db) -> int:
    """How many transactions rows exist."""
    return Transaction.select().count()


def _assert_clean():
    report = audit.run_audit()
    assert report.ok, audit.format_table(report.violations)


def test_bonus_debit_and_their_rows(pg, make_user):
    user = make_user()
    bonus = ledger.grant_bonus(user, 5, key="welcome-1", reason="welcome")
    assert (bonus.type, bonus.amount, bonus.balance_before, bonus.balance_after) == (
        "bonus",
        5,
        0,
        5,
    )
    assert bonus.status == "completed" and not bonus.replayed and bonus.key == "welcome-1"
    debit = ledger.debit_reading(user, 3, key="job-1")
    assert (debit.type, debit.amount, debit.balance_before, debit.balance_after) == (
        "reading",
        -3,
        5,
        2,
    )
    row = Transaction.get_by_id(debit.transaction_id)
    assert (row.credits_before, row.credits_after, row.credits_version) == (5, 2, 3)
    assert row.completed_at is not None and row.idempotency_key == "job-1"
    credit = Credit.get(Credit.user == user)
    assert (credit.balance, credit.version) == (2, 3)
    assert ledger.balance(user) == 2
    _assert_clean()


def test_replay_returns_the_first_result_and_writes_nothing(pg, make_user):
    user = make_user()
    first = ledger.grant_bonus(user, 5, key="k1")
    again = ledger.grant_bonus(user, 5, key="k1")
    assert again.replayed and again == ledger.LedgerEntry(**{**first.__dict__, "replayed": True})
    debit = ledger.debit_reading(user, 2, key="k2")
    assert ledger.debit_reading(user, 2, key="k2").transaction_id == debit.transaction_id
    assert _rows(pg) == 2 and ledger.balance(user) == 3


@pytest.mark.parametrize(
    "call",
    [
        lambda u, o: ledger.grant_bonus(u, 6, key="same"),  # other amount
        lambda u, o: ledger.debit_reading(u, 5, key="same"),  # other type
        lambda u, o: ledger.grant_bonus(o, 5, key="same"),  # other user
        lambda u, o: ledger.credit_purchase(u, 5, "pay-x", key="same"),
    ],
)
def test_same_key_for_something_else_is_refused_loudly(pg, make_user, call):
    user, other = make_user(), make_user()
    ledger.grant_bonus(user, 5, key="same")
    with pytest.raises(DuplicatePayment):
        call(user, other)
    assert _rows(pg) == 1 and ledger.balance(user) == 5 and ledger.balance(other) == 0


def test_insufficient_credits_writes_nothing(pg, make_user):
    user = make_user()
    ledger.grant_bonus(user, 2, key="b")
    with pytest.raises(InsufficientCredits) as info:
        ledger.debit_reading(user, 3, key="d")
    assert (info.value.balance, info.value.needed) == (2, 3)
    assert _rows(pg) == 1 and ledger.balance(user) == 2
    assert Credit.get(Credit.user == user).version == 2
    # The key was not consumed: once the user has credits it works.
    ledger.grant_bonus(user, 1, key="b2")
    assert ledger.debit_reading(user, 3, key="d").balance_after == 0


def test_debit_without_an_account_is_insufficient(pg, make_user):
    user = make_user(open_account=False)
    with pytest.raises(InsufficientCredits):
        ledger.debit_reading(user, 1, key="d")
    assert Credit.select().count() == 0 and ledger.balance(user) == 0


def test_open_account_is_idempotent_and_bonus_opens_it(pg, make_user):
    user = make_user(open_account=False)
    ledger.open_account(user)
    ledger.open_account(user)
    assert Credit.select().where(Credit.user == user).count() == 1
    other = make_user(open_account=False)
    assert ledger.grant_bonus(other, 4, key="b").balance_after == 4
    with pytest.raises(UnknownUser):
        ledger.open_account(999_999)
    with pytest.raises(UnknownUser):
        ledger.grant_bonus(999_999, 1, key="nobody")


def test_check_constraint_stops_a_raw_negative_update(pg, make_user):
    user = make_user()
    ledger.grant_bonus(user, 1, key="b")
    with pytest.raises(peewee.IntegrityError), pg.atomic():
        pg.execute_sql("UPDATE credits SET balance = balance - 2 WHERE user_id = %s", (user,))
    assert ledger.balance(user) == 1


def test_purchase_pending_then_completed_once(pg, make_user):
    user = make_user()
    pending = ledger.start_purchase(user, 10, "invoice-1", key="p1")
    assert pending.status == "pending" and (pending.balance_before, pending.balance_after) == (
        0,
        10,
    )
    assert ledger.balance(user) == 0
    assert ledger.start_purchase(user, 10, "invoice-1", key="p1").replayed
    done = ledger.complete_purchase("p1", payment_reference="charge-1")
    assert done.status == "completed" and not done.replayed and done.balance_after == 10
    again = ledger.complete_purchase("p1")
    assert again.replayed and again.transaction_id == done.transaction_id
    assert ledger.balance(user) == 10
    assert Transaction.get_by_id(done.transaction_id).payment_reference == "charge-1"
    # The same payment cannot be credited again under another key.
    replay = ledger.credit_purchase(user, 10, "charge-1", key="charge-1")
    assert replay.replayed and replay.transaction_id == done.transaction_id
    with pytest.raises(DuplicatePayment):
        ledger.credit_purchase(user, 11, "charge-1", key="charge-1b")
    assert ledger.balance(user) == 10
    _assert_clean()


def test_purchase_completed_late_keeps_the_chain(pg, make_user):
    user = make_user()
    ledger.start_purchase(user, 10, "inv", key="p")
    ledger.grant_bonus(user, 3, key="b")
    ledger.debit_reading(user, 2, key="d")
    done = ledger.complete_purchase("p")
    assert (done.balance_before, done.balance_after) == (1, 11)
    _assert_clean()


def test_failed_purchase_never_counts(pg, make_user):
    user = make_user()
    ledger.start_purchase(user, 10, "inv", key="p")
    failed = ledger.fail_purchase("p", "card declined")
    assert failed.status == "failed" and not failed.replayed
    assert ledger.fail_purchase("p", "again").replayed
    with pytest.raises(InvalidTransition):
        ledger.complete_purchase("p")
    with pytest.raises(InvalidTransition):
        ledger.credit_purchase(user, 10, "charge", key="p")
    assert Transaction.get(Transaction.idempotency_key == "p").error_message == "card declined"
    # A payment that did arrive is credited under its own key.
    assert ledger.credit_purchase(user, 10, "charge", key="charge").balance_after == 10
    with pytest.raises(UnknownTransaction):
        ledger.complete_purchase("nope")
    with pytest.raises(InvalidTransition):
        ledger.fail_purchase("charge", "too late")
    _assert_clean()


def test_credit_purchase_completes_a_pending_row(pg, make_user):
    user = make_user()
    started = ledger.start_purchase(user, 7, "invoice", key="k")
    done = ledger.credit_purchase(user, 7, "charge-7", key="k")
    assert done.transaction_id == started.transaction_id and done.status == "completed"
    assert ledger.balance(user) == 7


def test_expire_stale_purchases(pg, make_user):
    user = make_user()
    ledger.start_purchase(user, 5, "old", key="old")
    ledger.start_purchase(user, 5, "new", key="new")
    pg.execute_sql(
        "UPDATE transactions SET created_at = created_at - INTERVAL '2 hours' "
        "WHERE idempotency_key = 'old'"
    )
    assert ledger.expire_stale_purchases(dt.timedelta(hours=1)) == 1
    assert ledger.find("old").status == "failed" and ledger.find("new").status == "pending"
    assert ledger.expire_stale_purchases(dt.timedelta(0)) == 1
    _assert_clean()


def test_refund_restores_a_debit_once(pg, make_user):
    user = make_user()
    ledger.grant_bonus(user, 5, key="b")
    ledger.debit_reading(user, 3, key="d")
    refund = ledger.refund("d", key="r", reason="reading failed")
    assert (refund.type, refund.amount, refund.balance_after) == ("refund", 3, 5)
    assert ledger.find("d").status == "refunded"
    original = Transaction.get(Transaction.idempotency_key == "d")
    assert (original.amount, original.credits_before, original.credits_after) == (-3, 5, 2)
    assert ledger.refund("d", key="r", reason="x").replayed
    second = ledger.refund("d", key="r-other", reason="sweeper")
    assert second.replayed and second.transaction_id == refund.transaction_id
    assert ledger.balance(user) == 5
    with pytest.raises(NotRefundable):
        ledger.refund("b", key="rb", reason="no")
    with pytest.raises(NotRefundable):
        ledger.refund("r", key="rr", reason="no")
    with pytest.raises(UnknownTransaction):
        ledger.refund("missing", key="rm", reason="no")
    with pytest.raises(DuplicatePayment):
        ledger.refund("d", key="b", reason="key of the bonus")
    _assert_clean()


def test_refund_of_a_spent_purchase_is_insufficient(pg, make_user):
    user = make_user()
    ledger.credit_purchase(user, 5, "charge", key="c")
    ledger.debit_reading(user, 4, key="d")
    with pytest.raises(InsufficientCredits):
        ledger.refund("c", key="rc", reason="refund requested")
    ledger.grant_bonus(user, 10, key="b")
    assert ledger.refund("c", key="rc", reason="refund requested").amount == -5
    assert ledger.balance(user) == 6
    _assert_clean()


def test_nested_in_an_outer_transaction_commits_with_it(pg, make_user):
    user = make_user()
    ledger.grant_bonus(user, 5, key="b")
    with pg.atomic():
        entry = ledger.debit_reading(user, 2, key="d")
        Reading.create(
            user=user,
            spread_type="single",
            cards={"cards": []},
            interpretation="x",
            transaction=entry.transaction_id,
        )
        assert ledger.balance(user) == 3
    assert ledger.balance(user) == 3
    with pytest.raises(RuntimeError), pg.atomic():
        ledger.debit_reading(user, 2, key="d2")
        raise RuntimeError("the reading could not be stored")
    assert ledger.balance(user) == 3 and ledger.find("d2") is None
    _assert_clean()


def test_nested_inner_rollback_keeps_the_outer_work(pg, make_user):
    user = make_user()
    ledger.grant_bonus(user, 5, key="b")
    with pg.atomic():
        ledger.debit_reading(user, 1, key="d1")
        with pytest.raises(InsufficientCredits):
            ledger.debit_reading(user, 10, key="d2")
        ledger.debit_reading(user, 1, key="d3")  # the outer transaction is still usable
    assert ledger.balance(user) == 3
    _assert_clean()


def test_a_debit_is_three_statements(pg, make_user):
    user = make_user()
    ledger.grant_bonus(user, 5, key="b")
    with count_queries() as counter:
        ledger.debit_reading(user, 1, key="d")
    assert counter.count == 1, counter.get_queries()


def _bump_version_concurrently(pg_url, user, hold=0.3):
    """Another connection changes the user's credits row and commits after ``hold`` s,
    while we are between reading the version and updating the row."""
    conn = psycopg2.connect(pg_url)
    cur = conn.cursor()
    cur.execute("UPDATE credits SET version = version + 1 WHERE user_id = %s", (user,))
    timer = threading.Timer(hold, lambda: (conn.commit(), conn.close()))
    timer.start()
    return timer


@pytest.mark.parametrize("attempts, conflicts", [(1, True), (2, False)])
def test_conflicts_are_retried_then_reported(
    pg, pg_url, make_user, monkeypatch, attempts, conflicts
):
    user = make_user()
    ledger.grant_bonus(user, 5, key="b")
    monkeypatch.setattr(ledger.core, "MAX_ATTEMPTS", attempts)
    timer = _bump_version_concurrently(pg_url, user)
    try:
        if conflicts:
            with pytest.raises(ConflictDetected):
                ledger.debit_reading(user, 1, key="d")
            assert ledger.find("d") is None and ledger.balance(user) == 5
        else:
            assert ledger.debit_reading(user, 1, key="d").balance_after == 4
    finally:
        timer.join()


def test_sqlite_check_constraint_and_rules(sqlite_db, make_user):
    user = make_user()
    ledger.grant_bonus(user, 1, key="b")
    with pytest.raises(peewee.IntegrityError), sqlite_db.atomic():
        sqlite_db.execute_sql("UPDATE credits SET balance = balance - 2 WHERE user_id = ?", (user,))
    assert ledger.debit_reading(user, 1, key="d").balance_after == 0
    with pytest.raises(InsufficientCredits):
        ledger.debit_reading(user, 1, key="d2")
    ledger.start_purchase(user, 3, "old", key="p")
    assert ledger.expire_stale_purchases(dt.timedelta(0)) == 1
    _assert_clean()


def _hold_then_commit(pg, started, work):
    """Thread body: run ``work`` in an outer transaction, signal, hold it open, commit."""
    with pg.atomic():
        work()
        started.set()
        time.sleep(0.3)
    pg.close()


def test_nested_loser_of_a_unique_race_retries_its_savepoint_only(pg, make_user):
    """B's INSERT waits for A's uncommitted row with the same key, then fails on the
    unique index; only B's savepoint is rolled back, the retry reads A's row."""
    a, b = make_user(), make_user()
    ledger.grant_bonus(b, 1, key="b-start")
    started = threading.Event()
    holder = threading.Thread(
        target=_hold_then_commit,
        args=(pg, started, lambda: ledger.grant_bonus(a, 5, key="shared")),
    )
    holder.start()
    assert started.wait(10)
    with pg.atomic():
        with pytest.raises(DuplicatePayment):
            ledger.grant_bonus(b, 5, key="shared")  # another user: refused after the retry
        entry = ledger.debit_reading(b, 1, key="b-debit")  # the outer transaction lives on
    holder.join(10)
    assert entry.balance_after == 0 and ledger.balance(a) == 5
    _assert_clean()


def test_a_debit_without_savepoint_answers_a_race_with_the_winner(pg, make_user):
    """``savepoint=False`` (a reading's debit): no SAVEPOINT round trips. A debit that
    races another run of its key waits for it and then answers with the winner's debit
    (the change is one statement: no error, the enclosing transaction lives on); charged
    once."""
    user = make_user()
    ledger.grant_bonus(user, 5, key="start")
    with count_queries() as counted, pg.atomic():
        entry = ledger.debit_reading(user, 1, key="alone", savepoint=False)
    assert not entry.replayed and entry.balance_after == 4
    assert not [q for q in counted.get_queries() if "SAVEPOINT" in str(q.msg).upper()]

    started = threading.Event()
    holder = threading.Thread(
        target=_hold_then_commit,
        args=(pg, started, lambda: ledger.debit_reading(user, 2, key="raced")),
    )
    holder.start()
    assert started.wait(10)
    with pg.atomic():
        raced = ledger.debit_reading(user, 2, key="raced", savepoint=False)
        Credit.select().count()  # the transaction is still usable
    holder.join(10)
    assert raced.replayed and ledger.balance(user) == 2
    _assert_clean()


def test_nested_payment_race_returns_the_winner(pg, make_user):
    user = make_user()
    started = threading.Event()
    holder = threading.Thread(
        target=_hold_then_commit,
        args=(pg, started, lambda: ledger.credit_purchase(user, 5, "charge-9", key="job-1")),
    )
    holder.start()
    assert started.wait(10)
    with pg.atomic():
        entry = ledger.credit_purchase(user, 5, "charge-9", key="job-2")  # a second job
    holder.join(10)
    assert entry.replayed and entry.key == "job-1"
    assert ledger.balance(user) == 5 and ledger.find("job-2") is None
    _assert_clean()
