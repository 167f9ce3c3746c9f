"""Benchmark: debits per second through the ledger API against one raw SQL statement.

Why: every credit change goes through :mod:`tarotbot.ledger` (idempotency
check, optimistic-lock UPDATE, transaction row, cache write-through). This
measures what that costs against the cheapest correct alternative: one
statement per debit through psycopg2, a CTE that does the conditional
UPDATE (``WHERE balance >= amount``) and the INSERT of the transaction row
together, in autocommit.

What it does, in a throwaway PostgreSQL database (``bench/_db.py``, dropped
at the end):

1. creates one user per process, each with a balance far larger than the run
   can spend;
2. runs three phases, each with ``--processes`` (default 8) processes
   (``spawn``; each opens its own connections) that wait at a barrier, then
   debit one credit at a time for ``--seconds`` (default 5):

   - ``raw``: the one-statement CTE below through psycopg2, autocommit;
   - ``ledger, cache off``: ``ledger.debit_reading`` with its own idempotency
     key, the CreditCache disabled: the same database work as ``raw`` plus
     the idempotency check and the optimistic lock;
   - ``ledger, cache on``: the same with the CreditCache on Redis at
     ``BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``, under a
     private key prefix removed afterwards), as in production: two Redis
     calls per debit (mark dirty before, store after). ``--no-cache`` skips
     this phase.

   ``--rounds`` (default 3) repeats all phases, rotating their order, and the
   median per phase is reported (the machine may be shared: medians of
   interleaved runs resist a neighbour's burst);
3. counts the SQL statements one ledger debit issues (peewee's query log),
   runs the audit over everything written (both paths must leave a
   consistent ledger), and prints the rates, the ratios to ``raw`` and one
   JSON line last.

Run::

    .venv/bin/python -m bench.ledger                 # or: .venv/bin/python bench/ledger.py
    .venv/bin/python -m bench.ledger --processes 8 --seconds 10 --rounds 5

Needs PostgreSQL at ``BENCH_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``) and, for the cache,
Redis. Takes about ``3 × rounds × seconds`` plus ~2 s per phase to start.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as ``python bench/ledger.py``
    sys.path.insert(0, str(ROOT))

from bench._db import throwaway_database  # noqa: E402

START_BALANCE = 1_000_000_000  # credits per user: more than any run spends
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"

RAW_DEBIT = """
WITH u AS (
    UPDATE credits
    SET balance = balance - %(amount)s, version = version + 1,
        last_updated_at = CURRENT_TIMESTAMP
    WHERE user_id = %(user)s AND balance >= %(amount)s
    RETURNING balance, version
)
INSERT INTO transactions (user_id, type, amount, credits_before, credits_after, status,
                          idempotency_key, credits_version, completed_at)
SELECT %(user)s, 'reading', -%(amount)s, balance + %(amount)s, balance, 'completed',
       %(key)s, version, CURRENT_TIMESTAMP
FROM u
RETURNING id
"""


def _ledger_worker(url, user_id, seconds, barrier, results, cache_url, prefix):
    """One process: debit through the ledger API until the time is up."""
    from tarotbot import db, ledger
    from tarotbot.cache import CreditCache
    from tarotbot.config import load_settings

    db.init_database(load_settings({"DATABASE_URL": url}))
    db.database.connect()
    if cache_url:
        import redis

        ledger.set_credit_cache(CreditCache(redis.Redis.from_url(cache_url), prefix=prefix))
    else:
        ledger.set_credit_cache(CreditCache(client=None))
    ledger.balance(user_id)  # warm: connection, scripts
    tag = uuid.uuid4().hex[:8]
    barrier.wait()
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        ledger.debit_reading(user_id, 1, key=f"bench-{tag}-{done}")
        done += 1
    db.database.close()
    results.put(done)


def _raw_worker(url, user_id, seconds, barrier, results, cache_url, prefix):
    """One process: debit with one raw statement per debit (psycopg2, autocommit)."""
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    tag = uuid.uuid4().hex[:8]
    barrier.wait()
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        cur.execute(RAW_DEBIT, {"amount": 1, "user": user_id, "key": f"raw-{tag}-{done}"})
        if cur.fetchone() is None:
            raise RuntimeError("raw debit found no credits")
        done += 1
    conn.close()
    results.put(done)


def _phase(target, url, users, seconds, cache_url, prefix) -> float:
    """Run ``target`` in one process per user; return debits per second (all processes)."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(users) + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(url, u, seconds, barrier, results, cache_url, prefix))
        for u in users
    ]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    total = sum(results.get(timeout=seconds + 120) for _ in procs)
    for p in procs:
        p.join(30)
        if p.exitcode != 0:
            raise RuntimeError(f"a {target.__name__} process exited {p.exitcode}")
    return total / seconds


def _statements_per_debit(user_id: int) -> int:
    from playhouse.test_utils import count_queries

    from tarotbot import ledger

    with count_queries() as counter:
        ledger.debit_reading(user_id, 1, key=f"count-{uuid.uuid4().hex}")
    return counter.count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8, help="concurrent processes (8)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per phase (5)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of all phases, order rotated (3)"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="run the ledger without the Redis CreditCache"
    )
    args = parser.parse_args(argv)
    cache_url = None if args.no_cache else os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    prefix = f"bench-ledger-{uuid.uuid4().hex[:8]}:credits:"
    if cache_url:
        import redis

        try:
            redis.Redis.from_url(cache_url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            print(f"Redis at {cache_url} unreachable ({exc}); running without the cache")
            cache_url = None

    from tarotbot import audit, ledger
    from tarotbot.cache import CreditCache
    from tarotbot.models import User

    with throwaway_database("tarotbot_bench_ledger") as url:
        ledger.set_credit_cache(CreditCache(client=None))
        users = []
        for i in range(args.processes):
            user_id = User.create(telegram_id=900_000 + i).id
            ledger.grant_bonus(user_id, START_BALANCE, key=f"bench-start-{user_id}")
            users.append(user_id)
        statements = _statements_per_debit(users[0])
        tdb_close()
        rates: dict[str, list[float]] = {"ledger": [], "ledger_nocache": [], "raw": []}
        phases = [
            ("raw", _raw_worker, None),
            ("ledger_nocache", _ledger_worker, None),
        ] + ([("ledger", _ledger_worker, cache_url)] if cache_url else [])
        try:
            for round_no in range(args.rounds):
                # Rotate the order each round so no phase always runs first or last.
                shift = round_no % len(phases)
                for name, target, phase_cache in phases[shift:] + phases[:shift]:
                    rates[name].append(
                        _phase(target, url, users, args.seconds, phase_cache, prefix)
                    )
        finally:
            if cache_url:
                import redis

                client = redis.Redis.from_url(cache_url)
                keys = list(client.scan_iter(match=prefix + "*", count=1000))
                if keys:
                    client.delete(*keys)
        report = audit.run_audit()
    mean = {name: statistics.median(r) for name, r in rates.items() if r}
    raw_rate = mean["raw"]
    ratio = {name: (rate / raw_rate if raw_rate else 0.0) for name, rate in mean.items()}
    print(
        f"processes: {args.processes}, seconds per phase: {args.seconds:g}, rounds: {args.rounds}"
    )
    if cache_url:
        print(
            f"ledger API, CreditCache on:  {mean['ledger']:8.1f} debits/s  "
            f"ratio {ratio['ledger']:.2f}  ({statements} SQL statements + 2 Redis calls per debit)"
        )
    print(
        f"ledger API, CreditCache off: {mean['ledger_nocache']:8.1f} debits/s  "
        f"ratio {ratio['ledger_nocache']:.2f}  ({statements} SQL statements per debit)"
    )
    print(f"raw statement (psycopg2):    {raw_rate:8.1f} debits/s  (1 statement per debit)")
    print(
        f"audit after the run: {'consistent' if report.ok else 'VIOLATIONS'} "
        f"({report.users} users, {report.transactions} transactions)"
    )
    print(
        json.dumps(
            {
                "benchmark": "ledger",
                "processes": args.processes,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "ledger_cached_debits_per_s": round(mean["ledger"], 1) if cache_url else None,
                "ledger_uncached_debits_per_s": round(mean["ledger_nocache"], 1),
                "raw_debits_per_s": round(raw_rate, 1),
                "ratio_cached": round(ratio["ledger"], 3) if cache_url else None,
                "ratio_uncached": round(ratio["ledger_nocache"], 3),
                "ledger_statements_per_debit": statements,
                "audit_ok": report.ok,
            }
        )
    )
    return 0 if report.ok else 1


def tdb_close() -> None:
    """Close the parent's connection before children start (they open their own)."""
    from tarotbot import db

    if not db.database.is_closed():
        db.database.close()


if __name__ == "__main__":
    sys.exit(main())
