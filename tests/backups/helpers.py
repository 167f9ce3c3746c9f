"""Helpers for the backup tests: databases holding a ledger, the CLI as a subprocess, rows.

Nothing here stands in for our code or the tools: databases are real
throwaway PostgreSQL databases (or SQLite files) filled through the ledger
and the reading service, and the CLI runs as ``python -m tarotbot backup``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from tarotbot import db as tdb
from tarotbot import ledger, readings, schema
from tarotbot.cache import CreditCache
from tarotbot.config import load_settings
from tarotbot.models import User

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AGE_HINT = (
    "the stock age CLI is missing: install it with `apt-get install -y age` "
    "(scripts/test.sh does so when run as root)"
)


def require_age() -> str:
    """The path of Debian's ``age``; the test fails (never skips) without it."""
    path = shutil.which("age")
    if path is None:
        pytest.fail(AGE_HINT)
    return path


def _admin():
    conn = psycopg2.connect(ADMIN_URL, connect_timeout=3)
    conn.autocommit = True
    return conn


def with_dbname(url: str, name: str, password: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if password is not None:
        user_host = netloc.rsplit("@", 1)
        host = user_host[-1]
        user = (user_host[0] if len(user_host) == 2 else "postgres").split(":", 1)[0]
        netloc = f"{user}:{password}@{host}"
    return urlunsplit((parts.scheme, netloc, "/" + name, parts.query, ""))


def create_database(prefix: str = "tarotbot_bk") -> str:
    """An empty throwaway database; its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = _admin()
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return with_dbname(ADMIN_URL, name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = _admin()
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def scratch_databases() -> set[str]:
    """Names of the scratch databases ``verify --full`` creates (it must drop them)."""
    conn = _admin()
    with conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'tarotbot_verify_%'")
        names = {row[0] for row in cur.fetchall()}
    conn.close()
    return names


def bind(url: str) -> None:
    """Bind the process's database proxy to ``url`` (postgresql:// or sqlite:///)."""
    if tdb.database.obj is not None and not tdb.database.is_closed():
        tdb.database.close()
    tdb.init_database(load_settings({"DATABASE_URL": url}))


def fill_ledger(url: str, users: int = 6) -> None:
    """Migrate ``url`` and give it users, credits, transactions and readings, all through
    the ledger and the reading service (bonuses, purchases, a failed purchase, readings,
    a refund), so the ledger audit must find it clean."""
    ledger.set_credit_cache(CreditCache(client=None))
    bind(url)
    settings = load_settings({})
    try:
        with tdb.connection():
            schema.migrate()
            for n in range(users):
                user = User.create(telegram_id=900_000 + n, username=f"user{n}", first_name="Zoë")
                ledger.open_account(user.id)
                ledger.grant_bonus(user.id, 5, key=f"welcome-{n}", reason="welcome")
                ledger.start_purchase(user.id, 20 + n, f"invoice-{n}", key=f"buy-{n}")
                ledger.complete_purchase(f"buy-{n}", payment_reference=f"charge-{n}")
                for r in range(n % 3 + 1):
                    readings.perform_reading(
                        user, "three", f"question {n}.{r} – ünïcode?", f"reading-{n}-{r}", settings
                    )
                if n % 2:
                    ledger.start_purchase(user.id, 10, f"invoice-failed-{n}", key=f"fail-{n}")
                    ledger.fail_purchase(f"fail-{n}", "declined")
                if n % 3 == 0:
                    ledger.debit_reading(user.id, 1, key=f"lost-{n}")
                    ledger.refund(f"lost-{n}", key=f"refund-{n}", reason="not delivered")
    finally:
        tdb.database.close()
        ledger.set_credit_cache(None)


def pg_rows(url: str) -> dict[str, list[tuple]]:
    """Every row of every table in ``url``'s public schema, in primary-key order."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
            tables = [row[0] for row in cur.fetchall()]
            rows = {}
            for table in tables:
                cur.execute(f'SELECT * FROM "{table}" ORDER BY 1')
                rows[table] = cur.fetchall()
        return rows
    finally:
        conn.close()


def sqlite_rows(path: str | Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}
    finally:
        conn.close()


def backup_env(
    clean_env: dict, store: Path, age_keys, database_url: str | None = None, **extra: str
) -> dict:
    """The environment of a ``backup`` command: file storage at ``store``, our age keys."""
    env = dict(clean_env)
    env.update(
        BACKUP_URL=store.as_uri(),
        BACKUP_AGE_RECIPIENTS=age_keys.recipient_str,
        BACKUP_AGE_IDENTITY=age_keys.identity_str,
        PYTHONUNBUFFERED="1",
    )
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


def run_cli(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m tarotbot backup ARGS`` as a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "tarotbot", "backup", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The failure's only stderr line (``error: …``); asserts it is one line and no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def write_fake_tool(bin_dir: Path, name: str, version_line: str, then: str = "") -> None:
    """A ``name`` earlier on PATH: prints ``version_line`` for --version, else runs ``then``
    (e.g. ``exec /usr/bin/pg_dump "$@"``; empty: exits 0 without output)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / name
    script.write_text(
        f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo "{version_line}"; exit 0; fi\n{then}\n'
    )
    script.chmod(0o755)


def objects(store: Path) -> list[str]:
    """Names of the files under a file:// store, relative, sorted (hidden ones too)."""
    if not store.exists():
        return []
    return sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())
