"""Ledger columns and the unique indexes that make credit changes exactly-once.

- ``idempotency_key``: the caller's key (payment charge id, job id). UNIQUE, so
  a replayed operation can never write a second row, even when two processes
  race with the same key.
- ``refund_of_id``: a refund row points at the row it compensates; a partial
  UNIQUE index allows one refund per original.
- ``credits_version``: the ``credits.version`` this row produced when it was
  applied (NULL while pending or after failing). UNIQUE per user, so two rows
  can never claim the same step of a user's balance history; the audit walks
  the chain in this order.
- ``reason``: why a bonus or refund was given (free text, for people).
- A partial UNIQUE index on ``payment_reference`` over credited purchases
  (completed, or completed and later refunded): one payment is credited once.

Written as SQL by hand (playhouse would drop the partial indexes); the same
statements run on PostgreSQL and SQLite.
"""

STATEMENTS = [
    "ALTER TABLE transactions ADD COLUMN idempotency_key VARCHAR(255)",
    "ALTER TABLE transactions ADD COLUMN refund_of_id BIGINT REFERENCES transactions(id)",
    "ALTER TABLE transactions ADD COLUMN credits_version INTEGER",
    "ALTER TABLE transactions ADD COLUMN reason TEXT",
    "CREATE UNIQUE INDEX idx_transactions_idempotency_key ON transactions(idempotency_key)",
    """
    CREATE UNIQUE INDEX idx_transactions_payment_once ON transactions(payment_reference)
        WHERE type = 'purchase' AND status IN ('completed', 'refunded')
    """,
    """
    CREATE UNIQUE INDEX idx_transactions_refund_once ON transactions(refund_of_id)
        WHERE refund_of_id IS NOT NULL
    """,
    """
    CREATE UNIQUE INDEX idx_transactions_user_version ON transactions(user_id, credits_version)
        WHERE credits_version IS NOT NULL
    """,
]


def up(migrator, db):
    for statement in STATEMENTS:
        db.execute_sql(statement)
