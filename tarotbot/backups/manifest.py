"""A backup's manifest: what was saved, how to check it, written after everything else.

Its presence is what makes a backup complete: an object without one is the
leftover of a run that died (the README's Backups section says what it
records, and that it holds no secret). The figures are read from the same
snapshot the dump is taken from (``pg_dump --snapshot``, or the SQLite copy
itself), so a restore of the backup must reproduce them exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tarotbot.exceptions import BackupIntegrityError

#: Bumped when the manifest's layout changes incompatibly.
FORMAT = "tarotbot-backup/1"
#: A backup id is the UTC second it was started, e.g. ``20261130T030000Z``.
ID_FORMAT = "%Y%m%dT%H%M%SZ"
ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
#: Every object of a backup is named ``tarotbot-<id>.<suffix>``.
NAME_RE = re.compile(r"^tarotbot-([0-9]{8}T[0-9]{6}Z)\.(.+)$")
POSTGRESQL = "postgresql"
SQLITE = "sqlite"
#: Suffix of the encrypted data object, by database kind.
DATA_SUFFIX = {POSTGRESQL: "pgdump.age", SQLITE: "sqlite3.age"}
MANIFEST_SUFFIX = "manifest.json"
VERIFIED_SUFFIX = "verified.json"

#: Queries for the figures, on either engine. ``None`` when the table is absent.
TABLES = {
    POSTGRESQL: (
        "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1"
    ),
    SQLITE: (
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\' ORDER BY 1"
    ),
}
BALANCE_SUM = "SELECT COALESCE(SUM(balance), 0) FROM credits"
COMPLETED_SUM = "SELECT COALESCE(SUM(amount), 0) FROM transactions WHERE status = 'completed'"
MIGRATIONS = "SELECT name FROM schema_migration ORDER BY name"


def new_id(now: dt.datetime | None = None) -> str:
    """The id of a backup started at ``now`` (default: this second, UTC)."""
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(dt.UTC).strftime(ID_FORMAT)


def id_time(backup_id: str) -> dt.datetime:
    """When the backup ``backup_id`` was started (aware UTC)."""
    return dt.datetime.strptime(backup_id, ID_FORMAT).replace(tzinfo=dt.UTC)


def data_name(backup_id: str, kind: str) -> str:
    return f"tarotbot-{backup_id}.{DATA_SUFFIX[kind]}"


def manifest_name(backup_id: str) -> str:
    return f"tarotbot-{backup_id}.{MANIFEST_SUFFIX}"


def verified_name(backup_id: str) -> str:
    return f"tarotbot-{backup_id}.{VERIFIED_SUFFIX}"


def split_name(name: str) -> tuple[str, str] | None:
    """``(id, suffix)`` of one of our object names, or None for anything else."""
    match = NAME_RE.match(name.rsplit("/", 1)[-1])
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True)
class Figures:
    """What a restore must reproduce: rows per table, the ledger's sums, migrations."""

    rows: dict[str, int]
    balance_sum: int | None
    completed_amount_sum: int | None
    migrations: tuple[str, ...]

    def differences(self, other: Figures, ignore_extra_tables: bool = False) -> list[str]:
        """Each way ``other`` (a restored database) differs from these, as short phrases.

        ``ignore_extra_tables``: tables only ``other`` has do not count.
        """
        found = []
        tables = set(self.rows) if ignore_extra_tables else set(self.rows) | set(other.rows)
        for table in sorted(tables):
            want, got = self.rows.get(table), other.rows.get(table)
            if want != got:
                found.append(
                    f"{table}: {'no table' if got is None else f'{got} rows'}, "
                    f"manifest {'no table' if want is None else f'{want} rows'}"
                )
        if self.balance_sum != other.balance_sum:
            found.append(f"sum of balances {other.balance_sum}, manifest {self.balance_sum}")
        if self.completed_amount_sum != other.completed_amount_sum:
            found.append(
                f"sum of completed amounts {other.completed_amount_sum}, "
                f"manifest {self.completed_amount_sum}"
            )
        if self.migrations != other.migrations:
            found.append(f"migrations {list(other.migrations)}, manifest {list(self.migrations)}")
        return found

    def describe(self) -> str:
        """``1000 users, 5000 transactions, …`` for summaries."""
        shown = [t for t in ("users", "credits", "transactions", "readings") if t in self.rows]
        return ", ".join(f"{self.rows[t]} {t}" for t in shown) or "no tables"

    def to_dict(self) -> dict:
        return {
            "rows": dict(sorted(self.rows.items())),
            "balance_sum": self.balance_sum,
            "completed_amount_sum": self.completed_amount_sum,
            "migrations": list(self.migrations),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Figures:
        return cls(
            rows={str(k): int(v) for k, v in data["rows"].items()},
            balance_sum=data["balance_sum"],
            completed_amount_sum=data["completed_amount_sum"],
            migrations=tuple(data["migrations"]),
        )


def collect_figures(query: Callable[[str], Sequence[tuple]], kind: str) -> Figures:
    """Count every table and sum the ledger through ``query(sql) -> rows``.

    ``query`` runs on whatever connection holds the snapshot to describe (the
    dump's exported snapshot, the SQLite copy, a restored database), so the
    engine's transaction decides what "now" is.
    """
    tables = [row[0] for row in query(TABLES[kind])]
    rows = {}
    for table in tables:
        quoted = '"' + table.replace('"', '""') + '"'
        rows[table] = int(query(f"SELECT COUNT(*) FROM {quoted}")[0][0])
    balance = int(query(BALANCE_SUM)[0][0]) if "credits" in rows else None
    completed = int(query(COMPLETED_SUM)[0][0]) if "transactions" in rows else None
    migrations = (
        tuple(row[0] for row in query(MIGRATIONS)) if "schema_migration" in rows else tuple()
    )
    return Figures(rows, balance, completed, migrations)


@dataclass(frozen=True)
class Manifest:
    """Everything known about one complete backup; serialised as JSON."""

    id: str
    kind: str  # POSTGRESQL or SQLITE
    server_version: str
    source: str  # e.g. "PostgreSQL db.example.com:5432/tarotbot" (never a password)
    figures: Figures
    object_name: str
    plaintext_bytes: int
    ciphertext_bytes: int
    sha256: str  # of the ciphertext, as stored
    recipients: tuple[str, ...]  # age public keys the object is encrypted to
    tools: dict[str, str] = field(default_factory=dict)
    created_at: str = ""  # ISO-8601 UTC, when the manifest was written
    duration_seconds: float = 0.0

    @property
    def name(self) -> str:
        return manifest_name(self.id)

    def to_json(self) -> bytes:
        data = {
            "format": FORMAT,
            "id": self.id,
            "created_at": self.created_at,
            "duration_seconds": round(self.duration_seconds, 3),
            "database": {
                "kind": self.kind,
                "server_version": self.server_version,
                "source": self.source,
            },
            "figures": self.figures.to_dict(),
            "object": {
                "name": self.object_name,
                "format": "pg_dump custom archive" if self.kind == POSTGRESQL else "SQLite 3 file",
                "encryption": "age",
                "plaintext_bytes": self.plaintext_bytes,
                "ciphertext_bytes": self.ciphertext_bytes,
                "sha256": self.sha256,
            },
            "recipients": list(self.recipients),
            "tools": dict(self.tools),
        }
        return (json.dumps(data, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, name: str = "manifest") -> Manifest:
        """Parse a manifest; anything malformed is a BackupIntegrityError naming ``name``."""
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
            obj, database = data["object"], data["database"]
            manifest = cls(
                id=str(data["id"]),
                kind=str(database["kind"]),
                server_version=str(database["server_version"]),
                source=str(database["source"]),
                figures=Figures.from_dict(data["figures"]),
                object_name=str(obj["name"]),
                plaintext_bytes=int(obj["plaintext_bytes"]),
                ciphertext_bytes=int(obj["ciphertext_bytes"]),
                sha256=str(obj["sha256"]),
                recipients=tuple(data["recipients"]),
                tools={str(k): str(v) for k, v in data.get("tools", {}).items()},
                created_at=str(data.get("created_at", "")),
                duration_seconds=float(data.get("duration_seconds", 0.0)),
            )
            if not ID_RE.match(manifest.id) or manifest.kind not in DATA_SUFFIX:
                raise ValueError(f"id {manifest.id!r} or kind {manifest.kind!r} is not ours")
            if manifest.object_name != data_name(manifest.id, manifest.kind):
                raise ValueError(f"names the object {manifest.object_name!r}")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            reason = " ".join(str(exc).split())[:200]
            raise BackupIntegrityError(
                f"{name} is not a valid backup manifest ({reason})"
            ) from None
        return manifest
