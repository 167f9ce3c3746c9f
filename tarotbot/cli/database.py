"""CLI commands that manage the database: ``migrate``."""

from __future__ import annotations

import click

from tarotbot import schema
from tarotbot.config import get_settings
from tarotbot.db import check_connection, connection, init_database


def open_database(pooled: bool = False, process: str | None = None):
    """Bind the database from settings and prove it answers (one-line error if not).

    ``process``: a deployed process (release, bot, worker, scheduler), which
    refuses to start on a private SQLite file while REDIS_URL says it is
    one of several.
    """
    settings = get_settings()
    if process is not None:
        settings.require_shared_database(process)
    init_database(settings, pooled=pooled)
    check_connection(settings)
    return settings


@click.command()
@click.option("--list", "list_only", is_flag=True, help="Show applied and pending migrations.")
def migrate(list_only: bool) -> None:
    """Apply pending schema migrations (a no-op when up to date).

    Uses DATABASE_URL (PostgreSQL), or the embedded SQLite file when unset.
    """
    settings = open_database(process="release")
    with connection():
        if list_only:
            for item in schema.status():
                state = f"applied {item.applied_at:%Y-%m-%d %H:%M}" if item.applied else "pending"
                click.echo(f"{item.name:<40} {state}")
            return
        applied = schema.migrate(on_applied=lambda name: click.echo(f"applied {name}"))
    if applied:
        click.echo(f"{len(applied)} migration(s) applied to {settings.database_label}.")
    else:
        click.echo(f"{settings.database_label} is up to date.")


COMMANDS = [migrate]
