"""Benchmark: reading-history pages, keyset cursors against the spec's OFFSET query.

Why: the specification pages history with ``LIMIT … OFFSET``, which makes
PostgreSQL read and join every skipped row, so deep pages get slower the
deeper they are. :func:`tarotbot.history.history_page` seeks with a cursor
instead. This script measures both on a realistic volume.

In a throwaway database (``bench/_db.py``) it loads one million readings
(``INSERT … SELECT generate_series``) for 1,000 users, one of them holding a
quarter (page 10,000 at five per page exists), then times, for that user and
for a typical one, fetching given pages with ``history_page`` (the page query
and its EXISTS look-back) and with ``history_page_offset``, ``--repeats``
times after a warm-up, checking both return the same readings. Times are the
client's wall clock (peewee, psycopg2, row conversion included): what the bot
would wait. It prints a table, the plans' index choice (for the heavy user
PostgreSQL walks ``idx_readings_created_at`` backwards; the keyset bound is
still an index condition, so its cost stays flat) and one JSON line last.
Needs ~1 GB of disk and two to three minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as ``python bench/history.py``
    sys.path.insert(0, str(ROOT))

from bench._db import throwaway_database  # noqa: E402
from tarotbot.db import database  # noqa: E402
from tarotbot.history import history_page, history_page_offset  # noqa: E402

USERS = 1_000
HEAVY_USER = 1  # owns every fourth reading
HEAVY_EVERY = 4
PAGE_SIZE = 5
CHUNK = 100_000

# Owner of reading number g: the heavy user every HEAVY_EVERY-th, else one of the others.
OWNER = "CASE WHEN mod(g, %(every)s) = 0 THEN %(heavy)s ELSE 2 + mod(g, %(others)s) END"
SPREADS = (
    "(ARRAY['single','three','celtic','relationship','career','week_ahead',"
    "'monthly_guidance','yearly_path','life_path'])[1 + mod(g, 9)]"
)
CARD_NAMES = (
    "(ARRAY['The Fool','The Magician','The High Priestess','The Empress','The Emperor',"
    "'The Hierophant','The Lovers','The Chariot','Strength','The Hermit','Wheel of Fortune',"
    "'Justice','The Hanged Man','Death','Temperance','The Devil','The Tower','The Star',"
    "'The Moon','The Sun','Judgement','The World'])"
)
# Two readings per two minutes: readings g and g+1 share a timestamp (ties).
CREATED_AT = "timestamptz '2023-01-01 00:00:00+00' + (g / 2) * interval '2 minutes'"


def _card(position: str, shift: int, reversed_every: int) -> str:
    """SQL for one card object of reading g: a name from the Major Arcana, sometimes reversed."""
    return (
        f"jsonb_build_object('position', '{position}',"
        f" 'name', {CARD_NAMES}[1 + mod(g + {shift}, 22)],"
        f" 'reversed', mod(g, {reversed_every}) = 0)"
    )


# The stored shape: {"seed": ..., "cards": [{"position", "name", "reversed"}, ...]}.
CARDS = (
    "jsonb_build_object('seed', md5(g::text), 'cards', jsonb_build_array("
    f"{_card('past', 0, 2)}, {_card('present', 7, 3)}, {_card('future', 13, 5)}))"
)
READINGS_SQL = (
    "INSERT INTO readings (id, user_id, spread_type, question, cards, interpretation,"
    " created_at, transaction_id)"
    f" SELECT g, {OWNER}, {SPREADS}, 'What does week ' || g || ' hold?', {CARDS},"
    f" repeat('The cards speak of patience and of change. ', 8), {CREATED_AT}, g"
    " FROM generate_series(%(first)s, %(last)s) g"
)


def log(message: str) -> None:
    print(message, flush=True)


def load(rows: int) -> None:
    """Users, then ``rows`` transactions and readings in chunks, then VACUUM ANALYZE."""
    started = time.perf_counter()
    params = {"every": HEAVY_EVERY, "heavy": HEAVY_USER, "others": USERS - 1}
    database.execute_sql("SET synchronous_commit = off")  # a throwaway database
    database.execute_sql(
        "INSERT INTO users (id, telegram_id, username)"
        " SELECT g, 7000000 + g, 'user' || g FROM generate_series(1, %(users)s) g",
        {"users": USERS},
    )
    database.execute_sql("SELECT setval(pg_get_serial_sequence('users', 'id'), %s)", (USERS,))
    for table in ("transactions", "readings"):
        for first in range(1, rows + 1, CHUNK):
            last = min(first + CHUNK - 1, rows)
            chunk = {**params, "first": first, "last": last}
            if table == "transactions":
                database.execute_sql(
                    "INSERT INTO transactions (id, user_id, type, amount, credits_before,"
                    " credits_after, status, created_at, completed_at)"
                    f" SELECT g, {OWNER}, 'reading', -(1 + mod(g, 3)), 50, 50 - (1 + mod(g, 3)),"
                    f"  'completed', {CREATED_AT}, {CREATED_AT}"
                    " FROM generate_series(%(first)s, %(last)s) g",
                    chunk,
                )
            else:
                database.execute_sql(READINGS_SQL, chunk)
            log(f"  {table:<12} {last:>9,} / {rows:,}   {time.perf_counter() - started:6.1f} s")
    for table in ("transactions", "readings"):
        database.execute_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", (rows,))


def vacuum_analyze(url: str) -> None:
    """VACUUM cannot run in a transaction block: use an autocommit connection of its own."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE users, transactions, readings")
    finally:
        conn.close()


def timed(function: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """Median and p95 in ms over ``repeats`` calls (after three warm-up calls)."""
    for _ in range(3):
        result = function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, result


def cursor_for_page(user_id: int, page: int) -> str | None:
    """The cursor whose "older" page is page ``page`` (None for page 1), by walking."""
    cursor = None
    for _ in range(page - 1):
        cursor = history_page(user_id, cursor, "older", PAGE_SIZE).older_cursor
        if cursor is None:
            raise SystemExit(f"user {user_id} has fewer than {page} pages")
    return cursor


class _Statements(logging.Handler):
    """Collects the ``(sql, params)`` peewee logs for every statement it executes."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, object]] = []

    def emit(self, record):
        if isinstance(record.msg, tuple) and len(record.msg) == 2:
            self.statements.append(record.msg)


@contextlib.contextmanager
def statements_sent() -> Iterator[list[tuple[str, object]]]:
    """The statements peewee sends inside the block (to EXPLAIN exactly those)."""
    logger, handler = logging.getLogger("peewee"), _Statements()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def readings_plan(sql: str, params) -> str:
    """Which index (or scan) the plan uses on ``readings``, and the server execution time."""
    plan = [row[0] for row in database.execute_sql("EXPLAIN (ANALYZE) " + sql, params)]
    scan = next((line.strip() for line in plan if " on readings" in line), "?")
    scan = scan.removeprefix("->").strip().split(" on readings")[0]
    execution = next(line for line in plan if line.startswith("Execution Time"))
    return f"{scan} ({execution.split(': ')[1]})"


def measure(user_id: int, pages: list[int], repeats: int) -> list[dict]:
    results = []
    for page in pages:
        walk_started = time.perf_counter()
        cursor = cursor_for_page(user_id, page)
        walked = time.perf_counter() - walk_started
        k_med, k_p95, k_page = timed(
            lambda cursor=cursor: history_page(user_id, cursor, "older", PAGE_SIZE), repeats
        )
        offset = (page - 1) * PAGE_SIZE
        o_med, o_p95, o_items = timed(
            lambda offset=offset: history_page_offset(user_id, PAGE_SIZE, offset), repeats
        )
        same = [i.reading_id for i in k_page.items] == [i.reading_id for i in o_items]
        with statements_sent() as keyset_statements:
            history_page(user_id, cursor, "older", PAGE_SIZE)
        with statements_sent() as offset_statements:
            history_page_offset(user_id, PAGE_SIZE, offset)
        result = {
            "page": page,
            "keyset_median": k_med,
            "keyset_p95": k_p95,
            "offset_median": o_med,
            "offset_p95": o_p95,
            "same_rows": same,
            "walk_s": walked,
            "queries": len(keyset_statements),
            "keyset_plans": [readings_plan(*statement) for statement in keyset_statements],
            "offset_plan": readings_plan(*offset_statements[0]),
        }
        results.append(result)
        log(
            f"  page {page:>6,}: keyset {k_med:7.2f} ms, offset {o_med:8.2f} ms"
            f" (walked there in {walked:.1f} s)"
        )
    return results


def table(title: str, results: list[dict], repeats: int) -> None:
    log("")
    log(title)
    log(
        f"{'page':>7} | {'keyset median':>13} {'p95':>8} | {'OFFSET median':>13} {'p95':>8} | "
        f"{'ratio':>7} | same rows"
    )
    log("-" * 79)
    for r in results:
        ratio = r["offset_median"] / r["keyset_median"]
        log(
            f"{r['page']:>7,} | {r['keyset_median']:10.2f} ms {r['keyset_p95']:8.2f} | "
            f"{r['offset_median']:10.2f} ms {r['offset_p95']:8.2f} | {ratio:6.1f}x | "
            f"{'yes' if r['same_rows'] else 'NO'}"
        )
    log(f"(ms, client wall-clock, {repeats} runs each; keyset = page query + EXISTS look-back)")
    log("plans on readings (EXPLAIN ANALYZE: scan, server execution time):")
    for r in results:
        for name, plan in zip(("keyset", "EXISTS"), r["keyset_plans"], strict=False):
            log(f"  page {r['page']:>6,} {name}: {plan}")
        log(f"  page {r['page']:>6,} OFFSET: {r['offset_plan']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="readings to load")
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per measurement")
    parser.add_argument(
        "--pages", default="1,100,1000,10000", help="heavy user's pages to measure (comma list)"
    )
    args = parser.parse_args(argv)
    pages = [int(p) for p in args.pages.split(",")]
    if args.rows < HEAVY_EVERY * PAGE_SIZE * max(pages):
        parser.error("--rows too small for the deepest page")

    started = time.perf_counter()
    with throwaway_database("tarotbot_bench_history") as url:
        log(f"loading {args.rows:,} readings and transactions for {USERS:,} users ...")
        load(args.rows)
        log("VACUUM ANALYZE ...")
        vacuum_analyze(url)
        counts = dict(
            database.execute_sql(
                "SELECT user_id, count(*) FROM readings WHERE user_id IN (%s, %s) GROUP BY user_id",
                (HEAVY_USER, 2),
            ).fetchall()
        )
        log(
            f"loaded in {time.perf_counter() - started:.0f} s: heavy user {counts[HEAVY_USER]:,}"
            f" readings, typical user {counts[2]:,}"
        )
        log("heavy user:")
        heavy = measure(HEAVY_USER, pages, args.repeats)
        typical_pages = [p for p in (1, 100) if p * PAGE_SIZE <= counts[2]]
        log("typical user:")
        typical = measure(2, typical_pages, args.repeats)

    table(
        f"Heavy user: {counts[HEAVY_USER]:,} of {args.rows:,} readings, {PAGE_SIZE} per page",
        heavy,
        args.repeats,
    )
    table(f"Typical user: {counts[2]:,} readings", typical, args.repeats)
    log(f"\ntotal {time.perf_counter() - started:.0f} s")
    summary = {
        "bench": "history",
        "rows": args.rows,
        "users": USERS,
        "heavy_user_readings": counts[HEAVY_USER],
        "page_size": PAGE_SIZE,
        "repeats": args.repeats,
        "keyset_ms": {str(r["page"]): round(r["keyset_median"], 3) for r in heavy},
        "offset_ms": {str(r["page"]): round(r["offset_median"], 3) for r in heavy},
        "keyset_p95_ms": {str(r["page"]): round(r["keyset_p95"], 3) for r in heavy},
        "offset_p95_ms": {str(r["page"]): round(r["offset_p95"], 3) for r in heavy},
        "typical_user": {
            "readings": counts[2],
            "keyset_ms": {str(r["page"]): round(r["keyset_median"], 3) for r in typical},
            "offset_ms": {str(r["page"]): round(r["offset_median"], 3) for r in typical},
        },
        "same_rows": all(r["same_rows"] for r in heavy + typical),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
