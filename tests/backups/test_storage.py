"""Backup storage: a folder and a real local S3-compatible server behave the same.

Every test runs against FileStorage and against S3Storage talking HTTP to
moto's standalone server. The properties that matter for backups: an object
is visible only once committed, whatever happens to the writer (an
exception, SIGKILL), and the leftovers are found and removed.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tarotbot.backups.storage import (
    PART_SIZE,
    FileStorage,
    S3Storage,
    StoredObject,
    storage_from,
)
from tarotbot.config import Settings, load_settings
from tarotbot.exceptions import BackupNotFound, ConfigError, StorageUnavailable

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


@pytest.fixture(params=["file", "s3"])
def kind(request) -> str:
    return request.param


@pytest.fixture
def storage(kind, tmp_path, request):
    if kind == "file":
        return FileStorage(tmp_path / "store")
    endpoint, bucket = request.getfixturevalue("moto_s3")
    return S3Storage(bucket, "tarotbot/backups", endpoint_url=endpoint)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text, text
    return text


def chunks(total: int, size: int = 64 * 1024, seed: bytes = b"x"):
    block = hashlib.sha256(seed).digest() * (size // 32)
    for start in range(0, total, size):
        yield block[: min(size, total - start)]


# --- the common contract --------------------------------------------------------------------


def test_write_commit_list_read_delete(storage):
    assert storage.list() == []
    with storage.writer("tarotbot-1.pgdump.age") as writer:
        sizes = [writer.write(chunk) for chunk in chunks(300_000)]
        assert sum(sizes) == 300_000
        assert writer.commit() == 300_000
    listed = storage.list()
    assert [(obj.name, obj.size) for obj in listed] == [("tarotbot-1.pgdump.age", 300_000)]
    assert listed[0].modified.tzinfo is not None
    assert storage.exists("tarotbot-1.pgdump.age")

    expected = b"".join(chunks(300_000))
    body = storage.reader("tarotbot-1.pgdump.age")
    try:
        first = body.read(1000)
        rest = body.read()
    finally:
        body.close()
    assert first + rest == expected and len(first) == 1000

    storage.write_bytes("tarotbot-1.manifest.json", b'{"ok": true}\n')
    assert storage.read_bytes("tarotbot-1.manifest.json") == b'{"ok": true}\n'
    assert [obj.name for obj in storage.list()] == [
        "tarotbot-1.manifest.json",
        "tarotbot-1.pgdump.age",
    ]

    storage.delete("tarotbot-1.pgdump.age")
    storage.delete("tarotbot-1.pgdump.age")  # already gone: no error
    assert [obj.name for obj in storage.list()] == ["tarotbot-1.manifest.json"]
    assert not storage.exists("tarotbot-1.pgdump.age")
    assert storage.list_incomplete() == []


def test_an_empty_object_and_an_overwrite(storage):
    with storage.writer("empty") as writer:
        assert writer.commit() == 0
    assert storage.read_bytes("empty") == b""
    storage.write_bytes("empty", b"now with content")
    assert storage.read_bytes("empty") == b"now with content"
    assert [(obj.name, obj.size) for obj in storage.list()] == [("empty", 16)]


def test_nothing_is_visible_before_commit(storage):
    writer = storage.writer("big.age")
    with writer:
        for chunk in chunks(PART_SIZE + MiB):  # S3: the first part is already uploaded
            writer.write(chunk)
        assert storage.list() == []
        assert not storage.exists("big.age")
        with pytest.raises(BackupNotFound):
            storage.reader("big.age")
        in_progress = storage.list_incomplete()
        assert len(in_progress) == 1 and in_progress[0].name.startswith("big.age")
        writer.commit()
    assert [obj.name for obj in storage.list()] == ["big.age"]
    assert storage.list_incomplete() == []


@pytest.mark.parametrize("amount", [1000, PART_SIZE + 1000])
def test_leaving_the_block_without_commit_leaves_nothing(storage, amount):
    class Failed(Exception):
        pass

    with pytest.raises(Failed), storage.writer("aborted.age") as writer:
        for chunk in chunks(amount):
            writer.write(chunk)
        raise Failed  # e.g. pg_dump died
    with storage.writer("forgotten.age") as writer:
        writer.write(b"no commit, no object")
    assert storage.list() == []
    assert storage.list_incomplete() == []  # an abort cleans up after itself
    with pytest.raises(ValueError):
        writer.write(b"late")


def test_a_leftover_is_found_and_removed(storage):
    """A writer that never finished (here: still open) is incomplete, and prune can remove it."""
    writer = storage.writer("stuck.age")
    for chunk in chunks(PART_SIZE + 1000):
        writer.write(chunk)
    leftovers = storage.list_incomplete()
    assert len(leftovers) == 1
    leftover = leftovers[0]
    assert isinstance(leftover, StoredObject) and leftover.name.startswith("stuck.age")
    assert leftover.size >= min(PART_SIZE, 1000)
    storage.delete_incomplete(leftover)
    assert storage.list_incomplete() == []
    with pytest.raises(StorageUnavailable):
        writer.commit()  # its partial data is gone: the commit fails, nothing appears
    assert storage.list() == []
    storage.delete_incomplete(leftover)  # already gone: no error (file: unlink, S3: NoSuchUpload)


def test_a_missing_object_is_backup_not_found(storage):
    for read in (storage.reader, storage.read_bytes):
        with pytest.raises(BackupNotFound) as info:
            read("tarotbot-20260101T030000Z.manifest.json")
        message = one_line(info.value)
        assert "tarotbot-20260101T030000Z.manifest.json" in message
        assert storage.describe() in message
    assert not storage.exists("tarotbot-20260101T030000Z.manifest.json")


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x.partial-1-2", "a b"])
def test_names_are_flat_and_checked(storage, name):
    with pytest.raises(ValueError):
        storage.writer(name)


# --- SIGKILL mid-upload ---------------------------------------------------------------------

KILLED_WRITER = r"""
import sys, time
from tarotbot.backups.storage import FileStorage, S3Storage, PART_SIZE
kind, where, bucket, endpoint = sys.argv[1:5]
storage = FileStorage(where) if kind == "file" else S3Storage(bucket, where, endpoint_url=endpoint)
block = b"\x5a" * (1 << 20)
with storage.writer("tarotbot-killed.pgdump.age") as writer:
    for _ in range(PART_SIZE // len(block) + 2):  # S3: one part uploaded, more buffered
        writer.write(block)
    print("uploading", flush=True)
    time.sleep(120)
    writer.commit()
"""


def test_a_writer_killed_mid_upload_leaves_nothing_listed(kind, storage, tmp_path):
    if kind == "file":
        args = [kind, str(storage.directory), "-", "-"]
    else:
        args = [kind, storage.prefix, storage.bucket, storage.endpoint_url]
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        line = child.stdout.readline()
        assert line == "uploading\n", child.stderr.read()
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    assert storage.list() == []
    assert not storage.exists("tarotbot-killed.pgdump.age")
    leftovers = storage.list_incomplete()
    assert [obj.name.startswith("tarotbot-killed.pgdump.age") for obj in leftovers] == [True]
    if kind == "file":
        assert f".partial-{child.pid}-" in leftovers[0].name
    else:
        assert leftovers[0].upload_id and leftovers[0].size == PART_SIZE
    storage.delete_incomplete(leftovers[0])
    assert storage.list_incomplete() == []
    assert storage.list() == []


# --- a folder -------------------------------------------------------------------------------


def test_file_storage_keeps_its_folder_and_files_private(tmp_path):
    storage = FileStorage(tmp_path / "deep" / "backups")
    assert storage.list() == []  # no folder yet: no backups, no error
    storage.write_bytes("one", b"1")
    assert stat.S_IMODE((tmp_path / "deep" / "backups").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "deep" / "backups" / "one").stat().st_mode) == 0o600
    assert storage.describe() == (tmp_path / "deep" / "backups").as_uri()


def test_file_storage_that_cannot_be_written_is_unavailable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    storage = FileStorage(blocker / "backups")
    with pytest.raises(StorageUnavailable) as info:
        storage.write_bytes("x", b"1")
    assert str(blocker) in one_line(info.value)


# --- S3 -------------------------------------------------------------------------------------


def test_a_large_object_goes_up_in_parts_and_reads_back_equal(moto_s3):
    endpoint, bucket = moto_s3
    storage = S3Storage(bucket, "big", endpoint_url=endpoint)
    calls = []
    upload_part = storage._client.upload_part

    def counting_upload_part(**kwargs):
        calls.append(len(kwargs["Body"]))
        return upload_part(**kwargs)

    storage._client.upload_part = counting_upload_part
    total = 20 * MiB + 123
    digest = hashlib.sha256()
    with storage.writer("large.age") as writer:
        for chunk in chunks(total, size=256 * 1024, seed=b"large"):
            digest.update(chunk)
            writer.write(chunk)
        assert writer.commit() == total
    assert calls == [PART_SIZE, PART_SIZE, total - 2 * PART_SIZE]
    head = storage._client.head_object(Bucket=bucket, Key="big/large.age")
    assert head["ContentLength"] == total
    assert head["ETag"].strip('"').endswith("-3")  # S3's mark of a 3-part multipart upload

    readback = hashlib.sha256()
    with storage.reader("large.age") as body:
        while chunk := body.read(1024 * 1024 + 7):
            readback.update(chunk)
    assert readback.hexdigest() == digest.hexdigest()


def test_objects_outside_the_prefix_are_not_ours(moto_s3):
    endpoint, bucket = moto_s3
    storage = S3Storage(bucket, "mine", endpoint_url=endpoint)
    client = storage._client
    client.put_object(Bucket=bucket, Key="other/thing", Body=b"1")
    client.put_object(Bucket=bucket, Key="mine-too-similar", Body=b"1")
    client.put_object(Bucket=bucket, Key="mine/nested/deeper", Body=b"1")
    storage.write_bytes("ours", b"2")
    assert [obj.name for obj in storage.list()] == ["ours"]
    assert storage.describe() == f"s3://{bucket}/mine at {endpoint}"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_endpoint_is_one_line(moto_s3):
    _endpoint, bucket = moto_s3
    storage = S3Storage(bucket, "p", endpoint_url=f"http://127.0.0.1:{_closed_port()}")
    started = time.monotonic()
    for attempt in (storage.list, lambda: storage.write_bytes("x", b"1")):
        with pytest.raises(StorageUnavailable) as info:
            attempt()
        message = one_line(info.value)
        assert "is unreachable" in message and f"s3://{bucket}/p at http://127.0.0.1:" in message
        assert "testing-secret-key" not in message and "testing-access-key" not in message
    assert time.monotonic() - started < 60


def test_a_missing_bucket_and_missing_credentials_are_one_line(moto_s3, monkeypatch):
    endpoint, _bucket = moto_s3
    nowhere = S3Storage("no-such-bucket-here", "", endpoint_url=endpoint)
    for attempt in (
        nowhere.list,
        lambda: nowhere.reader("x"),
        lambda: nowhere.write_bytes("x", b""),
    ):
        with pytest.raises(StorageUnavailable) as info:
            attempt()
        assert one_line(info.value).startswith("the bucket no-such-bucket-here does not exist")

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StorageUnavailable) as info:
        S3Storage("any-bucket", "", endpoint_url=endpoint).list()
    assert "AWS_ACCESS_KEY_ID" in one_line(info.value)


ENCRYPT_TO_S3 = r"""
import io, json, os, sys
from pyrage import x25519
from tarotbot.backups.crypto import encrypt_stream
from tarotbot.backups.storage import S3Storage

size, bucket, endpoint = int(sys.argv[1]), sys.argv[2], sys.argv[3]
block = os.urandom(1 << 20)

class Source(io.RawIOBase):
    left = size
    def readable(self): return True
    def readinto(self, buffer):
        n = min(len(buffer), self.left, len(block))
        buffer[:n] = block[:n]
        self.left -= n
        return n

def peak():  # VmHWM: this process's own peak (ru_maxrss would count the parent's too)
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmHWM:"))

storage = S3Storage(bucket, "mem", endpoint_url=endpoint)
storage.write_bytes("warm-up", b"1")  # boto3's lazily loaded models count in the baseline
before = peak()
with storage.writer("big.age") as writer:
    encrypt_stream(Source(), writer, [x25519.Identity.generate().to_public()])
    written = writer.commit()
print(json.dumps({"before": before, "after": peak(), "written": written}))
"""


def test_an_encrypted_upload_keeps_memory_bounded(moto_s3):
    """64 MiB through age into an S3 multipart upload: memory grows by about two parts."""
    endpoint, bucket = moto_s3
    result = subprocess.run(
        [sys.executable, "-c", ENCRYPT_TO_S3, str(64 * MiB), bucket, endpoint],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    figures = json.loads(result.stdout)
    growth = (figures["after"] - figures["before"]) / MiB
    print(f"peak RSS {figures['before'] / MiB:.1f} MiB, +{growth:.1f} MiB for 64 MiB to S3")
    assert figures["written"] > 64 * MiB
    assert growth < 3 * PART_SIZE / MiB, figures


# --- choosing the storage -------------------------------------------------------------------


def test_storage_from_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    default = storage_from(load_settings({"TAROTBOT_SQLITE_PATH": str(tmp_path / "t.sqlite3")}))
    assert isinstance(default, FileStorage) and default.directory == tmp_path / "backups"

    chosen = storage_from(load_settings({"BACKUP_URL": f"file://{tmp_path}/else/"}))
    assert isinstance(chosen, FileStorage) and chosen.directory == tmp_path / "else"

    s3 = storage_from(
        load_settings(
            {"BACKUP_URL": "s3://my-bucket/a/b/", "S3_ENDPOINT_URL": "http://127.0.0.1:9"}
        )
    )
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix, s3.endpoint_url) == ("my-bucket", "a/b", "http://127.0.0.1:9")
    assert s3.describe() == "s3://my-bucket/a/b at http://127.0.0.1:9"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host/dir",
        "file://relative/dir",
        "s3://x/prefix",
        "s3://AKIAEXAMPLE:sekrit-value@bucket/prefix",
        "s3://bucket/prefix?versioning=1",
        "/just/a/path",
    ],
)
def test_a_bad_backup_url_is_a_config_error_naming_it(url):
    with pytest.raises(ConfigError) as info:
        load_settings({"BACKUP_URL": url})
    assert info.value.variable == "BACKUP_URL"
    assert "sekrit-value" not in one_line(info.value)
    with pytest.raises(ConfigError) as info:  # Settings built directly are checked too
        storage_from(Settings(backup_url=url))
    assert info.value.variable == "BACKUP_URL"
