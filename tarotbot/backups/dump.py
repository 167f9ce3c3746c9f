"""The database end of a backup: take a consistent dump as a stream, and load one back.

PostgreSQL: ``pg_dump --format=custom`` runs as a child process and its
stdout *is* the plaintext stream; the caller encrypts it on the fly, so the
dump never touches disk and is never whole in memory. Before it starts, a
``REPEATABLE READ`` transaction exports its snapshot and counts the rows;
``pg_dump --snapshot`` dumps exactly that snapshot, so the manifest's figures
describe the dump even while the bot keeps writing. Restores pipe the
decrypted stream into ``pg_restore`` (one transaction: a failure leaves the
target as it was).

The connection goes to the tools as a libpq conninfo *without* the password
(``--dbname``), and the password as ``PGPASSWORD`` in their environment: a
process list, an error message or a log line never shows it.

SQLite: the sqlite3 backup API is the only way to copy a live database
consistently, and it needs a database to write to. The copy is a temporary
file (mode 0600) beside the original, on the disk that already holds the
same data in plaintext, so it exposes nothing new; it is unlinked as soon as
it is open for reading and streamed into the encryption from that open
file, so even its name is gone before any byte leaves. (An in-memory copy
would keep the plaintext off disk only to hold it whole in memory.)
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import os
import re
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from tarotbot.backups.manifest import POSTGRESQL, SQLITE, TABLES, Figures, collect_figures
from tarotbot.db import postgres_kwargs
from tarotbot.exceptions import BackupError, RestoreRefused, ToolMismatch

#: Bytes of a child's stderr kept for its error message.
STDERR_KEEP = 64 * 1024
#: How a PostgreSQL client tool says it cannot read or talk to something newer.
_VERSION_TROUBLE = re.compile(
    r"server version mismatch|unsupported version|aborting because of server version",
    re.IGNORECASE,
)
SQLITE_MAGIC = b"SQLite format 3\x00"


# -- PostgreSQL connection arguments ---------------------------------------------------


@dataclass(frozen=True)
class PgTarget:
    """A PostgreSQL database as its client tools take it: conninfo plus environment."""

    conninfo: str  # libpq key=value string, never with a password
    env: dict  # the process environment with PGPASSWORD set when the URL had one
    connect_kwargs: dict  # psycopg2.connect arguments (password included)
    dbname: str

    @classmethod
    def from_url(cls, url: str) -> PgTarget:
        from psycopg2.extensions import make_dsn

        kwargs = postgres_kwargs(url)
        kwargs.setdefault("connect_timeout", 10)
        kwargs.setdefault("application_name", "tarotbot-backup")
        libpq = {("dbname" if k == "database" else k): v for k, v in kwargs.items()}
        password = libpq.pop("password", None)
        env = dict(os.environ)  # PG* variables apply as they do to our own connection
        if password is not None:
            env["PGPASSWORD"] = str(password)
        connect = dict(libpq)
        if password is not None:
            connect["password"] = password
        return cls(make_dsn(**libpq), env, connect, str(libpq.get("dbname", "")))

    def with_dbname(self, dbname: str) -> PgTarget:
        from psycopg2.extensions import make_dsn, parse_dsn

        libpq = parse_dsn(self.conninfo)
        libpq["dbname"] = dbname
        return PgTarget(
            make_dsn(**libpq), self.env, {**self.connect_kwargs, "dbname": dbname}, dbname
        )

    def connect(self):
        import psycopg2

        return psycopg2.connect(**self.connect_kwargs)


def first_line(text: str | bytes) -> str:
    """The most telling line of a tool's or driver's message, stripped."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() or "fatal" in line.lower():
            return line[:300]
    return lines[0][:300] if lines else "no message"


# -- tools -----------------------------------------------------------------------------


def tool_version(program: str) -> str:
    """``pg_dump --version`` and the like, e.g. ``pg_dump (PostgreSQL) 15.20``."""
    try:
        result = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except FileNotFoundError:
        raise ToolMismatch(
            f"{program} is not installed (install the PostgreSQL client tools, "
            "e.g. apt-get install postgresql-client)"
        ) from None
    if result.returncode != 0:
        raise ToolMismatch(f"{program} --version failed: {first_line(result.stderr)}")
    return result.stdout.strip()


def major_version(version: str) -> int:
    """The major number in ``pg_dump (PostgreSQL) 15.20`` or ``16.1 (Debian …)``; 0 if none."""
    match = re.search(r"(?:\)\s*|^)(\d+)(?:\.\d+)?", version.strip())
    return int(match.group(1)) if match else 0


class ToolProcess:
    """A child process whose stderr (and optionally stdout) is drained by threads.

    Draining keeps a chatty child from blocking on a full pipe while this
    process feeds or reads its other end; only the last
    :data:`STDERR_KEEP` bytes of stderr are kept, for the error message.
    """

    def __init__(self, argv: list[str], env: dict, stdin=None, stdout=None, capture_stdout=False):
        self.argv = argv
        self.name = os.path.basename(argv[0])
        self._stderr = bytearray()
        self._stdout = bytearray()
        try:
            self.popen = subprocess.Popen(
                argv,
                env=env,
                stdin=stdin,
                stdout=subprocess.PIPE if capture_stdout or stdout is None else stdout,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError:
            raise ToolMismatch(
                f"{argv[0]} is not installed (install the PostgreSQL client tools)"
            ) from None
        self._threads = [self._drain(self.popen.stderr, self._stderr, STDERR_KEEP)]
        if capture_stdout:
            self._threads.append(self._drain(self.popen.stdout, self._stdout, 16 * 1024 * 1024))

    @staticmethod
    def _drain(pipe, into: bytearray, keep: int) -> threading.Thread:
        def run():
            for chunk in iter(lambda: pipe.read1(65536), b""):
                into.extend(chunk)
                if len(into) > keep:
                    del into[: len(into) - keep]

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def wait(self) -> int:
        code = self.popen.wait()
        for thread in self._threads:
            thread.join(timeout=10)
        return code

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        with contextlib.suppress(Exception):
            self.wait()

    @property
    def stderr(self) -> str:
        return bytes(self._stderr).decode("utf-8", "replace")

    @property
    def stdout(self) -> str:
        return bytes(self._stdout).decode("utf-8", "replace")

    def failure(self, code: int, doing: str) -> Exception:
        """The one-line exception for a tool that exited with ``code``."""
        text = self.stderr
        reason = first_line(text)
        if _VERSION_TROUBLE.search(text):
            return ToolMismatch(f"{self.name} cannot {doing}: {reason}")
        return BackupError(f"{self.name} failed to {doing} (exit {code}): {reason}")


# -- byte streams ----------------------------------------------------------------------


class _Meter:
    """Counts the bytes going through, hashes them (optional) and reports them."""

    def __init__(self, digest: bool, on_bytes: Callable[[int], object] | None):
        self.count = 0
        self.sha256 = hashlib.sha256() if digest else None
        self.on_bytes = on_bytes

    def _seen(self, data: bytes) -> None:
        if not data:
            return
        self.count += len(data)
        if self.sha256 is not None:
            self.sha256.update(data)
        if self.on_bytes:
            self.on_bytes(len(data))

    def hexdigest(self) -> str:
        assert self.sha256 is not None
        return self.sha256.hexdigest()


class MeteredReader(_Meter, io.RawIOBase):
    """Reads from ``source`` while counting the bytes, hashing them (optional), reporting them."""

    def __init__(
        self,
        source: BinaryIO,
        digest: bool = False,
        on_bytes: Callable[[int], object] | None = None,
    ):
        super().__init__(digest, on_bytes)
        self.source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        read1 = getattr(self.source, "read1", None)
        data = read1(len(buffer)) if read1 else self.source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._seen(data)
        return n

    def drain(self) -> None:
        """Read the rest of the source (to finish the count and hash)."""
        while True:
            data = self.source.read(1024 * 1024)
            if not data:
                return
            self._seen(data)


class MeteredWriter(_Meter, io.RawIOBase):
    """Writes to ``target`` (anything with ``write``) while counting and hashing the bytes."""

    def __init__(
        self, target, digest: bool = False, on_bytes: Callable[[int], object] | None = None
    ):
        super().__init__(digest, on_bytes)
        self.target = target

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        self.target.write(data)
        self._seen(data)
        return len(data)

    def flush(self) -> None:
        pass


class ProcessSink(io.RawIOBase):
    """The stdin of a child as a writable stream that outlives the child.

    ``pg_restore --list`` stops reading once it has the table of contents;
    the rest must still be decrypted (that is what proves it intact), so
    after the child has gone the bytes are counted and dropped.
    """

    def __init__(self, process: ToolProcess, doing: str | None = None):
        self.process = process
        self.doing = doing  # None: an early exit is expected (--list); else it is a failure
        self.closed_early = False
        self.head = b""  # the first bytes, for a format check

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        if len(self.head) < 64:
            self.head += data[: 64 - len(self.head)]
        if not self.closed_early:
            try:
                self.process.popen.stdin.write(data)
            except (BrokenPipeError, ValueError):
                self.closed_early = True
                if self.doing is not None:  # it stopped on an error: no use decrypting on
                    raise self.process.failure(self.process.wait(), self.doing) from None
        return len(data)

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):
            self.process.popen.stdin.close()


class NullSink(io.RawIOBase):
    """Counts what is written and keeps only the first bytes (a format check)."""

    def __init__(self):
        self.count = 0
        self.head = b""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if len(self.head) < 64:
            self.head += bytes(data[: 64 - len(self.head)])
        self.count += len(data)
        return len(data)


# -- PostgreSQL ------------------------------------------------------------------------


@dataclass
class PgSnapshot:
    snapshot_id: str
    counting: concurrent.futures.Future  # the Figures, counted while pg_dump streams
    server_version: str
    server_major: int

    @property
    def figures(self) -> Figures:
        return self.counting.result()


@contextlib.contextmanager
def pg_snapshot(target: PgTarget) -> Iterator[PgSnapshot]:
    """A read-only REPEATABLE READ transaction whose snapshot pg_dump can share.

    The transaction stays open while the caller dumps (``pg_dump
    --snapshot``); the figures are counted inside it, so both see the same
    rows, on a thread while the dump streams (the counts cost a tenth of a
    second per million rows, which the backup would otherwise wait for).
    """
    import psycopg2
    from psycopg2.extensions import ISOLATION_LEVEL_REPEATABLE_READ

    try:
        conn = target.connect()
    except psycopg2.Error as exc:
        raise BackupError(f"cannot connect to the database: {first_line(str(exc))}") from None
    try:
        conn.set_session(isolation_level=ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            snapshot_id, version = cur.fetchone()

        def query(sql: str) -> list[tuple]:
            with conn.cursor() as counter:
                counter.execute(sql)
                return counter.fetchall()

        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="backup-counts") as pool:
            counting = pool.submit(collect_figures, query, POSTGRESQL)
            try:
                yield PgSnapshot(snapshot_id, counting, version, conn.server_version // 10000)
            finally:
                counting.cancel()
                with contextlib.suppress(Exception):
                    counting.result()  # the connection is closed only after the counts
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()


def check_dump_tool(pg_dump_version: str, server_major: int, server_version: str) -> None:
    """pg_dump refuses a newer server; say so in one line before it starts."""
    tool_major = major_version(pg_dump_version)
    if tool_major < server_major:
        raise ToolMismatch(
            f"{pg_dump_version} cannot dump the PostgreSQL {server_version} server: "
            f"pg_dump must be version {server_major} or newer "
            f"(install postgresql-client-{server_major})"
        )


def start_pg_dump(target: PgTarget, snapshot_id: str) -> ToolProcess:
    """``pg_dump --format=custom`` of ``target`` at ``snapshot_id``; read its ``popen.stdout``."""
    argv = [
        "pg_dump",
        "--format=custom",
        "--no-password",
        "--lock-wait-timeout=5min",  # a table locked by someone else: fail, do not hang
        f"--snapshot={snapshot_id}",
        "--dbname",
        target.conninfo,
    ]
    return ToolProcess(argv, target.env)


def pg_restore_argv(target: PgTarget | None, clean: bool = False) -> list[str]:
    """pg_restore reading stdin: ``--list`` without a target, else into it in one transaction."""
    if target is None:
        return ["pg_restore", "--list"]
    argv = [
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--no-password",
        "--dbname",
        target.conninfo,
    ]
    if clean:
        argv[1:1] = ["--clean", "--if-exists"]
    return argv


def check_restore_tool(pg_restore_version: str, pg_dump_version: str) -> None:
    """An archive from a newer pg_dump may use a format this pg_restore cannot read."""
    if major_version(pg_restore_version) < major_version(pg_dump_version):
        raise ToolMismatch(
            f"the backup was made by {pg_dump_version}, newer than {pg_restore_version}: "
            f"install postgresql-client-{major_version(pg_dump_version)} to restore it"
        )


def user_relations(target: PgTarget) -> list[str]:
    """Tables, views and sequences outside the system schemas: empty means "empty database"."""
    import psycopg2

    try:
        conn = target.connect()
    except psycopg2.Error as exc:
        raise RestoreRefused(
            f"cannot connect to the target database: {first_line(str(exc))}"
        ) from None
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT n.nspname || '.' || c.relname FROM pg_class AS c "
                "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' "
                "ORDER BY 1"
            )
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


# -- SQLite ----------------------------------------------------------------------------


@dataclass
class SqliteCopy:
    file: BinaryIO  # the copy, open for reading, already unlinked
    size: int
    figures: Figures
    version: str


def _remove(path: str) -> None:
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def scratch_file(directory: str, purpose: str) -> str:
    """A new empty file (mode 0600) named ``.tarotbot-<purpose>-*.sqlite3`` in ``directory``."""
    os.makedirs(directory, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=f".tarotbot-{purpose}-", suffix=".sqlite3", dir=directory)
    os.close(fd)
    return path


@contextlib.contextmanager
def sqlite_copy(path: str) -> Iterator[SqliteCopy]:
    """A consistent copy of the live SQLite database at ``path`` (the backup API)."""
    if not os.path.isfile(path):
        raise BackupError(f"the SQLite file {path} does not exist")
    tmp = scratch_file(os.path.dirname(os.path.abspath(path)), "backup")
    try:
        src = sqlite3.connect(path, timeout=30)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)  # one step: a single read transaction, so one consistent state
            figures = collect_figures(lambda sql: dst.execute(sql).fetchall(), SQLITE)
        except sqlite3.Error as exc:
            raise BackupError(f"cannot copy the SQLite file {path}: {exc}") from None
        finally:
            dst.close()
            src.close()
        file = open(tmp, "rb")  # noqa: SIM115 (closed below)
        _remove(tmp)  # the open file stays readable; its name is gone
        try:
            size = os.fstat(file.fileno()).st_size
            yield SqliteCopy(file, size, figures, sqlite3.sqlite_version)
        finally:
            file.close()
    finally:
        _remove(tmp)


def check_sqlite_file(path: str) -> None:
    """The restored file must be an SQLite database that passes ``integrity_check``."""
    with open(path, "rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise BackupError("the decrypted backup is not an SQLite database")
    conn = sqlite3.connect(path)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.Error as exc:
        raise BackupError(f"the restored SQLite file is damaged: {exc}") from None
    finally:
        conn.close()
    if result != [("ok",)]:
        raise BackupError(f"the restored SQLite file is damaged: {result[0][0]}")


def sqlite_tables(path: str) -> list[str]:
    """Tables in the SQLite file at ``path`` (none when it does not exist or is empty)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(TABLES[SQLITE]).fetchall()
    except sqlite3.DatabaseError as exc:
        raise RestoreRefused(f"{path} exists and is not an SQLite database ({exc})") from None
    finally:
        conn.close()
    return [row[0] for row in rows]


KINDS = (POSTGRESQL, SQLITE)
