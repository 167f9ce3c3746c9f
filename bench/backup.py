"""Benchmark: `backup create` and `backup restore` against plain pg_dump and pg_restore.

Why: a backup streams ``pg_dump --format=custom`` through age encryption to
storage, and a restore streams it back through decryption into
``pg_restore``; neither may cost much more than the tools alone, and the
backup process's memory must not grow with the database (the plaintext is
never held whole). Targets: create ≥ 0.8 × plain pg_dump's throughput,
restore ≥ 0.8 × plain pg_restore's, peak memory ≤ 150 MB at both sizes.

In throwaway databases (``bench/_db.py``) loaded at two sizes
(``--transactions``/``--readings`` and a fifth of them), it times
``pg_dump`` to /dev/null against ``python -m tarotbot backup create`` (to a
``file://`` folder, a fresh age key), alternated ``--rounds`` times, with the
backup process's peak RSS (``wait4``); at the large size, ``pg_restore`` into
an empty database against ``backup restore latest --into`` another (its
checksum check and ledger audit included). It prints a table and one JSON
line last. Needs about 2 GB of disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as ``python bench/backup.py``
    sys.path.insert(0, str(ROOT))

import pyrage  # noqa: E402

from bench._db import create_database, drop_database, throwaway_database  # noqa: E402
from bench.history import CARDS, CREATED_AT  # noqa: E402
from tarotbot.db import database  # noqa: E402

USERS = 1000
CHUNK = 100_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load(transactions: int, readings: int) -> None:
    """A ledger the audit finds consistent: per user one purchase, then reading debits.

    Transaction g belongs to user 1 + g mod USERS and is that user's
    ``seq = (g - 1) / USERS``-th row: row 0 a purchase of PURCHASE credits,
    the rest debits of one credit each, chained by version (2, 3, …); each
    reading points at its own debit. All with generate_series, no Python loops.
    """
    per_user = -(-transactions // USERS)
    purchase = per_user + 10
    seq = f"((g - 1) / {USERS})"
    database.execute_sql("SET synchronous_commit = off")
    database.execute_sql(
        "INSERT INTO users (id, telegram_id, username)"
        " SELECT g, 7000000 + g, 'user' || g FROM generate_series(1, %s) g",
        (USERS,),
    )
    for first in range(1, transactions + 1, CHUNK):
        last = min(first + CHUNK - 1, transactions)
        database.execute_sql(
            "INSERT INTO transactions (id, user_id, type, amount, credits_before,"
            " credits_after, status, payment_reference, created_at, completed_at,"
            " idempotency_key, credits_version)"
            f" SELECT g, 1 + mod(g, {USERS}),"
            f" CASE WHEN {seq} = 0 THEN 'purchase' ELSE 'reading' END,"
            f" CASE WHEN {seq} = 0 THEN {purchase} ELSE -1 END,"
            f" CASE WHEN {seq} = 0 THEN 0 ELSE {purchase} - {seq} + 1 END,"
            f" CASE WHEN {seq} = 0 THEN {purchase} ELSE {purchase} - {seq} END,"
            " 'completed',"
            f" CASE WHEN {seq} = 0 THEN 'charge-' || g END,"
            f" {CREATED_AT}, {CREATED_AT}, 'bench-' || g, {seq} + 2"
            " FROM generate_series(%s, %s) g",
            (first, last),
        )
    database.execute_sql(
        "INSERT INTO credits (user_id, balance, version)"
        " SELECT user_id, SUM(amount), MAX(credits_version) FROM transactions GROUP BY user_id"
    )
    readings = min(readings, transactions - USERS)  # each needs a debit of its own
    for first in range(1, readings + 1, CHUNK):
        last = min(first + CHUNK - 1, readings)
        database.execute_sql(
            "INSERT INTO readings (id, user_id, spread_type, question, cards, interpretation,"
            " created_at, transaction_id)"
            f" SELECT g, 1 + mod(g + {USERS}, {USERS}), 'three', 'What does week ' || g"
            f" || ' hold?', {CARDS}, repeat('The cards speak of patience"
            " and of change. ', 8), now(), g + %s FROM generate_series(%s, %s) g",
            (USERS, first, last),
        )
    for table in ("users", "transactions", "readings"):
        database.execute_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
    database.execute_sql("ANALYZE")


def _hwm_mb(pid: int) -> float | None:
    """The process's own peak RSS so far (VmHWM: per address space, fresh after exec)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Run ``cmd``; its wall time in seconds and its own peak RSS in MB.

    The peak is sampled from ``/proc`` every 20 ms (``wait4``'s ru_maxrss
    would include what the parent process held when it forked).
    """
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _hwm_mb(proc.pid) or 0.0)
            time.sleep(0.02)
        took = time.perf_counter() - started
        if proc.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(cmd[:4])}… failed: {errors.read().decode()[-2000:]}")
    return took, peak


def backup_env(url: str, folder: str, recipient: str, identity: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAROT", "TELEGRAM", "BACKUP"))}
    env.update(
        DATABASE_URL=url,
        BACKUP_URL=f"file://{folder}",
        BACKUP_AGE_RECIPIENTS=recipient,
        BACKUP_AGE_IDENTITY=identity,
        PYTHONPATH=str(ROOT),
        TZ="UTC",
    )
    env.pop("REDIS_URL", None)
    return env


def dump_size(url: str) -> int:
    with tempfile.NamedTemporaryFile(suffix=".dump") as out:
        subprocess.run(["pg_dump", "--format=custom", "-d", url, "-f", out.name], check=True)
        return os.path.getsize(out.name)


def measure_size(
    label: str, transactions: int, readings: int, rounds: int, keys, restore: bool
) -> dict:
    identity, recipient = keys
    folder = tempfile.mkdtemp(prefix="bench-backup-")
    try:
        with throwaway_database("bench_backup") as url:
            log(f"{label}: loading {transactions:,} transactions and {readings:,} readings…")
            load(transactions, readings)
            database.close()
            env = backup_env(url, folder, recipient, identity)
            size = dump_size(url)
            plain, ours, rss = [], [], []
            for round_ in range(rounds):
                log(f"{label}: round {round_ + 1}/{rounds}")
                plain.append(
                    run(["pg_dump", "--format=custom", "--no-sync", "-d", url, "-f", "/dev/null"])[
                        0
                    ]
                )
                took, peak = run([sys.executable, "-m", "tarotbot", "backup", "create"], env)
                ours.append(took)
                rss.append(peak)
            result = {
                "transactions": transactions,
                "readings": readings,
                "dump_mb": round(size / 2**20, 1),
                "pg_dump_s": round(statistics.median(plain), 2),
                "create_s": round(statistics.median(ours), 2),
                "create_vs_pg_dump": round(statistics.median(plain) / statistics.median(ours), 2),
                "create_peak_rss_mb": round(max(rss), 1),
            }
            if restore:
                result.update(measure_restore(url, env))
            return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure_restore(url: str, env: dict) -> dict:
    """Plain pg_restore of a plain dump against ``backup restore latest`` (verify + audit included)."""
    with tempfile.NamedTemporaryFile(suffix=".dump") as out:
        subprocess.run(["pg_dump", "--format=custom", "-d", url, "-f", out.name], check=True)
        plain_target, ours_target = (
            create_database("bench_restore"),
            create_database("bench_restore"),
        )
        try:
            log("restore: plain pg_restore…")
            plain, _ = run(
                ["pg_restore", "--no-owner", "--exit-on-error", "-d", plain_target, out.name]
            )
            log("restore: backup restore latest…")
            ours, peak = run(
                [
                    sys.executable,
                    "-m",
                    "tarotbot",
                    "backup",
                    "restore",
                    "latest",
                    "--into",
                    ours_target,
                ],
                env,
            )
            log("restore: the ledger audit alone, on the restored database…")
            audit, _ = run(
                [sys.executable, "-m", "tarotbot", "audit", "--no-progress"],
                {**env, "DATABASE_URL": ours_target},
            )
        finally:
            drop_database(plain_target)
            drop_database(ours_target)
    return {
        "pg_restore_s": round(plain, 2),
        "restore_s": round(ours, 2),
        "restore_vs_pg_restore": round(plain / ours, 2),
        # the audit our restore runs afterwards, timed on its own: what is left is
        # the restore with its verification
        "audit_s": round(audit, 2),
        "restore_without_audit_vs_pg_restore": round(plain / max(0.01, ours - audit), 2),
        "restore_peak_rss_mb": round(peak, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    identity = pyrage.x25519.Identity.generate()
    keys = (str(identity), str(identity.to_public()))
    small = measure_size(
        "small", args.transactions // 5, args.readings // 5, args.rounds, keys, restore=False
    )
    large = measure_size("large", args.transactions, args.readings, args.rounds, keys, restore=True)
    print(f"\n{'size':<8}{'dump MB':>9}{'pg_dump s':>11}{'create s':>10}{'ratio':>7}{'peak MB':>9}")
    for name, r in (("small", small), ("large", large)):
        print(
            f"{name:<8}{r['dump_mb']:>9}{r['pg_dump_s']:>11}{r['create_s']:>10}"
            f"{r['create_vs_pg_dump']:>7}{r['create_peak_rss_mb']:>9}"
        )
    print(
        f"restore (large): pg_restore {large['pg_restore_s']} s, backup restore "
        f"{large['restore_s']} s (ratio {large['restore_vs_pg_restore']}, verify and audit "
        f"included; the audit alone {large['audit_s']} s, ratio without it "
        f"{large['restore_without_audit_vs_pg_restore']}), peak {large['restore_peak_rss_mb']} MB"
    )
    print(json.dumps({"bench": "backup", "small": small, "large": large}))


if __name__ == "__main__":
    main()
