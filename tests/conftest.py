"""Shared fixtures: a throwaway PostgreSQL database and a private Redis DB index per run.

Nothing here mocks our own code. PostgreSQL and Redis are the real servers on
127.0.0.1 (override with TEST_POSTGRES_URL / TEST_REDIS_URL); each test run
creates its own database (dropped at the end) and claims a free Redis DB
index (1..15, flushed before every test that uses it), so parallel runs on
one machine do not collide.
"""

from __future__ import annotations

import os
import secrets
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tarotbot import db as tdb  # noqa: E402
from tarotbot import schema  # noqa: E402
from tarotbot.config import load_settings  # noqa: E402

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
PG_HINT = "start it with: pg_ctlcluster --skip-systemctl-redirect 15 main start"
REDIS_HINT = (
    'start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" '
    "--appendonly no"
)
APP_TABLES = (
    "daily_cards",
    "invite_rewards",
    "admin_actions",
    "broadcasts",
    "erased_accounts",
    "readings",
    "transactions",
    "credits",
    "users",
    "star_transactions",
    "reconciliation_checkpoints",
)


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def _admin_connection():
    conn = psycopg2.connect(ADMIN_URL, connect_timeout=3)
    conn.autocommit = True
    return conn


def create_database(prefix: str = "tarotbot_test") -> str:
    """Create an empty throwaway database; return its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = _admin_connection()
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return _with_db(ADMIN_URL, name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = _admin_connection()
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def pytest_sessionstart(session):
    try:
        _admin_connection().close()
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0]
        pytest.exit(f"PostgreSQL at {ADMIN_URL} is not reachable ({reason}); {PG_HINT}", 2)
    try:
        redis.Redis.from_url(REDIS_BASE, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.exit(f"Redis at {REDIS_BASE} is not reachable ({exc}); {REDIS_HINT}", 2)


@pytest.fixture(scope="session")
def pg_url():
    """URL of this run's migrated PostgreSQL database."""
    url = create_database()
    settings = load_settings({"DATABASE_URL": url})
    tdb.init_database(settings)
    with tdb.connection():
        schema.migrate()
    tdb.database.close()
    yield url
    if not tdb.database.is_closed():
        tdb.database.close()
    drop_database(url)


@pytest.fixture
def fresh_pg_url():
    """An empty database of its own (for migration tests)."""
    url = create_database("tarotbot_fresh")
    yield url
    if tdb.database.obj is not None and not tdb.database.is_closed():
        tdb.database.close()
    drop_database(url)


def _truncate_all() -> None:
    tdb.database.execute_sql("TRUNCATE " + ", ".join(APP_TABLES) + " RESTART IDENTITY CASCADE")


@pytest.fixture
def pg(pg_url):
    """The database proxy bound to this run's PostgreSQL database, emptied after the test."""
    settings = load_settings({"DATABASE_URL": pg_url})
    tdb.init_database(settings)
    tdb.database.connect(reuse_if_open=True)
    yield tdb.database
    if tdb.database.in_transaction():
        tdb.database.rollback()
    _truncate_all()
    tdb.database.close()


@pytest.fixture
def sqlite_db(tmp_path):
    """The database proxy bound to a migrated SQLite file of its own."""
    settings = load_settings({"TAROTBOT_SQLITE_PATH": str(tmp_path / "tarotbot.sqlite3")})
    tdb.init_database(settings)
    with tdb.connection():
        schema.migrate()
    tdb.database.connect(reuse_if_open=True)
    yield tdb.database
    tdb.database.close()


@pytest.fixture(scope="session")
def redis_url():
    """A Redis URL on a DB index claimed by this run alone."""
    base = redis.Redis.from_url(REDIS_BASE + "/0")
    token = secrets.token_hex(8)
    for index in range(1, 16):
        key = f"tarotbot:test-db-claim:{index}"
        if base.set(key, token, nx=True, ex=3 * 3600):
            break
    else:
        pytest.exit("every Redis DB index 1..15 is claimed by other test runs", 2)
    url = f"{REDIS_BASE}/{index}"
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()
    if base.get(key) == token.encode():
        base.delete(key)


@pytest.fixture
def redis_conn(redis_url):
    """A client on this run's Redis DB index, flushed before the test."""
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.close()


@pytest.fixture
def app_env(pg_url, redis_url):
    """Environment for child processes: this run's PostgreSQL and Redis, no real Telegram."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAROT", "TELEGRAM_"))}
    env.update(
        DATABASE_URL=pg_url,
        REDIS_URL=redis_url,
        PYTHONPATH=str(ROOT),
        TZ="UTC",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def clean_env(tmp_path):
    """A minimal environment for CLI subprocesses: no app settings, the repo importable."""
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "TZ": "UTC"}
