"""RQ entry points: thin top-level functions that take ids, not objects.

Every job runs inside :func:`job_context`, which makes sure the process has
its database bound and gives the job a connection of its own, closed when the
job ends. A forked work horse therefore never touches the connection its
parent may hold (see ``tarotbot.db``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from tarotbot import db

F = TypeVar("F", bound=Callable)


def ensure_database() -> None:
    """Bind the database proxy from settings if this process has not yet."""
    if db.database.obj is None:
        db.init_database()


def job_context(func: F) -> F:
    """Run ``func`` with the database bound and a connection of its own."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ensure_database()
        with db.connection():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
