"""Throwaway PostgreSQL databases for benchmark scripts.

A benchmark must never touch a real database, and two benchmarks (or a
benchmark and a test run) must not collide. :func:`throwaway_database`
creates a uniquely named database on the admin server ``BENCH_POSTGRES_URL``
(the test suite's server by default), binds :data:`tarotbot.db.database` to
it, applies every migration and, whatever happens inside the ``with`` block,
drops it again (``WITH (FORCE)``, so a stray session cannot keep it alive).
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as ``python bench/x.py`` as well as ``-m bench.x``
    sys.path.insert(0, str(ROOT))

from tarotbot import db as tdb  # noqa: E402
from tarotbot import schema  # noqa: E402
from tarotbot.config import load_settings  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin(statement: str) -> None:
    conn = psycopg2.connect(ADMIN_URL, connect_timeout=5)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def _url_for(name: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def create_database(prefix: str = "tarotbot_bench") -> str:
    """Create an empty, uniquely named database; return its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    return _url_for(name)


def drop_database(url: str) -> None:
    """Drop the database at ``url``, disconnecting any session still in it."""
    _admin(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')


@contextlib.contextmanager
def throwaway_database(prefix: str = "tarotbot_bench") -> Iterator[str]:
    """A migrated database bound to :data:`tarotbot.db.database` for the block.

    Yields the database URL (for ``psql`` or a second connection). The
    connection is open on entry; on exit it is closed and the database
    dropped, even when the block raises or is interrupted.
    """
    url = create_database(prefix)
    try:
        tdb.init_database(load_settings({"DATABASE_URL": url}))
        tdb.database.connect(reuse_if_open=True)
        schema.migrate()
        yield url
    finally:
        if tdb.database.obj is not None and not tdb.database.is_closed():
            tdb.database.close()
        drop_database(url)
