"""Schema and data migrations.

Schema migrations are the numbered scripts in ``migrations/``, applied in
order by peewee's ``playhouse.migrations.Runner``: each in its own
transaction and recorded in the ``schema_migration`` history table, so a
second run is a no-op. On PostgreSQL a session advisory lock serialises
concurrent ``migrate`` runs (two releases deploying at once).

Data migrations (:class:`DataMigration`) walk a table in primary-key batches,
record the last finished key after every batch in ``data_migration`` and so
resume where a crashed run stopped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import peewee
from playhouse.migrations import MigrationError as RunnerError
from playhouse.migrations import Runner
from tqdm import tqdm

from tarotbot.db import database, is_postgres
from tarotbot.exceptions import MigrationError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
HISTORY_TABLE = "schema_migration"
ADVISORY_LOCK_KEY = 0x7A120B07  # any constant shared by every migrate run


@dataclass(frozen=True)
class MigrationStatus:
    name: str
    applied_at: dt.datetime | None

    @property
    def applied(self) -> bool:
        return self.applied_at is not None


def _runner(directory: Path = MIGRATIONS_DIR) -> Runner:
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} is missing")
    return Runner(database.obj, str(directory), table_name=HISTORY_TABLE)


@contextlib.contextmanager
def _migration_lock() -> Iterator[None]:
    if not is_postgres():
        yield
        return
    database.execute_sql("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        yield
    finally:
        database.execute_sql("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def status(directory: Path = MIGRATIONS_DIR) -> list[MigrationStatus]:
    """Every migration, applied or pending, in order."""
    runner = _runner(directory)
    return [MigrationStatus(m.name, m.applied) for m in runner.status()]


def pending(directory: Path = MIGRATIONS_DIR) -> list[str]:
    return [m.name for m in status(directory) if not m.applied]


def migrate(
    directory: Path = MIGRATIONS_DIR, on_applied: Callable[[str], None] | None = None
) -> list[str]:
    """Apply every pending migration in order; return the names applied."""
    runner = _runner(directory)
    with _migration_lock():
        applied = []
        for name in [m.name for m in runner.status() if m.applied is None and m.path]:
            try:
                runner.up(target=name)
            except (RunnerError, peewee.DatabaseError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise MigrationError(f"migration {name} failed: {first}") from exc
            applied.append(name)
            if on_applied:
                on_applied(name)
        return applied


class DataMigrationProgress(peewee.Model):
    """Where each named data migration got to."""

    name = peewee.CharField(max_length=255, primary_key=True)
    last_id = peewee.BigIntegerField(default=0)
    rows_done = peewee.BigIntegerField(default=0)
    finished = peewee.BooleanField(default=False)
    updated_at = peewee.DateTimeField(default=lambda: dt.datetime.now(dt.UTC))

    class Meta:
        database = database
        table_name = "data_migration"


class DataMigration:
    """Walk ``model`` in ``batch_size`` primary-key batches, resumably.

    ``process(rows)`` transforms one batch inside the same transaction that
    records the batch as done: a crash rolls back both, and the next run
    redoes exactly that batch. Progress lives in the ``data_migration``
    table (migration 0002).
    """

    def __init__(
        self,
        name: str,
        model: type[peewee.Model],
        process: Callable[[Sequence[peewee.Model]], None],
        batch_size: int = 1000,
        where: peewee.Expression | None = None,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.name = name
        self.model = model
        self.process = process
        self.batch_size = batch_size
        self.where = where

    def _progress(self) -> DataMigrationProgress:
        row, _ = DataMigrationProgress.get_or_create(name=self.name)
        return row

    def _after(self, after_id: int) -> peewee.ModelSelect:
        query = self.model.select().where(self.model._meta.primary_key > after_id)
        return query if self.where is None else query.where(self.where)

    def _query(self, after_id: int) -> peewee.ModelSelect:
        return self._after(after_id).order_by(self.model._meta.primary_key).limit(self.batch_size)

    def remaining(self) -> int:
        return self._after(self._progress().last_id).count()

    def run(self, on_batch: Callable[[int], None] | None = None, progress_bar: bool = False) -> int:
        """Process every remaining batch; return the rows processed in this run.

        ``progress_bar`` draws a tqdm bar on stderr (for CLI use).
        """
        progress = self._progress()
        if progress.finished:
            return 0
        if progress_bar:
            bar = tqdm(
                total=self.remaining(),
                desc=self.name,
                unit="row",
                file=sys.stderr,
                disable=not sys.stderr.isatty(),  # a terminal only: no \r noise in PaaS logs
            )
            with bar:
                return self._run(lambda n: (bar.update(n), on_batch and on_batch(n)))
        return self._run(on_batch)

    def _run(self, on_batch: Callable[[int], object] | None) -> int:
        done = 0
        pk_name = self.model._meta.primary_key.name
        while True:
            with database.atomic():
                progress = DataMigrationProgress.get_by_id(self.name)
                rows = list(self._query(progress.last_id))
                if not rows:
                    progress.finished = True
                    progress.updated_at = dt.datetime.now(dt.UTC)
                    progress.save()
                    return done
                self.process(rows)
                progress.last_id = getattr(rows[-1], pk_name)
                progress.rows_done += len(rows)
                progress.updated_at = dt.datetime.now(dt.UTC)
                progress.save()
            done += len(rows)
            if on_batch:
                on_batch(len(rows))
