"""Invitation rewards: one per new account (the primary key), counted per inviter and day."""

import peewee

STATEMENTS = [
    """
    CREATE TABLE invite_rewards (
        invitee_id BIGINT PRIMARY KEY REFERENCES users(id),
        inviter_id BIGINT NOT NULL REFERENCES users(id),
        day DATE NOT NULL,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
    )
    """,
    "CREATE INDEX idx_invite_rewards_inviter_day ON invite_rewards(inviter_id, day)",
]


def up(migrator, db):
    postgres = isinstance(db, peewee.PostgresqlDatabase)
    for statement in STATEMENTS:
        db.execute_sql(
            statement if postgres else statement.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMP")
        )
