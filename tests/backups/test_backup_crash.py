"""A ``create`` killed mid-upload leaves no backup, only leftovers ``prune`` removes;
and ``prune`` keeps what the retention policy keeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tarotbot.backups.manifest import new_id
from tarotbot.backups.service import kept_by_policy
from tests.backups.helpers import (
    ROOT,
    backup_env,
    objects,
    run_cli,
    write_fake_tool,
)


def test_a_create_killed_mid_upload_leaves_no_backup_and_prune_removes_it(
    source_url, tmp_path, age_keys, clean_env
):
    store = tmp_path / "store"
    good = backup_env(clean_env, store, age_keys, source_url)
    assert run_cli(good, "create").returncode == 0
    kept = objects(store)

    # pg_dump writes the whole dump, then keeps its stdout open: the upload never ends
    fake = tmp_path / "bin"
    write_fake_tool(
        fake, "pg_dump", "pg_dump (PostgreSQL) 15.99", '/usr/bin/pg_dump "$@"; exec sleep 60'
    )
    slow = dict(good, PATH=f"{fake}:{clean_env['PATH']}")
    time.sleep(1.1)  # a new second: a new backup id
    proc = subprocess.Popen(
        [sys.executable, "-m", "tarotbot", "backup", "create"],
        env=slow,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while objects(store) == kept and time.monotonic() < deadline:
            time.sleep(0.05)
        assert objects(store) != kept, "the killed run never started its upload"
        time.sleep(0.3)  # let it write what it can
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole dyno goes: create, pg_dump, sleep
        proc.wait(timeout=10)
    leftovers = sorted(set(objects(store)) - set(kept))
    assert leftovers

    listed = run_cli(good, "list")
    assert listed.returncode == 0, listed.stderr
    assert len([line for line in listed.stdout.splitlines() if line[:8].isdigit()]) == 1

    # and a data object whose manifest was never written (killed between the two)
    (data,) = [name for name in kept if name.endswith(".age")]
    orphan = "tarotbot-20200101T000000Z.pgdump.age"
    (store / orphan).write_bytes((store / data).read_bytes())

    pruned = run_cli(good, "prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "kept 1 backup(s), deleted 0" in pruned.stdout
    assert objects(store) == kept
    assert run_cli(good, "verify", "latest").returncode == 0


def test_prune_keeps_the_newest_per_day_week_and_month(tmp_path, age_keys, clean_env):
    import datetime as dt

    store = tmp_path / "store"
    store.mkdir()
    start = dt.datetime(2026, 1, 1, 3, 0, tzinfo=dt.UTC)
    ids = [new_id(start + dt.timedelta(hours=12 * n)) for n in range(2 * 200)]  # two a day
    for backup_id in ids:
        (store / f"tarotbot-{backup_id}.pgdump.age").write_bytes(b"x")
        (store / f"tarotbot-{backup_id}.manifest.json").write_bytes(b"{}")
    env = backup_env(
        clean_env,
        store,
        age_keys,
        BACKUP_KEEP_DAILY="7",
        BACKUP_KEEP_WEEKLY="4",
        BACKUP_KEEP_MONTHLY="3",
    )
    pruned = run_cli(env, "prune")
    assert pruned.returncode == 0, pruned.stderr
    left = sorted({name.split(".")[0][len("tarotbot-") :] for name in objects(store)})
    expected = sorted(kept_by_policy(ids, 7, 4, 3))
    assert left == expected
    newest = ids[-1]
    days = {i[:8] for i in left}
    assert newest in left and len(days) == len(left)  # one per day at most: the newest
    assert len(left) <= 7 + 4 + 3


def test_the_policy_rules_combine():
    import datetime as dt

    start = dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
    ids = [new_id(start + dt.timedelta(days=n)) for n in range(60)]  # 1 Mar .. 29 Apr
    assert kept_by_policy(ids, 0, 0, 0) == {ids[-1]}  # the newest is always kept
    daily = kept_by_policy(ids, 3, 0, 0)
    assert daily == set(ids[-3:])
    monthly = kept_by_policy(ids, 0, 0, 2)
    assert monthly == {ids[-1], new_id(dt.datetime(2026, 3, 31, 3, 0, tzinfo=dt.UTC))}
    weekly = kept_by_policy(ids, 0, 2, 0)
    assert len(weekly) == 2 and ids[-1] in weekly  # Wed 29 Apr, and Sun 26 Apr
    assert new_id(dt.datetime(2026, 4, 26, 3, 0, tzinfo=dt.UTC)) in weekly
    assert kept_by_policy(ids, 3, 2, 2) == daily | weekly | monthly
