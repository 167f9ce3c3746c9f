"""SQLite backups: a consistent online copy, encrypted the same way, restored into a new file."""

from __future__ import annotations

import hashlib
import subprocess

from tests.backups.helpers import (
    backup_env,
    fill_ledger,
    objects,
    one_error_line,
    require_age,
    run_cli,
    sqlite_rows,
)


def _sqlite_env(clean_env, tmp_path, age_keys):
    """The embedded default: no DATABASE_URL, no BACKUP_URL (a backups/ folder beside the file)."""
    data = tmp_path / "data"
    data.mkdir()
    database = data / "tarotbot.sqlite3"
    fill_ledger(f"sqlite:///{database}")
    env = backup_env(clean_env, tmp_path / "unused", age_keys, TAROTBOT_SQLITE_PATH=str(database))
    del env["BACKUP_URL"]
    return env, database, data / "backups"


def test_round_trip_through_a_new_file(tmp_path, age_keys, clean_env):
    env, database, store = _sqlite_env(clean_env, tmp_path, age_keys)
    source = sqlite_rows(database)
    assert len(source["transactions"]) > 10 and source["readings"]

    created = run_cli(env, "create")
    assert created.returncode == 0, created.stderr
    assert "SQLite file" in created.stdout
    names = objects(store)
    assert [n.rsplit(".", 2)[-2:] for n in names] == [["manifest", "json"], ["sqlite3", "age"]]
    assert not [p for p in database.parent.iterdir() if p.name.startswith(".tarotbot-")]

    full = run_cli(env, "verify", "latest", "--full")
    assert full.returncode == 0, full.stderr
    assert "ledger audit clean" in full.stdout

    target = tmp_path / "restored" / "tarotbot.sqlite3"
    target.parent.mkdir()
    restored = run_cli(env, "restore", "latest", "--into", f"sqlite:///{target}")
    assert restored.returncode == 0, restored.stderr
    assert "ledger audit clean" in restored.stdout
    assert sqlite_rows(target) == source

    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    refused = run_cli(env, "restore", "latest", "--into", f"sqlite:///{target}")
    assert refused.returncode == 2
    assert "is not empty" in one_error_line(refused)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest

    wrong_kind = run_cli(env, "restore", "latest", "--into", "postgresql://127.0.0.1/nowhere")
    assert "is a SQLite backup" in one_error_line(wrong_kind)


def test_the_stock_age_cli_opens_an_sqlite_backup(tmp_path, age_keys, clean_env):
    age = require_age()
    env, database, store = _sqlite_env(clean_env, tmp_path, age_keys)
    assert run_cli(env, "create").returncode == 0
    (data,) = store.glob("*.sqlite3.age")
    key = tmp_path / "key.txt"
    key.write_text(age_keys.identity_str + "\n")
    out = tmp_path / "stock.sqlite3"
    subprocess.run([age, "-d", "-i", str(key), "-o", str(out), str(data)], check=True, timeout=60)
    assert sqlite_rows(out) == sqlite_rows(database)
