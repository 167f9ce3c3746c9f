"""PostgreSQL backups with the real pg_dump and pg_restore: round trip, refusals, damage.

The source is a throwaway database filled through the ledger and the reading
service; restores go into other throwaway databases, compared row by row.
"""

from __future__ import annotations

import json
import shutil

import pytest
from pyrage import x25519

from tarotbot import audit
from tarotbot.backups import service
from tarotbot.config import load_settings
from tests.backups.helpers import (
    backup_env,
    bind,
    create_database,
    drop_database,
    fill_ledger,
    objects,
    one_error_line,
    pg_rows,
    run_cli,
    scratch_databases,
    write_fake_tool,
)


@pytest.fixture(scope="module")
def pristine(source_url, tmp_path_factory):
    """One backup of the source in a store of its own, and the keys that open it.

    Tests that damage a backup work on a copy of this store.
    """
    identity = x25519.Identity.generate()
    keys = type(
        "Keys", (), {"identity_str": str(identity), "recipient_str": str(identity.to_public())}
    )
    store = tmp_path_factory.mktemp("pristine") / "store"
    env = backup_env({}, store, keys, source_url)
    created = service.create(load_settings(env))
    return store, keys, created.manifest


def _copy_store(pristine, tmp_path):
    store, keys, manifest = pristine
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    return copy, keys, manifest


def test_round_trip_restores_every_row_and_the_audit_is_clean(
    source_url, empty_url, tmp_path, age_keys, clean_env
):
    env = backup_env(clean_env, tmp_path / "store", age_keys, source_url)
    source = pg_rows(source_url)
    assert {t: len(rows) for t, rows in source.items() if rows}.keys() >= {
        "users",
        "credits",
        "transactions",
        "readings",
    }

    created = run_cli(env, "create")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("backup ") and " created: " in created.stdout
    assert "\r" not in created.stderr  # not a terminal: no progress bar, one summary line
    (manifest_file,) = (tmp_path / "store").glob("*.manifest.json")
    manifest = json.loads(manifest_file.read_text())
    assert manifest["figures"]["rows"] == {t: len(rows) for t, rows in source.items()}
    assert manifest["database"]["kind"] == "postgresql"
    assert manifest["recipients"] == [age_keys.recipient_str]
    assert manifest["tools"]["pg_dump"].startswith("pg_dump (PostgreSQL) ")
    assert len(manifest["object"]["sha256"]) == 64
    backup_id = manifest["id"]

    listed = run_cli(env, "list")
    assert listed.returncode == 0, listed.stderr
    assert backup_id in listed.stdout and "never" in listed.stdout

    before = scratch_databases()
    full = run_cli(env, "verify", "latest", "--full")
    assert full.returncode == 0, full.stderr
    assert "ledger audit clean" in full.stdout and "rows and sums match" in full.stdout
    assert scratch_databases() == before  # the scratch database was dropped

    restored = run_cli(env, "restore", "latest", "--into", empty_url)
    assert restored.returncode == 0, restored.stderr
    assert "ledger audit clean" in restored.stdout
    assert pg_rows(empty_url) == source  # row by row, every table

    bind(empty_url)
    try:
        report = audit.run_audit()
    finally:
        from tarotbot.db import database

        database.close()
    assert report.ok and report.users == len(source["users"])

    listed = run_cli(env, "list")
    assert "ok " in listed.stdout  # the last verification is recorded


def test_a_non_empty_target_is_refused_and_left_untouched(pristine, tmp_path, clean_env):
    store, keys, manifest = _copy_store(pristine, tmp_path)
    target = create_database("tarotbot_bk_busy")
    try:
        fill_ledger(target, users=2)
        before = pg_rows(target)
        env = backup_env(clean_env, store, keys)

        refused = run_cli(env, "restore", manifest.id, "--into", target)
        assert refused.returncode == 2
        assert "is not empty" in one_error_line(refused)
        half = run_cli(env, "restore", manifest.id, "--into", target, "--replace")
        assert half.returncode == 2
        assert "--yes" in one_error_line(half)
        assert pg_rows(target) == before

        replaced = run_cli(env, "restore", manifest.id, "--into", target, "--replace", "--yes")
        assert replaced.returncode == 0, replaced.stderr
        assert "(replaced)" in replaced.stdout
        assert len(pg_rows(target)["users"]) == manifest.figures.rows["users"]
    finally:
        drop_database(target)


def _flip_middle(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("flipped byte", "SHA-256"),
        ("truncated", "truncated"),
        ("wrong identity", "no given age identity opens this backup"),
        ("missing manifest", "has no manifest"),
        ("missing object", "is missing"),
    ],
)
def test_a_damaged_backup_is_refused_with_one_line(
    damage, expected, pristine, empty_url, tmp_path, clean_env
):
    store, keys, manifest = _copy_store(pristine, tmp_path)
    data = store / manifest.object_name
    env = backup_env(clean_env, store, keys)
    if damage == "flipped byte":
        _flip_middle(data)
    elif damage == "truncated":
        _truncate(data)
    elif damage == "wrong identity":
        env["BACKUP_AGE_IDENTITY"] = str(x25519.Identity.generate())
    elif damage == "missing manifest":
        (store / manifest.name).unlink()
    elif damage == "missing object":
        data.unlink()

    verified = run_cli(env, "verify", manifest.id)
    assert expected in one_error_line(verified)
    restored = run_cli(env, "restore", manifest.id, "--into", empty_url)
    assert expected in one_error_line(restored)
    assert pg_rows(empty_url) == {}  # the target was never touched
    if damage == "missing manifest":
        listed = run_cli(env, "list")
        assert manifest.id not in listed.stdout  # never listed as good
        assert "unfinished runs" in listed.stdout


def test_a_tool_older_than_the_server_or_the_archive_is_refused(
    source_url, empty_url, pristine, tmp_path, clean_env
):
    fake = tmp_path / "bin"
    write_fake_tool(fake, "pg_dump", "pg_dump (PostgreSQL) 9.6.24")
    write_fake_tool(fake, "pg_restore", "pg_restore (PostgreSQL) 9.6.24")
    old_tools = {"PATH": f"{fake}:{clean_env['PATH']}"}

    store, keys, manifest = _copy_store(pristine, tmp_path)
    new_store = tmp_path / "new-store"
    env = backup_env(clean_env, new_store, keys, source_url, **old_tools)
    created = run_cli(env, "create")
    line = one_error_line(created)
    assert "pg_dump (PostgreSQL) 9.6.24 cannot dump the PostgreSQL 15" in line
    assert objects(new_store) == []

    env = backup_env(clean_env, store, keys, **old_tools)
    for args in (("verify", manifest.id), ("restore", manifest.id, "--into", empty_url)):
        line = one_error_line(run_cli(env, *args))
        assert "newer than pg_restore (PostgreSQL) 9.6.24" in line
    assert pg_rows(empty_url) == {}


def test_create_without_recipients_writes_nothing(source_url, tmp_path, age_keys, clean_env):
    store = tmp_path / "store"
    env = backup_env(clean_env, store, age_keys, source_url)
    del env["BACKUP_AGE_RECIPIENTS"]
    result = run_cli(env, "create")
    assert result.returncode == 2
    assert "BACKUP_AGE_RECIPIENTS is unset" in one_error_line(result)
    assert objects(store) == []


def test_an_unknown_id_and_an_unusable_storage_are_one_line(pristine, tmp_path, clean_env):
    store, keys, _ = _copy_store(pristine, tmp_path)
    env = backup_env(clean_env, store, keys)
    assert "not a backup id" in one_error_line(run_cli(env, "verify", "yesterday"))
    assert "no backup 20000101T000000Z" in one_error_line(
        run_cli(env, "verify", "20000101T000000Z")
    )
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("not a folder")
    env["BACKUP_URL"] = not_a_folder.as_uri()
    one_error_line(run_cli(env, "list"))
