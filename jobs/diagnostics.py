"""Jobs that report on the worker itself (used by tests and by operators)."""

from __future__ import annotations

import os

from jobs import job_context
from tarotbot import db


@job_context
def database_identity() -> dict:
    """Which process ran the job and which database session served it."""
    backend_pid = None
    if db.is_postgres():
        backend_pid = db.database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    total = db.database.execute_sql("SELECT count(*) FROM users").fetchone()[0]
    return {"pid": os.getpid(), "backend_pid": backend_pid, "users": total}
