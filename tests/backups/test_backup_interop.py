"""The runbook's stock-tools path, and no secret in any backup object or manifest.

``age -d -i key.txt FILE | pg_restore --no-owner -d URL`` must restore a
backup with Debian's ``age`` and the stock ``pg_restore``, nothing of ours.
"""

from __future__ import annotations

import shlex
import subprocess

from tests.backups.helpers import (
    backup_env,
    pg_rows,
    require_age,
    run_cli,
    with_dbname,
    write_fake_tool,
)

CANARY_TOKEN = "123456789:CANARYcanaryCANARYcanaryCANARY_tok"
CANARY_PASSWORD = "canary-pw-Zq81x"


def test_stock_age_and_pg_restore_restore_a_backup(
    source_url, empty_url, tmp_path, age_keys, clean_env
):
    age = require_age()
    store = tmp_path / "store"
    env = backup_env(clean_env, store, age_keys, source_url)
    assert run_cli(env, "create").returncode == 0
    (data,) = store.glob("*.pgdump.age")
    key = tmp_path / "key.txt"
    key.write_text(age_keys.identity_str + "\n")

    pipeline = (
        f"set -o pipefail; {age} -d -i {shlex.quote(str(key))} {shlex.quote(str(data))} "
        f"| pg_restore --no-owner -d {shlex.quote(empty_url)}"
    )
    done = subprocess.run(
        ["bash", "-c", pipeline], capture_output=True, text=True, timeout=120, env=clean_env
    )
    assert done.returncode == 0, done.stderr
    assert pg_rows(empty_url) == pg_rows(source_url)


def test_no_secret_reaches_a_backup_object_a_manifest_or_a_process_list(
    source_url, tmp_path, age_keys, clean_env
):
    age = require_age()
    store = tmp_path / "store"
    argv_log = tmp_path / "pg_dump-argv.txt"
    env_log = tmp_path / "pg_dump-env.txt"
    fake = tmp_path / "bin"
    write_fake_tool(
        fake,
        "pg_dump",
        "pg_dump (PostgreSQL) 15.99",
        f'echo "$@" > {argv_log}; env > {env_log}; exec /usr/bin/pg_dump "$@"',
    )
    # the server trusts 127.0.0.1, so a password in the URL is accepted and ignored
    url = with_dbname(source_url, source_url.rsplit("/", 1)[1], password=CANARY_PASSWORD)
    env = backup_env(
        clean_env,
        store,
        age_keys,
        url,
        TELEGRAM_BOT_TOKEN=CANARY_TOKEN,
        PATH=f"{fake}:{clean_env['PATH']}",
    )
    created = run_cli(env, "create")
    assert created.returncode == 0, created.stderr
    assert "PGPASSWORD=" + CANARY_PASSWORD in env_log.read_text()  # given by environment...
    assert CANARY_PASSWORD not in argv_log.read_text()  # ...never on the command line

    key = tmp_path / "key.txt"
    key.write_text(age_keys.identity_str + "\n")
    secrets = [CANARY_TOKEN, CANARY_PASSWORD, age_keys.identity_str]
    stored = sorted(p for p in store.iterdir() if p.is_file())
    assert len(stored) == 2
    for path in stored:
        raw = path.read_bytes()
        if path.name.endswith(".age"):
            raw += subprocess.run(
                [age, "-d", "-i", str(key), str(path)], capture_output=True, check=True, timeout=60
            ).stdout
        for secret in secrets:
            assert secret.encode() not in raw, f"{secret[:8]}… found in {path.name}"
    for text in (created.stdout, created.stderr):
        for secret in secrets:
            assert secret not in text
