"""The ledger's SQL: every statement it runs, the rows they return, how they are run.

Apart from the logic so the exact SQL (one text for PostgreSQL and SQLite,
``%s`` becoming ``?`` on SQLite; the one-statement change PostgreSQL runs as
a prepared statement) reads and reviews in one place.
"""

from __future__ import annotations

import functools
import threading
import weakref
from dataclasses import dataclass
from typing import NamedTuple

from tarotbot.db import database, is_postgres


@dataclass(frozen=True)
class LedgerEntry:
    """The outcome of a ledger operation: one ``transactions`` row.

    ``amount`` is signed (a debit is negative). ``balance_before`` and
    ``balance_after`` are the row's ``credits_before``/``credits_after`` (for a
    pending or failed purchase: the projection made when it started).
    ``replayed`` is True when the key had been seen and this is the first
    result, unchanged.
    """

    transaction_id: int
    user_id: int
    type: str
    amount: int
    balance_before: int
    balance_after: int
    status: str
    key: str | None
    replayed: bool = False


class Txn(NamedTuple):
    """A ``transactions`` row as the statements below select it (:data:`TXN_COLUMNS`)."""

    id: int
    user_id: int
    type: str
    amount: int
    credits_before: int
    credits_after: int
    status: str
    idempotency_key: str | None
    payment_reference: str | None
    refund_of_id: int | None
    credits_version: int | None

    def entry(self, replayed: bool) -> LedgerEntry:
        return LedgerEntry(
            transaction_id=self.id,
            user_id=self.user_id,
            type=self.type,
            amount=self.amount,
            balance_before=self.credits_before,
            balance_after=self.credits_after,
            status=self.status,
            key=self.idempotency_key,
            replayed=replayed,
        )


TXN_COLUMNS = Txn._fields
NTXN = len(TXN_COLUMNS)


def _cols(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in TXN_COLUMNS)


def txn_or_none(values: tuple | list) -> Txn | None:
    """The row in ``values`` (a LEFT JOIN's columns), or None where it matched nothing."""
    return None if values[0] is None else Txn(*values)


# -- SQL ----------------------------------------------------------------------

# One row always: the user's credits (balance, version) and the row already
# carrying the key, if any (of whichever user: a key is global).
FETCH_FOR_KEY = f"""
SELECT c.balance, c.version, {_cols("t")}
FROM (SELECT 1 AS one) AS o
LEFT JOIN credits AS c ON c.user_id = %s
LEFT JOIN transactions AS t ON t.idempotency_key = %s
"""

FETCH_BY_KEY_WITH_CREDITS = f"""
SELECT c.balance, c.version, {_cols("t")}
FROM transactions AS t
LEFT JOIN credits AS c ON c.user_id = t.user_id
WHERE t.idempotency_key = %s
"""

FETCH_REFUND = f"""
SELECT c.balance, c.version, {_cols("orig")}, {_cols("r")}
FROM (SELECT 1 AS one) AS o
LEFT JOIN transactions AS orig ON orig.idempotency_key = %s
LEFT JOIN transactions AS r ON r.idempotency_key = %s
LEFT JOIN credits AS c ON c.user_id = orig.user_id
"""

FETCH_CREDITED_REFERENCE = f"""
SELECT {_cols("t")} FROM transactions AS t
WHERE t.payment_reference = %s AND t.type = 'purchase'
  AND t.status IN ('completed', 'refunded')
"""

FETCH_REFUND_OF = f"SELECT {_cols('t')} FROM transactions AS t WHERE t.refund_of_id = %s"

FETCH_BY_KEY = f"SELECT {_cols('t')} FROM transactions AS t WHERE t.idempotency_key = %s"

UPDATE_BALANCE = """
UPDATE credits
SET balance = balance + %s, version = version + 1, last_updated_at = CURRENT_TIMESTAMP
WHERE user_id = %s AND version = %s
RETURNING balance, version
"""

# PostgreSQL: the whole change in one statement (autocommit: one transaction).
# ``cur`` reads balance and version, ``prior`` the row already carrying the
# key; ``u`` is the specification's version-checked UPDATE, allowed only if
# the key is new and the balance suffices; ``ins`` writes the row from its
# RETURNING. Under READ COMMITTED a concurrent committed change makes the
# UPDATE re-check ``version = (read version)`` against the new row: no match,
# no row updated, nothing inserted — a conflict, retried like any other. The
# result row tells which case happened (see operations._apply_new_postgres). It
# runs as a server-side prepared statement: planning these CTEs costs more than
# executing them. Parameters: $1 user_id, $2 key, $3 signed amount, $4 type,
# $5 payment_reference, $6 reason.
CHANGE_STATEMENT = "tarotbot_ledger_change_v1"
CHANGE_TYPES = "bigint, varchar, integer, varchar, varchar, text"
CHANGE_IN_ONE_STATEMENT = f"""
WITH cur AS (
    SELECT balance, version FROM credits WHERE user_id = $1
), prior AS (
    SELECT {", ".join(TXN_COLUMNS)} FROM transactions WHERE idempotency_key = $2
), u AS (
    UPDATE credits
    SET balance = balance + $3, version = version + 1, last_updated_at = CURRENT_TIMESTAMP
    WHERE user_id = $1 AND version = (SELECT version FROM cur)
      AND (SELECT balance FROM cur) + $3 >= 0
      AND NOT EXISTS (SELECT 1 FROM prior)
    RETURNING balance, version
), ins AS (
    INSERT INTO transactions (user_id, type, amount, credits_before, credits_after, status,
        payment_reference, idempotency_key, credits_version, reason, completed_at)
    SELECT $1, $4, $3, u.balance - $3, u.balance, 'completed', $5, $2, u.version, $6,
        CURRENT_TIMESTAMP
    FROM u
    RETURNING id, credits_after, credits_version
)
SELECT cur.balance, cur.version, ins.id, ins.credits_after, ins.credits_version,
    {_cols("prior")}
FROM (SELECT 1 AS one) AS o
LEFT JOIN cur ON TRUE
LEFT JOIN ins ON TRUE
LEFT JOIN prior ON TRUE
"""

INSERT_TXN = """
INSERT INTO transactions (user_id, type, amount, credits_before, credits_after, status,
    payment_reference, idempotency_key, refund_of_id, credits_version, reason, completed_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
    CASE WHEN %s = 'completed' THEN CURRENT_TIMESTAMP END)
RETURNING id
"""

OPEN_ACCOUNT = """
INSERT INTO credits (user_id, balance, version) VALUES (%s, 0, 1)
ON CONFLICT (user_id) DO NOTHING
"""

CREDITS = "SELECT balance, version FROM credits WHERE user_id = %s"

COMPLETE_PENDING = """
UPDATE transactions
SET status = 'completed', credits_before = %s, credits_after = %s,
    credits_version = %s, payment_reference = %s, completed_at = CURRENT_TIMESTAMP
WHERE id = %s AND status = 'pending'
"""

FAIL_PENDING = (
    "UPDATE transactions SET status = 'failed', error_message = %s "
    "WHERE id = %s AND status = 'pending'"
)

MARK_REFUNDED = "UPDATE transactions SET status = 'refunded' WHERE id = %s AND status = 'completed'"

# Run with database.execute_sql as written (each is for one database only).
EXPIRE_STALE_POSTGRES = """
UPDATE transactions SET status = 'failed', error_message = %s
WHERE id IN (
    SELECT id FROM transactions
    WHERE status = 'pending' AND type = 'purchase'
      AND created_at < CURRENT_TIMESTAMP - %s * INTERVAL '1 second'
    ORDER BY id FOR UPDATE SKIP LOCKED)
"""

EXPIRE_STALE_SQLITE = """
UPDATE transactions SET status = 'failed', error_message = ?
WHERE status = 'pending' AND type = 'purchase'
  AND created_at < strftime('%Y-%m-%d %H:%M:%f', 'now', ?)
"""


@functools.lru_cache(maxsize=64)
def _dialect(text: str, postgres: bool) -> str:
    return text if postgres else text.replace("%s", "?")


def execute(text: str, params: tuple = ()):
    return database.execute_sql(_dialect(text, is_postgres()), params)


# psycopg2 connection -> names of the statements prepared on it. Weak keys: a
# closed or forgotten (forked) connection takes its entry with it.
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_prepared_lock = threading.Lock()


def execute_prepared(name: str, types: str, text: str, params: tuple):
    """PostgreSQL: EXECUTE ``name``, preparing it on this connection the first time."""
    conn = database.connection()
    with _prepared_lock:
        names = _prepared.setdefault(conn, set())
    if name not in names:
        database.execute_sql(f"PREPARE {name} ({types}) AS {text}")
        names.add(name)
    placeholders = ", ".join(["%s"] * len(params))
    return database.execute_sql(f"EXECUTE {name} ({placeholders})", params)


def one(text: str, params: tuple = ()) -> tuple | None:
    rows = execute(text, params).fetchall()  # fetchall: SQLite finishes RETURNING
    return rows[0] if rows else None
