"""Erasure on request (/delete): when a person's data was erased, and who may not get a second welcome.

``users.erased_at`` marks an anonymised account: its telegram_id is replaced
by ``-id`` and its personal fields cleared, but the row and its ledger rows
stay, so balances and the audit hold. ``erased_accounts`` keeps only a keyed
digest (HMAC) of the Telegram id, so that someone who starts afresh is not
given the welcome bonus twice.
"""

import peewee

STATEMENTS = [
    "ALTER TABLE users ADD COLUMN erased_at TIMESTAMP WITH TIME ZONE",
    """
    CREATE TABLE erased_accounts (
        digest CHAR(64) PRIMARY KEY,
        erased_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
    )
    """,
]


def up(migrator, db):
    postgres = isinstance(db, peewee.PostgresqlDatabase)
    for statement in STATEMENTS:
        db.execute_sql(
            statement if postgres else statement.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMP")
        )
