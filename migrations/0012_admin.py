"""The admin audit trail and broadcasts.

``admin_actions``: one row per admin command that changed something (grant,
revoke, refund, broadcast), with the transaction it wrote, if any.
``broadcasts``: a message to everyone, sent in batches; ``cursor_user_id``
is the last user id done and ``inflight_user_id`` the one being sent to, so
a broadcast resumed after a crash neither skips nor repeats anyone.
"""

import peewee

STATEMENTS = [
    """
    CREATE TABLE admin_actions (
        id BIGSERIAL PRIMARY KEY,
        admin_telegram_id BIGINT NOT NULL,
        action VARCHAR(32) NOT NULL,
        user_id BIGINT REFERENCES users(id),
        transaction_id BIGINT REFERENCES transactions(id),
        detail TEXT,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
    )
    """,
    "CREATE INDEX idx_admin_actions_created_at ON admin_actions(created_at)",
    """
    CREATE TABLE broadcasts (
        id BIGSERIAL PRIMARY KEY,
        admin_telegram_id BIGINT NOT NULL,
        admin_chat_id BIGINT NOT NULL,
        text TEXT NOT NULL,
        status VARCHAR(16) NOT NULL DEFAULT 'draft',
        cursor_user_id BIGINT NOT NULL DEFAULT 0,
        inflight_user_id BIGINT,
        total INTEGER NOT NULL DEFAULT 0,
        sent INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        progress_message_id BIGINT,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
        started_at TIMESTAMP WITH TIME ZONE,
        updated_at TIMESTAMP WITH TIME ZONE,
        finished_at TIMESTAMP WITH TIME ZONE,
        CONSTRAINT valid_broadcast_status
            CHECK (status IN ('draft', 'sending', 'done', 'cancelled'))
    )
    """,
]


def sqlite(statement: str) -> str:
    return statement.replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT").replace(
        "TIMESTAMP WITH TIME ZONE", "TIMESTAMP"
    )


def up(migrator, db):
    postgres = isinstance(db, peewee.PostgresqlDatabase)
    for statement in STATEMENTS:
        db.execute_sql(statement if postgres else sqlite(statement))
