"""``db``: each history test runs once on PostgreSQL and once on SQLite."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["postgres", "sqlite"])
def db(request):
    """The database proxy bound to a migrated, empty database of either engine."""
    return request.getfixturevalue("pg" if request.param == "postgres" else "sqlite_db")
