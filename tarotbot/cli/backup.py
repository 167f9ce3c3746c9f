"""``python -m tarotbot backup …``: thin over :mod:`tarotbot.backups.service`.

Long steps draw a progress bar on stderr when it is a terminal. With REDIS_URL
set, ``create`` and ``prune`` hold the same Redis lock as the scheduled jobs,
so a command and a job never interleave (a prune would take a running backup
for a leftover).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import click
from tqdm import tqdm

from tarotbot.cli import setup_logging
from tarotbot.config import get_settings

log = logging.getLogger("tarotbot.backups")


def _progress(desc: str, total: int | None):
    """A byte-counting bar on stderr, drawn only when stderr is a terminal."""
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        leave=False,
        disable=not sys.stderr.isatty(),  # no \r noise in logs
    )


@contextlib.contextmanager
def _exclusive(settings, name: str) -> Iterator[None]:
    """Hold the backups' Redis lock ``name`` while a command runs (no Redis: no lock)."""
    from tarotbot.backups.lock import BackupLock
    from tarotbot.exceptions import BackupError, ConfigError
    from tarotbot.queue import check_redis, redis_from_settings

    conn = redis_from_settings(settings)
    if conn is None:
        yield
        return
    try:
        check_redis(conn)
    except ConfigError as exc:  # a backup during a Redis outage is worth more than the lock
        log.warning("going on without the backup lock: %s", exc)
        yield
        return
    with BackupLock(conn, name) as lock:
        if not lock.held:
            raise BackupError(
                f"another backup run holds the {name} lock ({lock.holder}); nothing done, "
                "try again when it has finished"
            )
        yield


@click.group()
def backup() -> None:
    """Encrypted backups of the database: create, list, verify, restore, prune.

    Storage is BACKUP_URL (file:///dir or s3://bucket/prefix); backups are
    encrypted to BACKUP_AGE_RECIPIENTS; verify and restore need
    BACKUP_AGE_IDENTITY or BACKUP_AGE_IDENTITY_FILE. ID is a backup id from
    `backup list` or `latest`.
    """
    setup_logging(get_settings().log_level, telegram=False)


@backup.command()
def create() -> None:
    """Take a backup now: dump, encrypt and upload, then write its manifest."""
    from tarotbot.backups import service

    settings = get_settings()
    with _exclusive(settings, "create"):
        result = service.create(settings, progress=_progress)
    click.echo(result.summary())


@backup.command(name="list")
def list_() -> None:
    """Complete backups, newest first: id, age, size, last verification."""
    from tarotbot.backups import service
    from tarotbot.backups.storage import storage_from

    settings = get_settings()
    storage = storage_from(settings)
    found = service.inventory(storage)
    rows = service.list_backups(settings, found)
    header = ("id", "age", "size", "last verified")
    table = [(r.id, r.age, r.size_text, r.last_verified) for r in rows]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(3)]
    for row in [header, *table] if rows else []:
        click.echo(
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip()
        )
    if not rows:
        click.echo(f"no complete backup in {storage.describe()}")
    leftovers = found.leftovers
    if leftovers:
        click.echo(
            f"{len(leftovers)} object(s) of unfinished runs (no manifest, not backups): "
            "`backup prune` removes them"
        )


@backup.command()
@click.argument("backup_id", metavar="ID")
@click.option(
    "--full",
    is_flag=True,
    help="Also restore into a scratch database, run the ledger audit there and compare "
    "rows and sums with the manifest (the scratch database is dropped).",
)
def verify(backup_id: str, full: bool) -> None:
    """Check backup ID (or latest): checksum, decryption, pg_restore --list."""
    from tarotbot.backups import service

    result = service.verify(get_settings(), backup_id, full=full, progress=_progress)
    click.echo(result.summary())


@backup.command()
@click.argument("backup_id", metavar="ID")
@click.option(
    "--into",
    "into_url",
    required=True,
    metavar="DATABASE_URL",
    help="postgresql://… of an empty database, or sqlite:///path of a new file.",
)
@click.option(
    "--replace",
    is_flag=True,
    allow_from_autoenv=False,
    help="Replace the contents of a non-empty target (needs --yes).",
)
@click.option("--yes", is_flag=True, allow_from_autoenv=False, help="Confirm --replace.")
def restore(backup_id: str, into_url: str, replace: bool, yes: bool) -> None:
    """Verify backup ID (or latest), restore it into DATABASE_URL and audit the result.

    A target that holds tables is refused unless --replace --yes. Stop the
    bot and workers first when restoring over the live database.
    """
    from tarotbot.backups import service

    result = service.restore(
        get_settings(), backup_id, into_url, replace=replace, yes=yes, progress=_progress
    )
    click.echo(result.summary())


@backup.command()
def prune() -> None:
    """Keep BACKUP_KEEP_DAILY/WEEKLY/MONTHLY backups, delete the rest and any leftovers."""
    from tarotbot.backups import service

    settings = get_settings()
    with _exclusive(settings, "create"):
        result = service.prune(settings)
    click.echo(result.summary())


COMMANDS = [backup]
