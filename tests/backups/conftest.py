"""Fixtures for the backup tests: fresh age keys, and a real local S3-compatible server.

``moto_s3`` runs moto's standalone server (``moto_server``, from the dev
requirements) as a subprocess on 127.0.0.1 and a free port: boto3 talks real
HTTP to it, as it would to AWS, R2 or MinIO. One server serves the whole run;
each test gets a bucket of its own and the AWS variables for it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyrage import x25519

MOTO_SERVER = Path(sys.executable).with_name("moto_server")


@dataclass(frozen=True)
class AgeKeys:
    """A fresh age key pair: the secret ``AGE-SECRET-KEY-1...`` and its ``age1...``."""

    identity: x25519.Identity
    identity_str: str
    recipient_str: str

    def __repr__(self) -> str:  # a test failure must not print the secret key
        return f"AgeKeys(recipient_str={self.recipient_str!r})"


@pytest.fixture
def age_keys() -> AgeKeys:
    """A fresh x25519 identity (``.identity_str``) and its public key (``.recipient_str``)."""
    identity = x25519.Identity.generate()
    return AgeKeys(identity, str(identity), str(identity.to_public()))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/moto-api/", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """The endpoint URL of a moto_server subprocess, killed at the end of the run."""
    if not MOTO_SERVER.exists():
        pytest.fail(f"{MOTO_SERVER} is missing: install the dev requirements (moto[server])")
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if _answers(url):
                break
            time.sleep(0.1)
        if process.poll() is None and _answers(url):
            break
        process.kill()
        process.wait()
    else:
        pytest.fail(f"moto_server did not start; see {log}")
    yield url
    process.kill()
    process.wait(timeout=10)


@pytest.fixture
def moto_s3(moto_server, monkeypatch) -> tuple[str, str]:
    """``(endpoint_url, bucket)``: a new empty bucket on the local S3 server.

    The AWS variables boto3 reads are set for the test (and so for the
    subprocesses it starts); a developer's own ~/.aws is out of the way.
    """
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    import boto3

    bucket = f"tarotbot-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server).create_bucket(Bucket=bucket)
    return moto_server, bucket


@pytest.fixture(scope="module")
def source_url():
    """A database filled through the ledger and the reading service (audit-clean), per module."""
    from tests.backups.helpers import create_database, drop_database, fill_ledger

    url = create_database("tarotbot_bk_src")
    fill_ledger(url, users=3)
    yield url
    drop_database(url)


@pytest.fixture
def empty_url():
    """An empty throwaway database to restore into."""
    from tests.backups.helpers import create_database, drop_database

    url = create_database("tarotbot_bk_dst")
    yield url
    drop_database(url)
