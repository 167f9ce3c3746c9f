"""Telegram's own Stars ledger, mirrored, and where reconciliation stopped reading it.

- ``star_transactions``: every Stars transaction ``getStarTransactions`` listed,
  one row per (Telegram transaction id, direction): ``in`` for a payment
  (``source``), ``out`` for a refund (``receiver``; Telegram gives it the
  payment's id). The audit compares the ledger's purchases with the ``in`` rows.
- ``reconciliation_checkpoints``: per name (``stars``), the offset of the next
  transaction to read (Telegram lists them in chronological order) and when
  the last pass that reached the end of the list began (``synced_at``): a
  purchase credited before that moment must be listed.

Written as SQL by hand; the same statements run on PostgreSQL and SQLite.
"""

STATEMENTS = [
    """
    CREATE TABLE star_transactions (
        telegram_transaction_id VARCHAR(255) NOT NULL,
        direction VARCHAR(3) NOT NULL,
        telegram_user_id BIGINT,
        amount INTEGER NOT NULL,
        invoice_payload VARCHAR(255),
        subscription_period INTEGER,
        transaction_date TIMESTAMP WITH TIME ZONE NOT NULL,
        seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
        PRIMARY KEY (telegram_transaction_id, direction),
        CONSTRAINT valid_star_direction CHECK (direction IN ('in', 'out'))
    )
    """,
    "CREATE INDEX idx_star_transactions_date ON star_transactions(transaction_date)",
    """
    CREATE TABLE reconciliation_checkpoints (
        name VARCHAR(50) PRIMARY KEY,
        next_offset INTEGER NOT NULL DEFAULT 0,
        synced_at TIMESTAMP WITH TIME ZONE,
        updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
        CONSTRAINT non_negative_offset CHECK (next_offset >= 0)
    )
    """,
]


def up(migrator, db):
    for statement in STATEMENTS:
        db.execute_sql(statement)
