"""Benchmark: debits per second through the ledger API against one raw SQL statement.

Why: every credit change goes through :mod:`tarotbot.ledger` (idempotency
check, optimistic-lock UPDATE, transaction row, cache write-through). This
measures what that costs against the cheapest correct alternative: one
statement per debit through psycopg2 (:data:`RAW_DEBIT`, autocommit).

In a throwaway database (``bench/_db.py``), ``--processes`` spawned processes,
one user each, debit one credit at a time for ``--seconds`` per phase,
released together at a barrier: ``raw``, the ledger with the CreditCache off,
and the ledger with it on Redis at ``BENCH_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``, a private key prefix removed afterwards;
``--no-cache`` skips it). ``--rounds`` repeats the phases in rotated order;
short interleaved phases and medians keep a busy neighbour on a shared machine
from skewing one side. It then counts the SQL statements of one ledger debit,
audits everything written, and prints the rates, the ratios to ``raw`` and
one JSON line last. Takes about ``3 × rounds × seconds`` plus ten seconds.
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
RAW, UNCACHED, CACHED = "raw", "ledger_uncached", "ledger_cached"

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


def _worker(url, user_id, schedule, seconds, barrier, results, cache_url, prefix):
    """One process for the whole run: for each phase, wait at the barrier, then debit."""
    import psycopg2

    from tarotbot import db, ledger
    from tarotbot.cache import CreditCache
    from tarotbot.config import load_settings

    db.init_database(load_settings({"DATABASE_URL": url}))
    db.database.connect()
    no_cache = CreditCache(client=None)
    with_cache = no_cache
    if cache_url:
        import redis

        with_cache = CreditCache(redis.Redis.from_url(cache_url), prefix=prefix)
    raw = psycopg2.connect(url)
    raw.autocommit = True
    cur = raw.cursor()
    tag = uuid.uuid4().hex[:8]
    for cache in (no_cache, with_cache):  # warm: connections, prepared statement, scripts
        ledger.set_credit_cache(cache)
        ledger.debit_reading(user_id, 1, key=f"warm-{tag}-{id(cache)}")
    done = 0
    for step, phase in enumerate(schedule):
        if phase != RAW:
            ledger.set_credit_cache(with_cache if phase == CACHED else no_cache)
        barrier.wait()
        count = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if phase == RAW:
                cur.execute(RAW_DEBIT, {"amount": 1, "user": user_id, "key": f"r-{tag}-{done}"})
                if cur.fetchone() is None:
                    raise RuntimeError("raw debit found no credits")
            else:
                ledger.debit_reading(user_id, 1, key=f"l-{tag}-{done}")
            count += 1
            done += 1
        results.put((step, count))
    raw.close()
    db.database.close()


def _run_schedule(url, users, schedule, seconds, cache_url, prefix) -> list[float]:
    """Run every phase of ``schedule`` across one process per user; debits/s per step."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(users) + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(url, u, schedule, seconds, barrier, results, cache_url, prefix),
        )
        for u in users
    ]
    for p in procs:
        p.start()
    totals = [0] * len(schedule)
    try:
        for _ in schedule:
            barrier.wait(timeout=120)
            for _ in procs:
                done_step, count = results.get(timeout=seconds + 120)
                totals[done_step] += count
    finally:
        for p in procs:
            p.join(60)
            if p.exitcode is None:
                p.kill()
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad:
        raise RuntimeError(f"worker processes exited with {bad}")
    return [t / seconds for t in totals]


def _statements_per_debit(user_id: int) -> int:
    from playhouse.test_utils import count_queries

    from tarotbot import ledger

    ledger.debit_reading(user_id, 1, key=f"count-warm-{uuid.uuid4().hex}")  # prepares
    with count_queries() as counter:
        ledger.debit_reading(user_id, 1, key=f"count-{uuid.uuid4().hex}")
    return counter.count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8, help="concurrent processes (8)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per phase (2)")
    parser.add_argument(
        "--rounds", type=int, default=8, help="rounds of all phases, order rotated (8)"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="skip the phase with the Redis CreditCache"
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

    phases = [RAW, UNCACHED] + ([CACHED] if cache_url else [])
    schedule = []
    for round_no in range(args.rounds):
        shift = round_no % len(phases)
        schedule += phases[shift:] + phases[:shift]

    with throwaway_database("tarotbot_bench_ledger") as url:
        ledger.set_credit_cache(CreditCache(client=None))
        users = []
        for i in range(args.processes):
            user_id = User.create(telegram_id=900_000 + i).id
            ledger.grant_bonus(user_id, START_BALANCE, key=f"bench-start-{user_id}")
            users.append(user_id)
        statements = _statements_per_debit(users[0])
        try:
            rates = _run_schedule(url, users, schedule, args.seconds, cache_url, prefix)
        finally:
            if cache_url:
                import redis

                client = redis.Redis.from_url(cache_url)
                keys = list(client.scan_iter(match=prefix + "*", count=1000))
                if keys:
                    client.delete(*keys)
        report = audit.run_audit()

    by_phase: dict[str, list[float]] = {p: [] for p in phases}
    for phase, rate in zip(schedule, rates, strict=True):
        by_phase[phase].append(rate)
    median = {p: statistics.median(r) for p, r in by_phase.items()}
    ratio = {
        p: statistics.median(a / b for a, b in zip(by_phase[p], by_phase[RAW], strict=True) if b)
        for p in phases
        if p != RAW
    }
    print(
        f"processes: {args.processes}, seconds per phase: {args.seconds:g}, "
        f"rounds: {args.rounds}, cpus: {os.cpu_count()}"
    )
    print(f"raw statement (psycopg2):    {median[RAW]:8.1f} debits/s  (1 statement per debit)")
    print(
        f"ledger API, CreditCache off: {median[UNCACHED]:8.1f} debits/s  "
        f"ratio {ratio[UNCACHED]:.2f}  ({statements} SQL statement(s) per debit)"
    )
    if cache_url:
        print(
            f"ledger API, CreditCache on:  {median[CACHED]:8.1f} debits/s  "
            f"ratio {ratio[CACHED]:.2f}  ({statements} SQL statement(s) + 2 Redis calls per debit)"
        )
    print("(rates: median over rounds; ratios: median of the per-round ratios to raw)")
    print(
        f"audit after the run: {'consistent' if report.ok else 'VIOLATIONS'} "
        f"({report.users} users, {report.transactions} transactions)"
    )
    print(
        json.dumps(
            {
                "bench": "ledger",
                "processes": args.processes,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "raw_debits_per_s": round(median[RAW], 1),
                "ledger_uncached_debits_per_s": round(median[UNCACHED], 1),
                "ledger_cached_debits_per_s": round(median[CACHED], 1) if cache_url else None,
                "ratio_uncached": round(ratio[UNCACHED], 3),
                "ratio_cached": round(ratio[CACHED], 3) if cache_url else None,
                "ledger_statements_per_debit": statements,
                "audit_ok": report.ok,
            }
        )
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
