"""Row factories for the history tests: spec columns only, on either engine.

Users and transactions are inserted with plain SQL naming only the
specification's columns, so columns other migrations add (with defaults)
do not matter here. Readings go through the model, so ``created_at`` is
stored exactly as the application stores it (ISO text on SQLite).
"""

from __future__ import annotations

import datetime as dt
import itertools

from tarotbot.db import database
from tarotbot.models import Reading

BASE_TIME = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
_telegram_ids = itertools.count(10_000)
CARD_NAMES = ("The Fool", "The Magician", "The High Priestess", "The Empress", "The Emperor")


def _insert(sql: str, params: tuple) -> int:
    sql = sql.replace("%s", database.param) + " RETURNING id"
    return database.execute_sql(sql, params).fetchone()[0]


def make_user() -> int:
    return _insert("INSERT INTO users (telegram_id) VALUES (%s)", (next(_telegram_ids),))


def make_transaction(user_id: int, cost: int, balance_before: int = 100) -> int:
    """A completed 'reading' transaction: negative amount, consistent balances."""
    return _insert(
        "INSERT INTO transactions (user_id, type, amount, credits_before, credits_after, status)"
        " VALUES (%s, 'reading', %s, %s, %s, 'completed')",
        (user_id, -cost, balance_before, balance_before - cost),
    )


def make_reading(
    user_id: int,
    created_at: dt.datetime,
    *,
    cost: int | None = 1,
    names: tuple[str, ...] = ("The Fool",),
    spread_type: str = "single",
    question: str | None = "What now?",
    bare_list: bool = False,
) -> int:
    """A reading of ``user_id`` at ``created_at``; linked to a transaction unless cost is None."""
    cards = [
        {"position": f"p{i}", "name": name, "reversed": i % 2 == 1} for i, name in enumerate(names)
    ]
    transaction_id = make_transaction(user_id, cost) if cost is not None else None
    reading = Reading.create(
        user=user_id,
        spread_type=spread_type,
        question=question,
        cards=cards if bare_list else {"seed": f"seed-{created_at.isoformat()}", "cards": cards},
        interpretation="The cards suggest patience.",
        created_at=created_at,
        transaction=transaction_id,
    )
    return reading.id


def make_readings(user_id: int, times: list[dt.datetime]) -> list[int]:
    return [make_reading(user_id, at, cost=1 + i % 3) for i, at in enumerate(times)]


def expected_order(user_id: int) -> list[int]:
    """Reading ids of ``user_id`` in history order (created_at DESC, id DESC)."""
    query = (
        Reading.select(Reading.id)
        .where(Reading.user == user_id)
        .order_by(Reading.created_at.desc(), Reading.id.desc())
    )
    return [reading.id for reading in query]
