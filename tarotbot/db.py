"""The database handle: a proxy bound once at start-up to PostgreSQL or SQLite.

Models import :data:`database` and never know which engine is behind it.
PostgreSQL is used when ``DATABASE_URL`` is set; otherwise an SQLite file is
the embedded default (demo, single-machine use).

Fork safety: an RQ work horse is a forked child. A psycopg2 connection
inherited from the parent must be neither used nor closed in the child (both
corrupt the parent's session: closing sends a Terminate message on the shared
socket). :func:`init_database` registers an ``after_in_child`` hook that
forgets the inherited connection (keeping a reference so it is never
finalised) so the child opens its own on first use.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import peewee
from playhouse.pool import PooledPostgresqlDatabase

from tarotbot.config import Settings, get_settings, postgres_query
from tarotbot.exceptions import ConfigError

database = peewee.DatabaseProxy()

# Connections inherited across fork(): held so they are never finalised
# (finalising would send Terminate on the parent's socket).
_inherited_connections: list[object] = []
_fork_hook_registered = False


def postgres_kwargs(url: str) -> dict:
    """Split a postgres:// or postgresql:// URL into psycopg2 connect arguments.

    Query parameters are libpq's (``?sslmode=require`` on Heroku) and, as in
    libpq, win over the same part of the URL; ``dbname`` becomes peewee's
    ``database``. An unknown parameter is a ConfigError naming DATABASE_URL
    (see :func:`tarotbot.config.postgres_query`), never a keyword argument
    that peewee or psycopg2 would take for its own.
    """
    parts = urlsplit(url)
    kwargs: dict = {"database": unquote(parts.path.lstrip("/"))}
    if parts.hostname:
        kwargs["host"] = unquote(parts.hostname)
    if parts.port:
        kwargs["port"] = parts.port
    if parts.username:
        kwargs["user"] = unquote(parts.username)
    if parts.password:
        kwargs["password"] = unquote(parts.password)
    for key, value in postgres_query(url).items():
        kwargs["database" if key == "dbname" else key] = value
    return kwargs


def make_database(settings: Settings, pooled: bool = False) -> peewee.Database:
    """A new, unconnected database object for ``settings``."""
    if settings.database_url is not None:
        kwargs = postgres_kwargs(settings.database_url)
        kwargs.setdefault("connect_timeout", 5)
        kwargs.setdefault("application_name", "tarotbot")
        if pooled:
            return PooledPostgresqlDatabase(
                max_connections=settings.db_max_connections,
                stale_timeout=300,
                autoconnect=True,
                **kwargs,
            )
        return peewee.PostgresqlDatabase(autoconnect=True, **kwargs)
    path = settings.sqlite_path
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    return peewee.SqliteDatabase(
        path,
        pragmas={
            "journal_mode": "wal",
            "foreign_keys": 1,
            "busy_timeout": 10_000,
            "synchronous": "normal",
        },
        timeout=10,
        check_same_thread=False,
    )


def _forget_inherited_connection() -> None:
    """Run in a forked child: drop the parent's connection without closing it."""
    target = database.obj
    if target is None:
        return
    state = target._state
    if state.conn is not None:
        _inherited_connections.append(state.conn)
    state.reset()
    pool_in_use = getattr(target, "_in_use", None)
    if pool_in_use is not None:  # a pool: its connections belong to the parent
        _inherited_connections.extend(getattr(target, "_connections", []))
        target._connections = []
        target._in_use = {}


def init_database(settings: Settings | None = None, pooled: bool = False) -> peewee.Database:
    """Bind :data:`database` to the configured engine and return it."""
    global _fork_hook_registered
    settings = settings or get_settings()
    if database.obj is not None and not database.is_closed():
        database.close()
    db = make_database(settings, pooled=pooled)
    database.initialize(db)
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_forget_inherited_connection)
        _fork_hook_registered = True
    return db


def check_connection(settings: Settings | None = None) -> None:
    """Connect once and run ``SELECT 1``; a failure names ``DATABASE_URL``."""
    settings = settings or get_settings()
    try:
        with database.connection_context():
            database.execute_sql("SELECT 1")
    except peewee.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        variable = "DATABASE_URL" if settings.uses_postgres else "TAROTBOT_SQLITE_PATH"
        raise ConfigError(
            variable, f"cannot connect to {settings.database_label}: {reason}"
        ) from None


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


@contextlib.contextmanager
def connection() -> Iterator[peewee.Database]:
    """A connection for one unit of work (a job, a command), closed afterwards."""
    with database.connection_context():
        yield database
