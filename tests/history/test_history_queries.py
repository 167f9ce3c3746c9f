"""What history pages cost: queries per page, and PostgreSQL plans on the index.

The statements are captured from peewee's query log, so the plans checked
are those of the SQL :func:`history_page` really sends.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from tarotbot.db import database
from tarotbot.history import history_page
from tests.history.helpers import BASE_TIME, make_readings, make_user


class QueryLog(logging.Handler):
    """Collects ``(sql, params)`` of every statement peewee executes."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, tuple]] = []

    def emit(self, record):
        if isinstance(record.msg, tuple) and len(record.msg) == 2:
            self.statements.append(record.msg)


@pytest.fixture
def query_log():
    logger = logging.getLogger("peewee")
    handler, level = QueryLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_queries_per_page(db, query_log):
    """One SELECT with the transaction joined, plus at most one EXISTS; never one per item."""
    user = make_user()
    make_readings(user, [BASE_TIME + dt.timedelta(minutes=i) for i in range(30)])
    query_log.statements.clear()
    page = history_page(user, limit=10)
    assert len(query_log.statements) == 1
    assert "JOIN" in query_log.statements[0][0]
    query_log.statements.clear()
    middle = history_page(user, page.older_cursor, "older", 10)
    assert len(query_log.statements) == 2
    query_log.statements.clear()
    history_page(user, middle.older_cursor, "newer", 10)
    assert len(query_log.statements) == 2


# -- PostgreSQL plans ------------------------------------------------------------------

HEAVY_READINGS = 2_000
OTHER_USERS = 1_000
READINGS_PER_OTHER = 298


def _load_many(heavy_user: int) -> None:
    """One user with 2,000 readings among 1,000 users with ~300 each, interleaved in time.

    The heavy user holds 0.7% of the table: a realistic share (the more
    users, the smaller it gets). Above a few percent PostgreSQL prefers to
    walk ``idx_readings_created_at`` backwards and filter on ``user_id``,
    which is also cheap while that user's readings are spread in time (see
    ``bench/history.py``). The heavy user's readings have transactions (the
    others' none: only the tested rows need the join, and it is faster); timestamps
    advance one minute every three readings, so there are ties. Then
    ANALYZE, so the planner sees the real proportions.
    """
    database.execute_sql(
        "INSERT INTO users (telegram_id) SELECT 500000 + g FROM generate_series(1, %s) g",
        (OTHER_USERS,),
    )
    first_other = database.execute_sql(
        "SELECT min(id) FROM users WHERE telegram_id > 500000"
    ).fetchone()[0]
    base = database.execute_sql("SELECT coalesce(max(id), 0) FROM transactions").fetchone()[0]
    total = HEAVY_READINGS + OTHER_USERS * READINGS_PER_OTHER
    owner = "CASE WHEN mod(g, %(every)s) = 0 THEN %(heavy)s ELSE %(first)s + mod(g, %(others)s) END"
    params = {
        "every": total // HEAVY_READINGS,
        "heavy": heavy_user,
        "first": first_other,
        "others": OTHER_USERS,
        "base": base,
        "total": total,
    }
    database.execute_sql(
        "INSERT INTO transactions (id, user_id, type, amount, credits_before, credits_after,"
        " status)"
        " SELECT %(base)s + g, %(heavy)s, 'reading', -1, 10, 9, 'completed'"
        " FROM generate_series(1, %(total)s) g WHERE mod(g, %(every)s) = 0",
        params,
    )
    database.execute_sql(
        "SELECT setval(pg_get_serial_sequence('transactions', 'id'), %(base)s + %(total)s)",
        params,
    )
    database.execute_sql(
        "INSERT INTO readings (user_id, spread_type, question, cards, interpretation,"
        " created_at, transaction_id)"
        f" SELECT {owner}, 'three', 'q', '{{\"cards\": [{{\"name\": \"The Fool\"}}]}}',"
        "  'interpretation', timestamptz '2024-01-01' + (g / 3) * interval '1 minute',"
        "  CASE WHEN mod(g, %(every)s) = 0 THEN %(base)s + g END"
        " FROM generate_series(1, %(total)s) g",
        params,
    )
    database.execute_sql("ANALYZE users, transactions, readings")


def _plan(sql: str, params) -> str:
    rows = database.execute_sql("EXPLAIN " + sql, params).fetchall()
    return "\n".join(row[0] for row in rows)


def test_keyset_queries_use_the_user_lookup_index(pg, query_log):
    heavy = make_user()
    _load_many(heavy)
    count = database.execute_sql(
        "SELECT count(*) FROM readings WHERE user_id = %s", (heavy,)
    ).fetchone()[0]
    assert count == HEAVY_READINGS

    page = history_page(heavy, limit=5)
    for _ in range(200):  # 1,000 readings deep
        page = history_page(heavy, page.older_cursor, "older", 5)
    query_log.statements.clear()
    deep = history_page(heavy, page.older_cursor, "older", 5)
    history_page(heavy, deep.newer_cursor, "newer", 5)
    history_page(heavy, limit=5)
    statements = list(query_log.statements)
    # older page + EXISTS newer, newer page + EXISTS older, first page
    assert len(statements) == 5

    for sql, params in statements:
        plan = _plan(sql, params)
        assert "Index Scan using idx_readings_user_lookup" in plan or (
            "Index Scan Backward using idx_readings_user_lookup" in plan
        ), plan
        assert "Seq Scan" not in plan, plan
        assert "Sort Key" not in plan or "Presorted Key: r.created_at" in plan, plan

    # 1,000 readings deep, the cursor bound is an index condition: only the
    # page's rows (plus the look-ahead row and ties) are read, not the 1,000 above.
    for sql, params in (statements[0], statements[2]):
        analyzed = _plan("(ANALYZE) " + sql, params)
        assert "Index Cond: ((user_id = " in analyzed, analyzed
        assert "created_at <= " in analyzed or "created_at >= " in analyzed, analyzed
        removed = [
            int(line.split("Rows Removed by Filter:")[1])
            for line in analyzed.splitlines()
            if "Rows Removed by Filter:" in line
        ]
        assert sum(removed) <= 3, analyzed
