"""The specification's four tables, their CHECKs and every index it lists.

Written as SQL by hand: playhouse's generated migrations drop CHECK
constraints and partial indexes. PostgreSQL gets the spec verbatim; SQLite
gets the closest equivalent (INTEGER rowid keys, TEXT for JSON).
"""

import peewee

POSTGRES = [
    """
    CREATE TABLE users (
        id BIGSERIAL PRIMARY KEY,
        telegram_id BIGINT UNIQUE NOT NULL,
        username VARCHAR(255),
        created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
        last_active_at TIMESTAMP WITH TIME ZONE,
        is_active BOOLEAN DEFAULT true,
        subscription_tier VARCHAR(50) DEFAULT 'basic',
        subscription_expires_at TIMESTAMP WITH TIME ZONE,
        CONSTRAINT valid_subscription_tier
            CHECK (subscription_tier IN ('basic', 'premium', 'professional'))
    )
    """,
    "CREATE INDEX idx_users_telegram_id ON users(telegram_id)",
    """
    CREATE INDEX idx_users_subscription_expires ON users(subscription_expires_at)
        WHERE subscription_expires_at IS NOT NULL
    """,
    """
    CREATE TABLE credits (
        id BIGSERIAL PRIMARY KEY,
        user_id BIGINT REFERENCES users(id),
        balance INTEGER NOT NULL DEFAULT 0,
        last_updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
        version INTEGER DEFAULT 1,
        CONSTRAINT positive_balance CHECK (balance >= 0)
    )
    """,
    "CREATE UNIQUE INDEX idx_credits_user_id ON credits(user_id)",
    """
    CREATE TABLE transactions (
        id BIGSERIAL PRIMARY KEY,
        user_id BIGINT REFERENCES users(id),
        type VARCHAR(50) NOT NULL,
        amount INTEGER NOT NULL,
        credits_before INTEGER NOT NULL,
        credits_after INTEGER NOT NULL,
        status VARCHAR(50) NOT NULL DEFAULT 'pending',
        payment_reference VARCHAR(255),
        created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
        completed_at TIMESTAMP WITH TIME ZONE,
        error_message TEXT,
        CONSTRAINT valid_transaction_type
            CHECK (type IN ('purchase', 'reading', 'refund', 'bonus')),
        CONSTRAINT valid_transaction_status
            CHECK (status IN ('pending', 'completed', 'failed', 'refunded'))
    )
    """,
    "CREATE INDEX idx_transactions_user_id ON transactions(user_id)",
    "CREATE INDEX idx_transactions_created_at ON transactions(created_at)",
    "CREATE INDEX idx_transactions_status ON transactions(status) WHERE status = 'pending'",
    """
    CREATE TABLE readings (
        id BIGSERIAL PRIMARY KEY,
        user_id BIGINT REFERENCES users(id),
        spread_type VARCHAR(50) NOT NULL,
        question TEXT,
        cards JSONB NOT NULL,
        interpretation TEXT NOT NULL,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
        transaction_id BIGINT REFERENCES transactions(id),
        CONSTRAINT valid_spread_type CHECK (spread_type IN ('single', 'three', 'celtic',
            'relationship', 'career', 'week_ahead', 'monthly_guidance', 'yearly_path',
            'life_path'))
    )
    """,
    "CREATE INDEX idx_readings_user_id ON readings(user_id)",
    "CREATE INDEX idx_readings_created_at ON readings(created_at)",
    "CREATE INDEX idx_readings_spread_type ON readings(spread_type)",
    # Composite indexes
    "CREATE INDEX idx_users_activity ON users(is_active, last_active_at)",
    "CREATE INDEX idx_readings_user_lookup ON readings(user_id, created_at DESC)",
    "CREATE INDEX idx_transactions_analysis ON transactions(user_id, type, created_at)",
    # Partial indexes
    """
    CREATE INDEX idx_active_subscriptions ON users(subscription_expires_at)
        WHERE subscription_tier != 'basic' AND is_active = true
    """,
    """
    CREATE INDEX idx_pending_transactions ON transactions(created_at)
        WHERE status = 'pending'
    """,
]


def _sqlite(statement: str) -> str:
    """Translate one PostgreSQL statement of this file to SQLite."""
    return (
        statement.replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")
        .replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMP")
        .replace("JSONB", "TEXT")
        .replace("= true", "= 1")
        .replace("DEFAULT true", "DEFAULT 1")
    )


def up(migrator, db):
    postgres = isinstance(db, peewee.PostgresqlDatabase)
    for statement in POSTGRES:
        db.execute_sql(statement if postgres else _sqlite(statement))
