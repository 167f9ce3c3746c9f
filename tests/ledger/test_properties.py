"""Property tests of the ledger rules (hypothesis, on SQLite, cache on fakeredis).

Random sequences of operations over two users and a small pool of keys (so
keys collide: replays, duplicates, completing what was never started). After
every step: the balance is the sum of applied amounts and never negative;
a refused or replayed operation changed nothing; a replay returns the first
result; the same key with another amount is refused; a refund restores what
the debit took; the cached balance equals the database's; the audit is clean.
"""

from __future__ import annotations

import fakeredis
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tarotbot import audit, ledger
from tarotbot.cache import CreditCache
from tarotbot.exceptions import (
    DuplicatePayment,
    InsufficientCredits,
    InvalidTransition,
    NotRefundable,
    UnknownTransaction,
)
from tarotbot.models import User

EXPECTED = (
    InsufficientCredits,
    InvalidTransition,
    NotRefundable,
    UnknownTransaction,
    DuplicatePayment,
)

KEYS = [f"k{i}" for i in range(6)]
user_index = st.integers(0, 1)
amount = st.integers(1, 6)
key = st.sampled_from(KEYS)

operation = st.one_of(
    st.tuples(st.just("bonus"), user_index, amount, key),
    st.tuples(st.just("debit"), user_index, amount, key),
    st.tuples(st.just("start"), user_index, amount, key),
    st.tuples(st.just("credit"), user_index, amount, key),
    st.tuples(st.just("complete"), key),
    st.tuples(st.just("fail"), key),
    st.tuples(st.just("refund"), key, key),
)

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _reset(db, fake) -> list[int]:
    for table in ("readings", "transactions", "credits", "users"):
        db.execute_sql(f"DELETE FROM {table}")
    fake.flushall()
    return [User.create(telegram_id=1000 + i).id for i in range(2)]


def _snapshot(db) -> tuple:
    return (
        db.execute_sql("SELECT * FROM transactions ORDER BY id").fetchall(),
        db.execute_sql("SELECT user_id, balance, version FROM credits ORDER BY id").fetchall(),
    )


def _applied_sum(db, user_id: int) -> int:
    return db.execute_sql(
        "SELECT COALESCE(SUM(amount), 0) FROM transactions "
        "WHERE user_id = ? AND status IN ('completed', 'refunded')",
        (user_id,),
    ).fetchone()[0]


def _db_balance(db, user_id: int) -> int:
    row = db.execute_sql("SELECT balance FROM credits WHERE user_id = ?", (user_id,)).fetchone()
    return 0 if row is None else row[0]


def _call(op: tuple, users: list[int], bump: int = 0):
    kind = op[0]
    if kind == "bonus":
        return ledger.grant_bonus(users[op[1]], op[2] + bump, key=op[3])
    if kind == "debit":
        return ledger.debit_reading(users[op[1]], op[2] + bump, key=op[3])
    if kind == "start":
        return ledger.start_purchase(users[op[1]], op[2] + bump, f"pay-{op[3]}", key=op[3])
    if kind == "credit":
        return ledger.credit_purchase(users[op[1]], op[2] + bump, f"pay-{op[3]}", key=op[3])
    if kind == "complete":
        return ledger.complete_purchase(op[1])
    if kind == "fail":
        return ledger.fail_purchase(op[1], "declined")
    if kind == "refund":
        return ledger.refund(op[1], key=f"refund-{op[2]}", reason="test")
    raise AssertionError(kind)


@pytest.fixture
def fake_cache():
    fake = fakeredis.FakeRedis()
    ledger.set_credit_cache(CreditCache(fake))
    return fake


@SETTINGS
@given(ops=st.lists(operation, min_size=1, max_size=20))
def test_ledger_rules_hold_for_any_sequence(sqlite_db, fake_cache, ops):
    db = sqlite_db
    users = _reset(db, fake_cache)
    for op in ops:
        before = _snapshot(db)
        balances = {u: _db_balance(db, u) for u in users}
        try:
            entry = _call(op, users)
        except EXPECTED as exc:
            event(f"{op[0]}: {type(exc).__name__}")
            assert _snapshot(db) == before, f"{op} was refused but wrote"
            continue
        event(f"{op[0]}: {'replayed' if entry.replayed else entry.status}")
        after = _snapshot(db)
        if entry.replayed:
            assert after == before, f"replay of {op} wrote"
        else:
            moved = entry.amount if entry.status == "completed" else 0
            assert _db_balance(db, entry.user_id) == balances[entry.user_id] + moved
            if op[0] == "refund" and entry.type == "refund":
                assert entry.balance_after == balances[entry.user_id] + entry.amount
        # The same call again is a replay of this result and writes nothing.
        again = _call(op, users)
        assert again.replayed and again.transaction_id == entry.transaction_id
        assert again.status == _call(op, users).status
        assert _snapshot(db) == after
        # The key with another amount is refused loudly.
        if op[0] in ("bonus", "debit", "start", "credit"):
            with pytest.raises(DuplicatePayment):
                _call(op, users, bump=1)
            assert _snapshot(db) == after
        for u in users:
            stored = _db_balance(db, u)
            assert stored >= 0
            assert stored == _applied_sum(db, u)
            assert ledger.balance(u) == stored  # via the cache
    report = audit.run_audit(batch_size=1)
    assert report.ok, audit.format_table(report.violations)


@SETTINGS
@given(credits=st.integers(1, 50), cost=st.integers(1, 50))
def test_refund_restores_the_debit(sqlite_db, fake_cache, credits, cost):
    users = _reset(sqlite_db, fake_cache)
    ledger.grant_bonus(users[0], credits, key="b")
    try:
        debit = ledger.debit_reading(users[0], cost, key="d")
    except InsufficientCredits:
        assert cost > credits and ledger.balance(users[0]) == credits
        return
    assert ledger.balance(users[0]) == credits - cost == debit.balance_after
    refund = ledger.refund("d", key="r", reason="reading failed")
    assert refund.amount == cost and refund.balance_after == credits
    assert ledger.balance(users[0]) == credits
    assert ledger.refund("d", key="r2", reason="again").transaction_id == refund.transaction_id
    assert ledger.balance(users[0]) == credits
