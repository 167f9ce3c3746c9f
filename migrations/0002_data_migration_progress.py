"""Progress table for resumable data migrations (tarotbot.schema.DataMigration)."""

import peewee


def up(migrator, db):
    timestamp = (
        "TIMESTAMP WITH TIME ZONE" if isinstance(db, peewee.PostgresqlDatabase) else "TIMESTAMP"
    )
    db.execute_sql(
        f"""
        CREATE TABLE data_migration (
            name VARCHAR(255) PRIMARY KEY,
            last_id BIGINT NOT NULL DEFAULT 0,
            rows_done BIGINT NOT NULL DEFAULT 0,
            finished BOOLEAN NOT NULL DEFAULT false,
            updated_at {timestamp} DEFAULT CURRENT_TIMESTAMP
        )
        """
    )
