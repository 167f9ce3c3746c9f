"""TLS servers of our own for the foundation tests: Redis (as Heroku Redis runs it)
and PostgreSQL, each with a self-signed certificate made by openssl.

The certificate names ``localhost`` and ``127.0.0.1``, so a client that does
check it (given the certificate as its CA) accepts it, and one that checks
against the system CAs refuses it as self-signed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis


@dataclasses.dataclass(frozen=True)
class Certificate:
    cert: Path  # self-signed: also its own CA
    key: Path


@dataclasses.dataclass(frozen=True)
class TlsRedis:
    port: int
    password: str
    certificate: Certificate

    def url(self, db: int = 0) -> str:
        return f"rediss://:{self.password}@127.0.0.1:{self.port}/{db}"


def make_certificate(directory: Path) -> Certificate:
    """A self-signed EC certificate for localhost / 127.0.0.1, valid for a day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (apt-get install -y openssl)")
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            openssl, "req", "-x509", "-nodes", "-days", "1",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(cert),
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return Certificate(cert=cert, key=key)


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (the server may still lose a race for it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _start_tls_redis(directory: Path, certificate: Certificate, password: str):
    """Start redis-server with TLS only; return (process, port) once it answers PING."""
    for _attempt in range(5):
        port = free_port()
        log = directory / f"redis-{port}.log"
        process = subprocess.Popen(
            [
                "redis-server",
                "--port", "0",
                "--tls-port", str(port),
                "--bind", "127.0.0.1",
                "--tls-cert-file", str(certificate.cert),
                "--tls-key-file", str(certificate.key),
                "--tls-ca-cert-file", str(certificate.cert),
                "--tls-auth-clients", "no",
                "--requirepass", password,
                "--save", "",
                "--appendonly", "no",
                "--dir", str(directory),
                "--logfile", str(log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(
            host="127.0.0.1",
            port=port,
            password=password,
            ssl=True,
            ssl_cert_reqs="none",
            socket_connect_timeout=1,
        )
        deadline = time.monotonic() + 15
        while process.poll() is None and time.monotonic() < deadline:
            try:
                client.ping()
            except redis.RedisError:
                time.sleep(0.05)
                continue
            client.close()
            return process, port
        client.close()
        _stop(process)  # lost the port to someone else, or did not start: try another
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else "(no log)"
    pytest.fail(f"the TLS redis-server did not start:\n{tail}")


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """A private redis-server speaking TLS only, with a password and a self-signed certificate."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    directory = tmp_path_factory.mktemp("tls-redis")
    certificate = make_certificate(directory)
    password = "tls-" + secrets.token_hex(12)
    process, port = _start_tls_redis(directory, certificate, password)
    try:
        yield TlsRedis(port=port, password=password, certificate=certificate)
    finally:
        _stop(process)


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


@pytest.fixture(scope="module")
def ssl_postgres():
    """A throwaway PostgreSQL server with ssl=on (self-signed), trust auth, on a free port.

    Yields ``(port, certificate)``. Runs as the ``postgres`` user when the
    tests run as root (initdb refuses root). Skipped when the binaries are
    missing.
    """
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("initdb / pg_ctl are not installed")
    as_user: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: cannot start a PostgreSQL server")
        as_user = [runuser, "-u", "postgres", "--"]
    # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
    directory = Path(tempfile.mkdtemp(prefix="tarotbot-ssl-pg-"))
    try:
        certificate = make_certificate(directory)
        data = directory / "data"
        if as_user:
            shutil.chown(directory, "postgres")
            for path in (certificate.cert, certificate.key):
                shutil.chown(path, "postgres")
        certificate.key.chmod(0o600)
        subprocess.run(
            [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        port = free_port()
        options = (
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c ssl=on "
            f"-c ssl_cert_file={certificate.cert} -c ssl_key_file={certificate.key} "
            "-c fsync=off -c shared_buffers=16MB -c max_connections=10"
        )
        started = subprocess.run(
            [
                *as_user,
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(directory / "pg.log"),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
        if started.returncode != 0:
            log = directory / "pg.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else started.stderr
            pytest.fail(f"the SSL PostgreSQL server did not start:\n{tail}")
        try:
            yield port, certificate
        finally:
            subprocess.run(
                [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
