"""``python -m tarotbot audit``: 0 on a clean ledger, 1 and a table on a corrupted one."""

from __future__ import annotations

import pytest

from tarotbot import audit, ledger
from tarotbot.models import Reading


def _build_clean_ledger(make_user) -> tuple[int, int]:
    alice, bob = make_user(), make_user()
    ledger.grant_bonus(alice, 5, key="welcome-a", reason="welcome")
    ledger.grant_bonus(bob, 5, key="welcome-b", reason="welcome")
    ledger.start_purchase(alice, 20, "invoice-1", key="p1")
    debit = ledger.debit_reading(alice, 3, key="read-1")
    Reading.create(
        user=alice,
        spread_type="three",
        cards={"cards": []},
        interpretation="…",
        transaction=debit.transaction_id,
    )
    ledger.complete_purchase("p1", payment_reference="charge-1")
    ledger.debit_reading(bob, 2, key="read-2")
    ledger.refund("read-2", key="refund-2", reason="the picture failed")
    ledger.start_purchase(bob, 10, "invoice-2", key="p2")
    ledger.fail_purchase("p2", "declined")
    return alice, bob


def _env(app_env):
    return {k: v for k, v in app_env.items() if k != "REDIS_URL"}


def test_clean_ledger_exits_zero(pg, make_user, app_env, audit_cli):
    _build_clean_ledger(make_user)
    result = audit_cli(_env(app_env))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ledger consistent: 2 users, 7 transactions"
    assert "\r" not in result.stderr  # not a terminal (a PaaS log): no progress bar


def test_the_progress_bar_shows_on_a_terminal(pg, make_user, app_env):
    import os
    import pty
    import subprocess
    import sys

    _build_clean_ledger(make_user)
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tarotbot", "audit"],
            env=_env(app_env),
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=120,
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: everything was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    assert b"audit" in drawn and b"user" in drawn  # tqdm's bar: "audit: 100%|...| 2/2 [...user/s]"


def test_raw_balance_update_is_reported(pg, make_user, app_env, audit_cli):
    alice, _ = _build_clean_ledger(make_user)
    pg.execute_sql("UPDATE credits SET balance = balance + 5 WHERE user_id = %s", (alice,))
    result = audit_cli(_env(app_env), "--no-progress")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["user", "check", "expected", "actual"]
    assert any(line.split()[:2] == [str(alice), "balance"] and "27" in line for line in lines)
    assert result.stderr.startswith("error: 1 ledger violation(s)")


def test_broken_chain_and_arithmetic_are_reported(pg, make_user, app_env, audit_cli):
    alice, bob = _build_clean_ledger(make_user)
    # A row edited consistently in itself, but no longer following its predecessor.
    pg.execute_sql(
        "UPDATE transactions SET credits_before = credits_before + 1, "
        "credits_after = credits_after + 1 WHERE idempotency_key = 'read-1'"
    )
    pg.execute_sql("UPDATE transactions SET credits_after = 0 WHERE idempotency_key = 'read-2'")
    result = audit_cli(_env(app_env), "--no-progress")
    assert result.returncode == 1
    checks = {tuple(line.split()[:2]) for line in result.stdout.splitlines()[2:]}
    assert (str(alice), "chain") in checks
    assert (str(bob), "row_arithmetic") in checks


def test_reading_without_its_debit_and_refund_links(pg, make_user):
    _, bob = _build_clean_ledger(make_user)
    bonus = ledger.find("welcome-b")
    Reading.create(
        user=bob,
        spread_type="single",
        cards={},
        interpretation="x",
        transaction=bonus.transaction_id,
    )
    pg.execute_sql("UPDATE transactions SET status = 'completed' WHERE idempotency_key = 'read-2'")
    report = audit.run_audit(batch_size=1)
    found = {(v.user_id, v.check) for v in report.violations}
    assert (bob, "reading_debit") in found
    assert (bob, "refund_link") in found  # refunded row turned back to completed


def test_payment_credited_twice_is_reported(pg, make_user):
    alice, _ = _build_clean_ledger(make_user)
    with pg.atomic() as txn:  # the unique index forbids it: drop it for this transaction only
        pg.execute_sql("DROP INDEX idx_transactions_payment_once")
        pg.execute_sql(
            "INSERT INTO transactions (user_id, type, amount, credits_before, credits_after, "
            "status, payment_reference) VALUES (%s, 'purchase', 0, 0, 0, 'completed', 'charge-1')",
            (alice,),
        )
        report = audit.run_audit()
        txn.rollback()
    assert any(v.check == "payment_once" and v.actual == "2 times" for v in report.violations)
    assert audit.run_audit().ok


def test_audit_walks_users_in_batches(pg, make_user):
    users = [make_user() for _ in range(7)]
    for i, user in enumerate(users):
        ledger.grant_bonus(user, i + 1, key=f"b{i}")
    seen = []
    report = audit.run_audit(batch_size=3, on_users=seen.append)
    assert seen == [3, 3, 1] and report.users == 7 and report.ok
    with pytest.raises(ValueError):
        audit.run_audit(batch_size=0)


def test_format_table_limits_rows():
    rows = [audit.Violation(i, "balance", "1", "2") for i in range(5)]
    table = audit.format_table(rows, limit=2)
    assert table.splitlines()[-1] == "... and 3 more"
