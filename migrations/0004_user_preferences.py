"""Per-user reading preferences kept with the user (sessions are rebuilt from them)."""


def up(migrator, db):
    db.execute_sql("ALTER TABLE users ADD COLUMN reads_reversals BOOLEAN NOT NULL DEFAULT true")
    db.execute_sql("ALTER TABLE users ADD COLUMN first_name VARCHAR(255)")
