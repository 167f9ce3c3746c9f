"""The backup service: create, list, verify, restore and prune backups.

Each function takes the :class:`~tarotbot.config.Settings` and does one whole
operator action (its docstring says what it checks); the CLI and the RQ jobs
are thin callers. Every failure is one :class:`~tarotbot.exceptions.BackupError`
line, raised before the target database is touched wherever that can be known
in advance.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import logging
import os
import platform
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tarotbot import __version__
from tarotbot.audit import AuditReport, run_audit
from tarotbot.backups import dump
from tarotbot.backups.crypto import decrypt_stream, encrypt_stream, identities_from, recipients_from
from tarotbot.backups.manifest import (
    ID_RE,
    POSTGRESQL,
    SQLITE,
    Figures,
    Manifest,
    collect_figures,
    data_name,
    id_time,
    manifest_name,
    new_id,
    split_name,
    verified_name,
)
from tarotbot.backups.storage import Storage, storage_from
from tarotbot.config import Settings, load_settings, parse_database_url
from tarotbot.db import database, make_database
from tarotbot.exceptions import (
    BackupError,
    BackupIntegrityError,
    BackupNotFound,
    ConfigError,
    DecryptionFailed,
    IncompleteBackup,
    RestoreRefused,
)

log = logging.getLogger("tarotbot.backups")

LATEST = "latest"
#: Scratch databases of ``verify --full`` are named ``tarotbot_verify_<epoch>_<hex>``;
#: one left behind by a killed run is dropped by the next run after this long.
SCRATCH_PREFIX = "tarotbot_verify_"
SCRATCH_STALE_SECONDS = 24 * 3600


# -- progress --------------------------------------------------------------------------


class Bar(Protocol):
    def update(self, n: int) -> object: ...


class Progress(Protocol):
    """``progress(description, total_bytes_or_None)`` → a context manager yielding a :class:`Bar`."""

    def __call__(self, desc: str, total: int | None) -> contextlib.AbstractContextManager[Bar]: ...


class _NoBar:
    def update(self, n: int) -> None:
        pass


def no_progress(desc: str, total: int | None) -> contextlib.AbstractContextManager[Bar]:
    return contextlib.nullcontext(_NoBar())


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def _age(moment: dt.datetime, now: dt.datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


# -- what is in storage ----------------------------------------------------------------


@dataclass
class Inventory:
    """Our objects in storage, grouped by backup id."""

    objects: dict[str, dict[str, object]] = field(default_factory=dict)  # id -> suffix -> object

    @property
    def complete(self) -> list[str]:
        """Ids with a manifest, newest first."""
        return sorted(
            (i for i, parts in self.objects.items() if "manifest.json" in parts), reverse=True
        )

    @property
    def leftovers(self) -> list[str]:
        """Names of objects whose backup has no manifest (a run that did not finish)."""
        return sorted(
            obj.name  # type: ignore[attr-defined]
            for parts in self.objects.values()
            if "manifest.json" not in parts
            for obj in parts.values()
        )


def inventory(storage: Storage) -> Inventory:
    found = Inventory()
    for obj in storage.list():
        parts = split_name(obj.name)
        if parts is not None:
            found.objects.setdefault(parts[0], {})[parts[1]] = obj
    return found


def resolve(storage: Storage, backup_id: str, found: Inventory | None = None) -> str:
    """The id ``backup_id`` names (``latest``: the newest complete backup)."""
    found = found or inventory(storage)
    if backup_id == LATEST:
        if not found.complete:
            raise BackupNotFound(f"no complete backup in {storage.describe()}")
        return found.complete[0]
    if not ID_RE.match(backup_id):
        raise BackupNotFound(
            f"{backup_id[:40]!r} is not a backup id (like 20261130T030000Z) or 'latest'"
        )
    if backup_id not in found.objects:
        raise BackupNotFound(f"no backup {backup_id} in {storage.describe()} (see `backup list`)")
    if "manifest.json" not in found.objects[backup_id]:
        raise IncompleteBackup(
            f"backup {backup_id} has no manifest: its run never finished, so it is not a "
            "backup (`backup prune` removes it)"
        )
    return backup_id


def load_manifest(storage: Storage, backup_id: str) -> Manifest:
    name = manifest_name(backup_id)
    manifest = Manifest.from_json(storage.read_bytes(name), name)
    if manifest.id != backup_id:
        raise BackupIntegrityError(f"{name} describes backup {manifest.id}, not {backup_id}")
    return manifest


def _check_object(storage: Storage, manifest: Manifest, found: Inventory) -> None:
    """The data object exists and has the manifest's size (truncation shows here first)."""
    obj = found.objects.get(manifest.id, {}).get(manifest.object_name.split(".", 1)[1])
    if obj is None:
        raise BackupNotFound(
            f"backup {manifest.id}: its object {manifest.object_name} is missing from "
            f"{storage.describe()} (the manifest is there)"
        )
    size = obj.size  # type: ignore[attr-defined]
    if size != manifest.ciphertext_bytes:
        raise BackupIntegrityError(
            f"backup {manifest.id}: {manifest.object_name} is {size} bytes, its manifest says "
            f"{manifest.ciphertext_bytes} ({'truncated' if size < manifest.ciphertext_bytes else 'altered'})"
        )


# -- create ----------------------------------------------------------------------------


@dataclass
class Created:
    manifest: Manifest
    where: str

    def summary(self) -> str:
        m = self.manifest
        rate = m.plaintext_bytes / m.duration_seconds if m.duration_seconds else 0
        return (
            f"backup {m.id} created: {m.source}, {m.figures.describe()}; "
            f"{human_bytes(m.plaintext_bytes)} of {'pg_dump archive' if m.kind == POSTGRESQL else 'SQLite file'}, "
            f"{human_bytes(m.ciphertext_bytes)} encrypted "
            f"to {len(m.recipients)} recipient(s) in {m.duration_seconds:.1f} s "
            f"({human_bytes(int(rate))}/s) -> {self.where}"
        )


def _free_id(storage: Storage, found: Inventory) -> str:
    """This second's id, or the next free second's (two runs in one second)."""
    moment = dt.datetime.now(dt.UTC).replace(microsecond=0)
    while new_id(moment) in found.objects:
        moment += dt.timedelta(seconds=1)
    return new_id(moment)


def _tools() -> dict[str, str]:
    return {
        "tarotbot": __version__,
        "pyrage": importlib.metadata.version("pyrage"),
        "python": platform.python_version(),
    }


def create(settings: Settings, progress: Progress = no_progress) -> Created:
    """Take one backup of the configured database; return its manifest.

    Refuses (BackupRefused, nothing written) without BACKUP_AGE_RECIPIENTS.
    """
    started = time.monotonic()
    recipients = recipients_from(settings)
    storage = storage_from(settings)
    if settings.backup_url is None and settings.uses_postgres:
        log.warning(
            "BACKUP_URL is unset: backups go to %s on this machine's disk (ephemeral on a "
            "PaaS dyno: set BACKUP_URL=s3://bucket/prefix there)",
            storage.describe(),
        )
    found = inventory(storage)
    backup_id = _free_id(storage, found)
    kind = POSTGRESQL if settings.uses_postgres else SQLITE
    name = data_name(backup_id, kind)
    tools = _tools()
    with progress(f"backup {backup_id}", None) as bar:
        if kind == POSTGRESQL:
            assert settings.database_url is not None
            target = dump.PgTarget.from_url(settings.database_url)
            tools["pg_dump"] = dump.tool_version("pg_dump")
            with dump.pg_snapshot(target) as snap:
                dump.check_dump_tool(tools["pg_dump"], snap.server_major, snap.server_version)
                process = dump.start_pg_dump(target, snap.snapshot_id)
                try:
                    source = dump.MeteredReader(process.popen.stdout, on_bytes=bar.update)
                    stored = _encrypt_into(storage, name, source, recipients, process)
                finally:
                    process.kill()
                figures, server_version = snap.figures, f"PostgreSQL {snap.server_version}"
        else:
            with dump.sqlite_copy(settings.sqlite_path) as copy:
                source = dump.MeteredReader(copy.file, on_bytes=bar.update)
                stored = _encrypt_into(storage, name, source, recipients, None)
                figures, server_version = copy.figures, f"SQLite {copy.version}"
                tools["sqlite"] = copy.version
    ciphertext_bytes, sha256 = stored
    manifest = Manifest(
        id=backup_id,
        kind=kind,
        server_version=server_version,
        source=settings.database_label,
        figures=figures,
        object_name=name,
        plaintext_bytes=source.count,
        ciphertext_bytes=ciphertext_bytes,
        sha256=sha256,
        recipients=tuple(settings.backup_recipients),
        tools=tools,
        created_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        duration_seconds=time.monotonic() - started,
    )
    storage.write_bytes(manifest.name, manifest.to_json())  # last: now the backup exists
    return Created(manifest, storage.describe())


def _encrypt_into(
    storage: Storage, name: str, source, recipients, process: dump.ToolProcess | None
) -> tuple[int, str]:
    """Encrypt ``source`` into the object ``name``; commit only if the dump succeeded."""
    with storage.writer(name) as writer:
        sink = dump.MeteredWriter(writer, digest=True)
        encrypt_stream(source, sink, recipients)
        if process is not None:
            code = process.wait()
            if code != 0:
                raise process.failure(code, "dump the database")
        total = writer.commit()
    if total != sink.count:
        raise BackupError(f"storage kept {total} bytes of {name}, {sink.count} were written")
    return total, sink.hexdigest()


# -- list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupRow:
    id: str
    age: str
    size: int | None  # bytes of the encrypted object; None when it is missing
    last_verified: str

    @property
    def size_text(self) -> str:
        return "missing" if self.size is None else human_bytes(self.size)


def list_backups(settings: Settings, found: Inventory | None = None) -> list[BackupRow]:
    """Every complete backup, newest first (incomplete ones are never listed)."""
    storage = storage_from(settings)
    found = found or inventory(storage)
    now = dt.datetime.now(dt.UTC)
    rows = []
    for backup_id in found.complete:
        parts = found.objects[backup_id]
        data = next((o for s, o in parts.items() if s.endswith(".age")), None)
        rows.append(
            BackupRow(
                id=backup_id,
                age=_age(id_time(backup_id), now),
                size=None if data is None else data.size,  # type: ignore[attr-defined]
                last_verified=_verification_text(storage, backup_id, "verified.json" in parts),
            )
        )
    return rows


def _verification_text(storage: Storage, backup_id: str, recorded: bool) -> str:
    if not recorded:
        return "never"
    try:
        record = json.loads(storage.read_bytes(verified_name(backup_id)))
        last = record["last"]
    except (BackupError, ValueError, KeyError, TypeError):
        return "unreadable record"
    mode = "full" if last.get("full") else "quick"
    if last.get("ok"):
        return f"ok {last.get('at')} ({mode})"
    return f"FAILED {last.get('at')} ({mode}): {last.get('problem')}"


def _record(storage: Storage, backup_id: str, full: bool, problem: str | None) -> None:
    """Keep the outcome of a verification in ``<id>.verified.json`` (never fails the caller)."""
    entry = {
        "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "full": full,
        "ok": problem is None,
        "problem": problem,
    }
    name = verified_name(backup_id)
    try:
        previous = json.loads(storage.read_bytes(name)) if storage.exists(name) else {}
        record = {"id": backup_id, "last": entry, "last_ok": previous.get("last_ok")}
        if problem is None:
            record["last_ok"] = entry
        storage.write_bytes(name, (json.dumps(record, indent=2) + "\n").encode())
    except (BackupError, ValueError, TypeError, AttributeError) as exc:
        log.warning("could not record the verification of backup %s: %s", backup_id, exc)


# -- decrypting a stored object --------------------------------------------------------


def _stream_out(
    storage: Storage, manifest: Manifest, identities, sink, bar: Bar
) -> dump.MeteredReader:
    """Read the object through SHA-256 and age into ``sink``; raise the precise failure.

    A change to the object shows as a checksum mismatch (read to the end to
    tell); a key that does not fit as DecryptionFailed.
    """
    raw = storage.reader(manifest.object_name)
    try:
        source = dump.MeteredReader(raw, digest=True, on_bytes=bar.update)
        try:
            decrypt_stream(source, sink, identities)
        except (BackupIntegrityError, DecryptionFailed) as exc:
            source.drain()
            _check_digest(manifest, source)
            raise type(exc)(f"backup {manifest.id}: {exc}") from None
        source.drain()  # bytes after age's last chunk would be a change too
        _check_digest(manifest, source)
        return source
    finally:
        with contextlib.suppress(Exception):
            raw.close()


def _check_digest(manifest: Manifest, source: dump.MeteredReader) -> None:
    if source.count != manifest.ciphertext_bytes:
        raise BackupIntegrityError(
            f"backup {manifest.id}: read {source.count} bytes of {manifest.object_name}, its "
            f"manifest says {manifest.ciphertext_bytes} (truncated or altered)"
        )
    if source.hexdigest() != manifest.sha256:
        raise BackupIntegrityError(
            f"backup {manifest.id}: SHA-256 of {manifest.object_name} does not match its "
            "manifest: the object was altered or damaged"
        )


def _restore_stream(
    storage: Storage,
    manifest: Manifest,
    identities,
    target: dump.PgTarget | None,
    bar: Bar,
    clean: bool = False,
) -> dump.ToolProcess:
    """Decrypt the object into ``pg_restore`` (``--list`` without a target).

    On any failure pg_restore is killed before it sees the end of its input,
    so its single transaction never commits: the target keeps what it had.
    """
    process = dump.ToolProcess(
        dump.pg_restore_argv(target, clean),
        target.env if target else dict(os.environ),
        stdin=subprocess.PIPE,
        capture_stdout=True,
    )
    sink = dump.ProcessSink(process, None if target is None else "restore it")
    try:
        _stream_out(storage, manifest, identities, sink, bar)
    except BaseException:
        process.kill()
        raise
    sink.finish()
    code = process.wait()
    if code != 0:
        raise process.failure(code, "read the archive" if target is None else "restore it")
    return process


def _pg_restore_version(manifest: Manifest) -> str:
    version = dump.tool_version("pg_restore")
    dump.check_restore_tool(version, manifest.tools.get("pg_dump", "pg_dump (PostgreSQL) 0"))
    return version


# -- verify ----------------------------------------------------------------------------


@dataclass
class Verification:
    manifest: Manifest
    full: bool
    detail: str
    seconds: float

    def summary(self) -> str:
        mode = "full" if self.full else "quick"
        return f"backup {self.manifest.id} verified ({mode}) in {self.seconds:.1f} s: {self.detail}"


def verify(
    settings: Settings, backup_id: str, full: bool = False, progress: Progress = no_progress
) -> Verification:
    """Check a backup: size, SHA-256, every age chunk, the archive's table of contents.

    ``full`` also restores it into a scratch database (a temporary file for
    SQLite), runs the ledger audit there and compares rows and sums with the
    manifest; the scratch database is dropped whatever happens.
    """
    started = time.monotonic()
    storage = storage_from(settings)
    found = inventory(storage)
    backup_id = resolve(storage, backup_id, found)
    identities = identities_from(settings)
    manifest = load_manifest(storage, backup_id)
    try:
        _check_object(storage, manifest, found)
        with progress(f"verify {backup_id}", manifest.ciphertext_bytes) as bar:
            if full:
                detail = _verify_full(settings, storage, manifest, identities, bar)
            else:
                detail = _verify_quick(storage, manifest, identities, bar)
    except BackupIntegrityError as exc:
        _record(storage, backup_id, full, str(exc))
        raise
    _record(storage, backup_id, full, None)
    return Verification(manifest, full, detail, time.monotonic() - started)


def _verify_quick(storage: Storage, manifest: Manifest, identities, bar: Bar) -> str:
    if manifest.kind == POSTGRESQL:
        _pg_restore_version(manifest)
        process = _restore_stream(storage, manifest, identities, None, bar)
        entries = sum(
            1 for line in process.stdout.splitlines() if line and not line.startswith(";")
        )
        return (
            f"SHA-256 matches, every age chunk authentic, pg_restore --list reads "
            f"{entries} archive entries"
        )
    sink = dump.NullSink()
    _stream_out(storage, manifest, identities, sink, bar)
    if not sink.head.startswith(dump.SQLITE_MAGIC) or sink.count != manifest.plaintext_bytes:
        raise BackupIntegrityError(
            f"backup {manifest.id}: the decrypted object is not the SQLite file its manifest "
            f"describes ({sink.count} bytes, manifest {manifest.plaintext_bytes})"
        )
    return (
        f"SHA-256 matches, every age chunk authentic, an SQLite file of {human_bytes(sink.count)}"
    )


@dataclass
class Check:
    """What a restored database holds, against what the manifest says it must."""

    figures: Figures
    audit: AuditReport
    differences: list[str]
    pending_migrations: list[str]

    @property
    def ok(self) -> bool:
        return self.audit.ok and not self.differences

    def problem(self) -> str:
        parts = []
        if self.differences:
            parts.append("differs from its manifest: " + "; ".join(self.differences[:5]))
        if not self.audit.ok:
            first = self.audit.violations[0]
            parts.append(
                f"ledger audit found {len(self.audit.violations)} violation(s), e.g. user "
                f"{first.user_id} {first.check}: expected {first.expected}, found {first.actual}"
            )
        return "; ".join(parts)

    def describe(self) -> str:
        return (
            f"{self.figures.describe()}; rows and sums match the manifest; ledger audit clean "
            f"({self.audit.users} users, {self.audit.transactions} transactions)"
        )


@contextlib.contextmanager
def _bound(url: str) -> Iterator[None]:
    """Point the process's database proxy at ``url`` for a while (the audit uses the proxy).

    Process-wide: run only where nothing else uses the database meanwhile
    (a CLI command, a worker's one job at a time).
    """
    target = make_database(load_settings({"DATABASE_URL": url}))
    previous = database.obj
    database.initialize(target)
    try:
        with target.connection_context():
            yield
    finally:
        if not target.is_closed():
            target.close()
        database.initialize(previous)


def check_database(url: str, manifest: Manifest, ignore_extra_tables: bool = False) -> Check:
    """Audit the ledger in the database at ``url`` and compare it with ``manifest``.

    ``ignore_extra_tables``: a replaced target may keep tables the backup
    does not know (a newer migration's); only the backup's tables count.
    """
    from tarotbot import schema

    with _bound(url):
        figures = collect_figures(lambda sql: database.execute_sql(sql).fetchall(), manifest.kind)
        report = run_audit()
        pending = schema.pending() if "schema_migration" in figures.rows else []
    differences = manifest.figures.differences(figures, ignore_extra_tables=ignore_extra_tables)
    return Check(figures, report, differences, pending)


def _verify_full(settings: Settings, storage: Storage, manifest: Manifest, identities, bar) -> str:
    if manifest.kind == SQLITE:
        directory = (
            os.path.dirname(os.path.abspath(settings.sqlite_path))
            if not settings.uses_postgres
            else tempfile.gettempdir()
        )
        path = dump.scratch_file(directory, "verify")
        try:
            _decrypt_to_file(storage, manifest, identities, path, bar)
            check = check_database(f"sqlite:///{path}", manifest)
        finally:
            dump._remove(path)
        if not check.ok:
            raise BackupIntegrityError(f"backup {manifest.id}: restored copy {check.problem()}")
        return "restored into a scratch file: " + check.describe()
    if not settings.uses_postgres:
        raise BackupError(
            f"verify --full of PostgreSQL backup {manifest.id} needs DATABASE_URL to name a "
            "PostgreSQL server to restore a scratch copy on"
        )
    assert settings.database_url is not None
    _pg_restore_version(manifest)
    admin = dump.PgTarget.from_url(settings.database_url)
    with _scratch_database(admin, settings) as (scratch, url):
        _restore_stream(storage, manifest, identities, scratch, bar)
        check = check_database(url, manifest)
    if not check.ok:
        raise BackupIntegrityError(f"backup {manifest.id}: restored copy {check.problem()}")
    return f"restored into scratch database {scratch.dbname} (dropped): " + check.describe()


def url_with_dbname(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead (in the path and any ``dbname=``)."""
    parts = urlsplit(url)
    query = [(k, name if k == "dbname" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, urlencode(query), ""))


@contextlib.contextmanager
def _scratch_database(admin: dump.PgTarget, settings: Settings):
    """A new empty database on the same server, dropped on the way out whatever happens."""
    import psycopg2

    name = f"{SCRATCH_PREFIX}{int(time.time())}_{secrets.token_hex(4)}"
    try:
        conn = admin.connect()
    except psycopg2.Error as exc:
        raise BackupError(
            f"cannot connect to {settings.database_label}: {dump.first_line(str(exc))}"
        ) from None
    conn.autocommit = True
    force = " WITH (FORCE)" if conn.server_version >= 130000 else ""
    try:
        with conn.cursor() as cur:
            _drop_stale_scratch(cur, force)
            try:
                cur.execute(f'CREATE DATABASE "{name}"')
            except psycopg2.Error as exc:
                raise BackupError(
                    f"verify --full restores into a scratch database and cannot create one on "
                    f"{settings.database_label}: {dump.first_line(str(exc))}"
                ) from None
        try:
            assert settings.database_url is not None
            yield admin.with_dbname(name), url_with_dbname(settings.database_url, name)
        finally:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}"{force}')
    finally:
        conn.close()


def _drop_stale_scratch(cur, force: str) -> None:
    """Drop scratch databases a killed ``verify --full`` left, a day or more ago."""
    cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (SCRATCH_PREFIX + "%",))
    for (name,) in cur.fetchall():
        stamp = name[len(SCRATCH_PREFIX) :].split("_", 1)[0]
        if stamp.isdigit() and time.time() - int(stamp) > SCRATCH_STALE_SECONDS:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"{force}')
            log.warning("dropped %s, left by a verify --full that did not finish", name)


def _decrypt_to_file(storage: Storage, manifest: Manifest, identities, path: str, bar) -> None:
    """Decrypt an SQLite backup into ``path`` and check it is a sound SQLite file."""
    with open(path, "wb") as out:
        _stream_out(storage, manifest, identities, out, bar)
    dump.check_sqlite_file(path)


# -- restore ---------------------------------------------------------------------------


@dataclass
class Restored:
    manifest: Manifest
    target: str
    check: Check
    seconds: float
    replaced: bool

    def summary(self) -> str:
        m = self.manifest
        text = (
            f"restored backup {m.id} ({m.server_version}, taken {id_time(m.id):%Y-%m-%d %H:%M} "
            f"UTC) into {self.target}{' (replaced)' if self.replaced else ''} in "
            f"{self.seconds:.1f} s: {self.check.describe()}"
        )
        if self.check.pending_migrations:
            text += (
                f"; {len(self.check.pending_migrations)} migration(s) newer than the backup are "
                "pending: run `python -m tarotbot migrate` against it"
            )
        return text


def restore(
    settings: Settings,
    backup_id: str,
    into_url: str,
    replace: bool = False,
    yes: bool = False,
    progress: Progress = no_progress,
) -> Restored:
    """Restore a backup into the database at ``into_url`` (a DATABASE_URL).

    Verifies the backup first. A target holding tables is refused unless
    ``replace`` and ``yes``. PostgreSQL: one ``pg_restore`` transaction
    (``--clean --if-exists`` when replacing). SQLite: a new file beside the
    target, checked, then moved into place. The ledger audit runs on the
    result; a mismatch with the manifest is an error.
    """
    started = time.monotonic()
    if replace and not yes:
        raise RestoreRefused(
            "--replace drops and recreates every table the backup holds in the target: "
            "add --yes to confirm"
        )
    try:
        postgres_url, sqlite_path = parse_database_url(into_url)
    except ConfigError as exc:
        raise RestoreRefused(f"--into: {exc.problem}") from None
    if postgres_url is None and sqlite_path is None:
        raise RestoreRefused("--into needs a postgresql:// or sqlite:/// URL")
    label = load_settings({"DATABASE_URL": into_url}).database_label
    storage = storage_from(settings)
    found = inventory(storage)
    backup_id = resolve(storage, backup_id, found)
    manifest = load_manifest(storage, backup_id)
    wanted = POSTGRESQL if postgres_url else SQLITE
    if manifest.kind != wanted:
        raise RestoreRefused(
            f"backup {backup_id} is a {'PostgreSQL' if manifest.kind == POSTGRESQL else 'SQLite'} "
            f"backup; --into must be a {'postgresql://' if manifest.kind == POSTGRESQL else 'sqlite:///'} URL"
        )
    if postgres_url is not None:
        target = dump.PgTarget.from_url(postgres_url)
        existing = dump.user_relations(target)
    else:
        assert sqlite_path is not None
        existing = dump.sqlite_tables(sqlite_path)
    if existing and not replace:
        raise RestoreRefused(
            f"{label} is not empty ({len(existing)} tables and other relations, e.g. "
            f"{existing[0]}): restore only into an empty database, or pass --replace --yes "
            "to replace its contents"
        )
    identities = identities_from(settings)
    verify(settings, backup_id, full=False, progress=progress)
    with progress(f"restore {backup_id}", manifest.ciphertext_bytes) as bar:
        if postgres_url is not None:
            _restore_stream(storage, manifest, identities, target, bar, clean=bool(existing))
            check = check_database(postgres_url, manifest, ignore_extra_tables=bool(existing))
        else:
            assert sqlite_path is not None
            check = _restore_sqlite(storage, manifest, identities, sqlite_path, bar)
    if not check.ok:
        raise BackupIntegrityError(
            f"restored backup {backup_id} into {label}, but it {check.problem()}"
        )
    return Restored(manifest, label, check, time.monotonic() - started, bool(existing))


def _restore_sqlite(storage: Storage, manifest: Manifest, identities, path: str, bar) -> Check:
    """Decrypt into a new file beside ``path``, check it, then move it over ``path``."""
    path = os.path.abspath(path)
    tmp = dump.scratch_file(os.path.dirname(path), "restore")
    try:
        _decrypt_to_file(storage, manifest, identities, tmp, bar)
        check = check_database(f"sqlite:///{tmp}", manifest)
        if check.ok:
            for stale in (path + "-wal", path + "-shm", path + "-journal"):
                # the old database's log would be replayed into the new file
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(stale)
            os.replace(tmp, path)
        return check
    finally:
        dump._remove(tmp)


# -- prune -----------------------------------------------------------------------------


def kept_by_policy(ids: list[str], daily: int, weekly: int, monthly: int) -> set[str]:
    """The ids to keep: the newest of each of the newest ``daily`` days, ``weekly`` ISO
    weeks and ``monthly`` months that have a backup, plus the newest of all."""
    newest_first = sorted(ids, reverse=True)
    rules: list[tuple[int, Callable[[dt.datetime], object]]] = [
        (daily, lambda t: t.date()),
        (weekly, lambda t: t.isocalendar()[:2]),
        (monthly, lambda t: (t.year, t.month)),
    ]
    kept: set[str] = set(newest_first[:1])
    for count, period in rules:
        seen: set[object] = set()
        for backup_id in newest_first:
            key = period(id_time(backup_id))
            if key in seen:
                continue
            if len(seen) >= count:
                break
            seen.add(key)
            kept.add(backup_id)
    return kept


@dataclass
class Pruned:
    kept: list[str]
    deleted: list[str]
    leftovers: list[str]
    where: str

    def summary(self) -> str:
        return (
            f"prune {self.where}: kept {len(self.kept)} backup(s), deleted {len(self.deleted)}"
            f"{' (' + ', '.join(self.deleted[:5]) + ('...' if len(self.deleted) > 5 else '') + ')' if self.deleted else ''}"
            f", removed {len(self.leftovers)} leftover(s) of unfinished runs"
        )


def prune(settings: Settings) -> Pruned:
    """Apply the retention policy and remove every leftover of an unfinished run."""
    storage = storage_from(settings)
    found = inventory(storage)
    complete = found.complete
    kept = kept_by_policy(
        complete,
        settings.backup_keep_daily,
        settings.backup_keep_weekly,
        settings.backup_keep_monthly,
    )
    deleted = []
    for backup_id in complete:
        if backup_id in kept:
            continue
        parts = found.objects[backup_id]
        # manifest first: a backup half deleted is incomplete, never listed as good
        for suffix in sorted(parts, key=lambda s: s != "manifest.json"):
            storage.delete(parts[suffix].name)  # type: ignore[attr-defined]
        deleted.append(backup_id)
    leftovers = list(found.leftovers)
    for name in leftovers:
        storage.delete(name)
    for upload in storage.list_incomplete():
        storage.delete_incomplete(upload)
        leftovers.append(getattr(upload, "name", str(upload)))
    return Pruned(sorted(kept, reverse=True), deleted, leftovers, storage.describe())
