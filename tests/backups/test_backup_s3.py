"""Backups to S3 through a real local S3-compatible HTTP server (moto's, see conftest)."""

from __future__ import annotations

import socket

from tests.backups.helpers import (
    backup_env,
    one_error_line,
    pg_rows,
    run_cli,
)


def _s3_env(clean_env, tmp_path, age_keys, url, endpoint, bucket):
    env = backup_env(clean_env, tmp_path / "unused", age_keys, url)
    env.update(
        BACKUP_URL=f"s3://{bucket}/tarotbot/backups",
        S3_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return env


def test_create_list_verify_restore_through_s3(
    moto_s3, source_url, empty_url, tmp_path, age_keys, clean_env
):
    endpoint, bucket = moto_s3
    env = _s3_env(clean_env, tmp_path, age_keys, source_url, endpoint, bucket)

    created = run_cli(env, "create")
    assert created.returncode == 0, created.stderr
    assert f"s3://{bucket}/tarotbot/backups" in created.stdout
    listed = run_cli(env, "list")
    assert listed.returncode == 0, listed.stderr
    backup_id = created.stdout.split()[1]
    assert backup_id in listed.stdout

    full = run_cli(env, "verify", "latest", "--full")
    assert full.returncode == 0, full.stderr
    restored = run_cli(env, "restore", backup_id, "--into", empty_url)
    assert restored.returncode == 0, restored.stderr
    assert pg_rows(empty_url) == pg_rows(source_url)

    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert all(key.startswith("tarotbot/backups/") for key in keys)
    assert any(key.endswith(".manifest.json") for key in keys)


def test_unreachable_storage_is_one_line(source_url, tmp_path, age_keys, clean_env):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = _s3_env(
        clean_env, tmp_path, age_keys, source_url, f"http://127.0.0.1:{port}", "no-such-bucket"
    )
    result = run_cli(env, "create", timeout=90)
    one_error_line(result)
    result = run_cli(env, "list", timeout=90)
    one_error_line(result)
