"""The daily card: each person's timezone, chosen time, quiet hours and next due instant.

``daily_next_at`` is the next UTC instant a subscriber's card is due; the
per-minute scheduler job reads the partial index ``idx_users_daily_due``
(subscribed, active people only) instead of computing anyone's local time.
``daily_cards`` holds one card per person and local day (UNIQUE), shared by
the pushed card and /daily on demand (``pushed_at``, ``asked_at``: when each
delivered it).
"""

import peewee

STATEMENTS = [
    "ALTER TABLE users ADD COLUMN timezone VARCHAR(64)",
    "ALTER TABLE users ADD COLUMN daily_enabled BOOLEAN NOT NULL DEFAULT false",
    """ALTER TABLE users ADD COLUMN daily_minute INTEGER NOT NULL DEFAULT 540
        CHECK (daily_minute BETWEEN 0 AND 1439)""",
    "ALTER TABLE users ADD COLUMN quiet_start INTEGER CHECK (quiet_start BETWEEN 0 AND 1439)",
    "ALTER TABLE users ADD COLUMN quiet_end INTEGER CHECK (quiet_end BETWEEN 0 AND 1439)",
    "ALTER TABLE users ADD COLUMN daily_next_at TIMESTAMP WITH TIME ZONE",
    "ALTER TABLE users ADD COLUMN daily_offered BOOLEAN NOT NULL DEFAULT false",
    """
    CREATE INDEX idx_users_daily_due ON users(daily_next_at)
        WHERE daily_enabled = true AND is_active = true
    """,
    """
    CREATE TABLE daily_cards (
        id BIGSERIAL PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users(id),
        day DATE NOT NULL,
        reading_id BIGINT REFERENCES readings(id),
        created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
        pushed_at TIMESTAMP WITH TIME ZONE,
        asked_at TIMESTAMP WITH TIME ZONE,
        CONSTRAINT daily_cards_once_a_day UNIQUE (user_id, day)
    )
    """,
]


def sqlite(statement: str) -> str:
    return (
        statement.replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")
        .replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMP")
        .replace("= true", "= 1")
        .replace("DEFAULT false", "DEFAULT 0")
        .replace("DEFAULT true", "DEFAULT 1")
    )


def up(migrator, db):
    postgres = isinstance(db, peewee.PostgresqlDatabase)
    for statement in STATEMENTS:
        db.execute_sql(statement if postgres else sqlite(statement))
