"""Real processes on PostgreSQL: races for the last credit, and SIGKILL in the middle of work."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tarotbot import ledger
from tarotbot.cache import CreditCache

PROCS = Path(__file__).resolve().parent / "procs"


def _race(user, keys, app_env, redis_conn) -> list[dict]:
    """Start one process per key, release them together at a Redis barrier, collect outcomes."""
    barrier = f"race:{user}:{keys[0]}"
    children = [
        subprocess.Popen(
            [sys.executable, str(PROCS / "race_debit.py"), str(user), barrier, key],
            env=app_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key in keys
    ]
    try:
        deadline = time.monotonic() + 90
        while int(redis_conn.get(barrier + ":ready") or 0) < len(keys):
            assert time.monotonic() < deadline, "children never reached the barrier"
            assert all(c.poll() is None for c in children), [c.communicate() for c in children]
            time.sleep(0.02)
        redis_conn.set(barrier + ":go", 1)
        results = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            results.append(json.loads(out))
        return results
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()


@pytest.mark.slow
def test_twenty_processes_spend_the_last_credit_once(pg, make_user, app_env, redis_conn, audit_cli):
    user = make_user()
    ledger.grant_bonus(user, 1, key="the-last-credit")
    results = _race(user, [f"race-{i}" for i in range(20)], app_env, redis_conn)
    winners = [r for r in results if r["ok"]]
    assert len(winners) == 1, results
    assert winners[0]["balance_after"] == 0 and not winners[0]["replayed"]
    assert sorted(r.get("error") for r in results if not r["ok"]) == ["InsufficientCredits"] * 19
    assert ledger.balance(user) == 0
    assert CreditCache(redis_conn).get(user) in (None, 0)
    audit = audit_cli(app_env, "--no-progress")
    assert audit.returncode == 0, audit.stdout + audit.stderr


@pytest.mark.slow
def test_twenty_processes_with_one_key_write_once(pg, make_user, app_env, redis_conn, audit_cli):
    user = make_user()
    ledger.grant_bonus(user, 5, key="credits")
    results = _race(user, ["one-job-id"] * 20, app_env, redis_conn)
    assert all(r["ok"] and r["balance_after"] == 4 for r in results), results
    assert sum(not r["replayed"] for r in results) == 1, results
    assert ledger.balance(user) == 4
    assert ledger.find("one-job-id").amount == -1
    audit = audit_cli(app_env, "--no-progress")
    assert audit.returncode == 0, audit.stdout + audit.stderr


def _spawn(worker, generation, seed, users, until, out, env):
    return subprocess.Popen(
        [
            sys.executable,
            str(PROCS / "chaos_worker.py"),
            str(worker),
            str(generation),
            str(seed),
            ",".join(map(str, users)),
            repr(until),
            str(out),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_random_work_under_sigkill_keeps_the_ledger_consistent(
    pg, make_user, app_env, redis_conn, audit_cli, tmp_path
):
    """6 workers, a handful of users, random operations and replays for
    LEDGER_CHAOS_SECONDS (default 12) while this process SIGKILLs and restarts
    them at random; then the audit must pass. Repeat a run with LEDGER_CHAOS_SEED."""
    seed = int(os.environ.get("LEDGER_CHAOS_SEED") or random.randrange(2**32))
    seconds = float(os.environ.get("LEDGER_CHAOS_SECONDS") or 12)
    tag = f"LEDGER_CHAOS_SEED={seed}"
    rng = random.Random(seed)
    users = [make_user() for _ in range(4)]
    for user in users:
        ledger.grant_bonus(user, 10, key=f"start-{user}")
    until = time.time() + seconds
    workers = 6
    generation = dict.fromkeys(range(workers), 0)
    procs = {w: _spawn(w, 0, seed, users, until, tmp_path, app_env) for w in range(workers)}
    kills = 0
    try:
        while time.time() < until - 1:
            time.sleep(rng.uniform(0.2, 1.2))
            victim = rng.randrange(workers)
            proc = procs[victim]
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(10)
            generation[victim] += 1
            procs[victim] = _spawn(
                victim, generation[victim], seed, users, until, tmp_path, app_env
            )
        for w, proc in procs.items():
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, f"{tag}: worker {w} exited {proc.returncode}: {err}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    unexpected = {p.name: p.read_text() for p in tmp_path.glob("unexpected-*")}
    assert not unexpected, f"{tag}: {unexpected}"
    totals: dict[str, int] = {}
    for done in tmp_path.glob("done-*.json"):
        for outcome, count in json.loads(done.read_text()).items():
            totals[outcome] = totals.get(outcome, 0) + count
    print(f"{tag}: {kills} kills, outcomes of finished workers: {totals}")
    assert kills >= 3 and totals.get("completed", 0) > 20, f"{tag}: {kills} kills, {totals}"
    audit = audit_cli(app_env, "--no-progress")
    assert audit.returncode == 0, f"{tag}: {audit.stdout}{audit.stderr}"
    # Whatever the cache still holds (writers died mid-flight) is never an old balance.
    cache = CreditCache(redis_conn)
    for user in users:
        cached = cache.get(user)
        assert cached is None or cached == ledger.balance(user), f"{tag}: user {user}"
