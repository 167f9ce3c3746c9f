"""A freshly migrated PostgreSQL database matches the specification, object by object."""

from __future__ import annotations

import subprocess
import sys

import psycopg2
import pytest

from tarotbot import schema

TS = "timestamp with time zone"
# (column, data_type, column_default or None, is_nullable) from information_schema.
SPEC_COLUMNS = {
    "users": [
        ("id", "bigint", "nextval('users_id_seq'::regclass)", "NO"),
        ("telegram_id", "bigint", None, "NO"),
        ("username", "character varying(255)", None, "YES"),
        ("created_at", TS, "CURRENT_TIMESTAMP", "YES"),
        ("last_active_at", TS, None, "YES"),
        ("is_active", "boolean", "true", "YES"),
        ("subscription_tier", "character varying(50)", "'basic'::character varying", "YES"),
        ("subscription_expires_at", TS, None, "YES"),
    ],
    "credits": [
        ("id", "bigint", "nextval('credits_id_seq'::regclass)", "NO"),
        ("user_id", "bigint", None, "YES"),
        ("balance", "integer", "0", "NO"),
        ("last_updated_at", TS, "CURRENT_TIMESTAMP", "YES"),
        ("version", "integer", "1", "YES"),
    ],
    "transactions": [
        ("id", "bigint", "nextval('transactions_id_seq'::regclass)", "NO"),
        ("user_id", "bigint", None, "YES"),
        ("type", "character varying(50)", None, "NO"),
        ("amount", "integer", None, "NO"),
        ("credits_before", "integer", None, "NO"),
        ("credits_after", "integer", None, "NO"),
        ("status", "character varying(50)", "'pending'::character varying", "NO"),
        ("payment_reference", "character varying(255)", None, "YES"),
        ("created_at", TS, "CURRENT_TIMESTAMP", "YES"),
        ("completed_at", TS, None, "YES"),
        ("error_message", "text", None, "YES"),
    ],
    "readings": [
        ("id", "bigint", "nextval('readings_id_seq'::regclass)", "NO"),
        ("user_id", "bigint", None, "YES"),
        ("spread_type", "character varying(50)", None, "NO"),
        ("question", "text", None, "YES"),
        ("cards", "jsonb", None, "NO"),
        ("interpretation", "text", None, "NO"),
        ("created_at", TS, "CURRENT_TIMESTAMP", "YES"),
        ("transaction_id", "bigint", None, "YES"),
    ],
}

SPEC_INDEXES = {
    "idx_users_telegram_id": "CREATE INDEX idx_users_telegram_id ON public.users USING btree (telegram_id)",
    "idx_users_subscription_expires": "CREATE INDEX idx_users_subscription_expires ON public.users USING btree (subscription_expires_at) WHERE (subscription_expires_at IS NOT NULL)",
    "idx_credits_user_id": "CREATE UNIQUE INDEX idx_credits_user_id ON public.credits USING btree (user_id)",
    "idx_transactions_user_id": "CREATE INDEX idx_transactions_user_id ON public.transactions USING btree (user_id)",
    "idx_transactions_created_at": "CREATE INDEX idx_transactions_created_at ON public.transactions USING btree (created_at)",
    "idx_transactions_status": "CREATE INDEX idx_transactions_status ON public.transactions USING btree (status) WHERE ((status)::text = 'pending'::text)",
    "idx_readings_user_id": "CREATE INDEX idx_readings_user_id ON public.readings USING btree (user_id)",
    "idx_readings_created_at": "CREATE INDEX idx_readings_created_at ON public.readings USING btree (created_at)",
    "idx_readings_spread_type": "CREATE INDEX idx_readings_spread_type ON public.readings USING btree (spread_type)",
    "idx_users_activity": "CREATE INDEX idx_users_activity ON public.users USING btree (is_active, last_active_at)",
    "idx_readings_user_lookup": "CREATE INDEX idx_readings_user_lookup ON public.readings USING btree (user_id, created_at DESC)",
    "idx_transactions_analysis": "CREATE INDEX idx_transactions_analysis ON public.transactions USING btree (user_id, type, created_at)",
    "idx_active_subscriptions": "CREATE INDEX idx_active_subscriptions ON public.users USING btree (subscription_expires_at) WHERE (((subscription_tier)::text <> 'basic'::text) AND (is_active = true))",
    "idx_pending_transactions": "CREATE INDEX idx_pending_transactions ON public.transactions USING btree (created_at) WHERE ((status)::text = 'pending'::text)",
    # Implicit ones the spec's DDL creates.
    "users_pkey": "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)",
    "users_telegram_id_key": "CREATE UNIQUE INDEX users_telegram_id_key ON public.users USING btree (telegram_id)",
    "credits_pkey": "CREATE UNIQUE INDEX credits_pkey ON public.credits USING btree (id)",
    "transactions_pkey": "CREATE UNIQUE INDEX transactions_pkey ON public.transactions USING btree (id)",
    "readings_pkey": "CREATE UNIQUE INDEX readings_pkey ON public.readings USING btree (id)",
}

SPEC_CHECKS = {
    (
        "users",
        "valid_subscription_tier",
    ): "CHECK (((subscription_tier)::text = ANY ((ARRAY['basic'::character varying, 'premium'::character varying, 'professional'::character varying])::text[])))",
    ("credits", "positive_balance"): "CHECK ((balance >= 0))",
    (
        "transactions",
        "valid_transaction_type",
    ): "CHECK (((type)::text = ANY ((ARRAY['purchase'::character varying, 'reading'::character varying, 'refund'::character varying, 'bonus'::character varying])::text[])))",
    (
        "transactions",
        "valid_transaction_status",
    ): "CHECK (((status)::text = ANY ((ARRAY['pending'::character varying, 'completed'::character varying, 'failed'::character varying, 'refunded'::character varying])::text[])))",
    (
        "readings",
        "valid_spread_type",
    ): "CHECK (((spread_type)::text = ANY ((ARRAY['single'::character varying, 'three'::character varying, 'celtic'::character varying, 'relationship'::character varying, 'career'::character varying, 'week_ahead'::character varying, 'monthly_guidance'::character varying, 'yearly_path'::character varying, 'life_path'::character varying])::text[])))",
}

SPEC_FOREIGN_KEYS = {
    ("credits", "user_id", "users", "id"),
    ("transactions", "user_id", "users", "id"),
    ("readings", "user_id", "users", "id"),
    ("readings", "transaction_id", "transactions", "id"),
}


ROOT = str(schema.MIGRATIONS_DIR.parent)
BASE_ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ROOT, "TZ": "UTC"}


def _run_migrate(url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tarotbot", "migrate"],
        env={**BASE_ENV, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def migrated(fresh_pg_url):
    first = _run_migrate(fresh_pg_url)
    assert first.returncode == 0, first.stderr
    assert "0001_initial_schema" in first.stdout
    second = _run_migrate(fresh_pg_url)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    conn = psycopg2.connect(fresh_pg_url)
    yield conn
    conn.close()


def _query(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def test_columns_match_the_spec(migrated):
    for table, expected in SPEC_COLUMNS.items():
        rows = _query(
            migrated,
            """
            SELECT column_name,
                   CASE WHEN character_maximum_length IS NOT NULL
                        THEN data_type || '(' || character_maximum_length || ')'
                        ELSE data_type END,
                   column_default, is_nullable
            FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name = %s
            ORDER BY ordinal_position
            """,
            table,
        )
        actual = {row[0]: tuple(row) for row in rows}
        for column in expected:
            assert actual.get(column[0]) == column, f"{table}.{column[0]}"


def test_every_spec_index_exists_with_its_definition(migrated):
    rows = dict(
        _query(migrated, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname='public'")
    )
    for name, definition in SPEC_INDEXES.items():
        assert rows.get(name) == definition, name


def test_check_constraints_and_foreign_keys(migrated):
    checks = {
        (table, name): definition
        for table, name, definition in _query(
            migrated,
            """
            SELECT rel.relname, con.conname, pg_get_constraintdef(con.oid)
            FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
            WHERE con.contype = 'c'
            """,
        )
    }
    for key, definition in SPEC_CHECKS.items():
        assert checks.get(key) == definition, key
    fks = set(
        _query(
            migrated,
            """
            SELECT tc.table_name, kcu.column_name, ccu.table_name, ccu.column_name
            FROM information_schema.table_constraints tc
            JOIN information_schema.key_column_usage kcu USING (constraint_name, table_schema)
            JOIN information_schema.constraint_column_usage ccu USING (constraint_name, table_schema)
            WHERE tc.constraint_type = 'FOREIGN KEY'
            """,
        )
    )
    assert fks >= SPEC_FOREIGN_KEYS


def test_history_records_every_migration_once(migrated):
    names = [row[0] for row in _query(migrated, "SELECT name FROM schema_migration ORDER BY id")]
    files = sorted(p.stem for p in schema.MIGRATIONS_DIR.glob("[0-9]*.py"))
    assert names == files


def test_migrate_list_shows_pending_then_applied(fresh_pg_url):
    env = {**BASE_ENV, "DATABASE_URL": fresh_pg_url}
    cmd = [sys.executable, "-m", "tarotbot", "migrate", "--list"]
    before = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert before.returncode == 0, before.stderr
    assert "0001_initial_schema" in before.stdout and "pending" in before.stdout
    assert _run_migrate(fresh_pg_url).returncode == 0
    after = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert "pending" not in after.stdout and "applied" in after.stdout


def test_sqlite_embedded_default_migrates_twice(tmp_path):
    env = {**BASE_ENV, "HOME": str(tmp_path)}
    for expected in ("applied 0001_initial_schema", "up to date"):
        result = subprocess.run(
            [sys.executable, "-m", "tarotbot", "migrate"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert expected in result.stdout
    assert (tmp_path / "tarotbot.sqlite3").exists()


def test_sqlite_enforces_the_spec_checks(sqlite_db):
    import peewee

    sqlite_db.execute_sql("INSERT INTO users (telegram_id) VALUES (1)")
    with pytest.raises(peewee.IntegrityError):
        sqlite_db.execute_sql(
            "INSERT INTO users (telegram_id, subscription_tier) VALUES (2, 'gold')"
        )
    with pytest.raises(peewee.IntegrityError):
        sqlite_db.execute_sql("INSERT INTO credits (user_id, balance) VALUES (1, -1)")


def test_concurrent_migrate_runs_apply_once(fresh_pg_url):
    env = {**BASE_ENV, "DATABASE_URL": fresh_pg_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tarotbot", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sum("applied 0001_initial_schema" in out for out, _ in outputs) == 1


def test_data_migration_resumes_after_a_crash(pg):
    from tarotbot.models import User

    User.insert_many([{"telegram_id": i} for i in range(1, 26)]).execute()
    seen: list[int] = []

    def crash_on_third_batch(rows):
        if len(seen) >= 20:
            raise RuntimeError("simulated crash")
        for row in rows:
            User.update(username=f"user{row.telegram_id}").where(User.id == row.id).execute()
        seen.extend(row.id for row in rows)

    migration = schema.DataMigration("name-users", User, crash_on_third_batch, batch_size=10)
    with pytest.raises(RuntimeError):
        migration.run()
    assert len(seen) == 20
    assert migration.remaining() == 5

    def finish(rows):
        for row in rows:
            User.update(username=f"user{row.telegram_id}").where(User.id == row.id).execute()
        seen.extend(row.id for row in rows)

    resumed = schema.DataMigration("name-users", User, finish, batch_size=10)
    assert resumed.run(progress_bar=True) == 5
    assert sorted(seen) == list(range(1, 26))
    assert User.select().where(User.username.is_null()).count() == 0
    assert resumed.run() == 0
    pg.execute_sql("DELETE FROM data_migration")
