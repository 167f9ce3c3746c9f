"""The language a person reads in (en, ru): chosen from Telegram's language_code, or with /language."""


def up(migrator, db):
    db.execute_sql("ALTER TABLE users ADD COLUMN language VARCHAR(8)")
