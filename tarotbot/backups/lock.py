"""The backup lock in Redis: two concurrent runs make one backup.

``SET key value NX PX ttl``, kept alive by a thread that renews it every
third of its lifetime and released (only by its owner) at the end. A holder
that dies stops renewing, so its lock lapses within :data:`TTL_SECONDS` and
a later run can take over. The value says who holds it (RQ job id, host,
pid, since), for the one line a refused run logs.

An RQ job that finds the lock held by *its own job id* is that job's retry
or a hand-back after its worker was stopped mid-run (a job runs once at a
time), so it takes the lock over instead of waiting for it to lapse.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
import threading

import redis

log = logging.getLogger("tarotbot.backups")

PREFIX = "tarotbot:backups:lock:"
#: Seconds a lock lives without renewal: how long a dead holder blocks others.
TTL_SECONDS = 60

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class BackupLock:
    """An exclusive, self-renewing lock named ``name`` (``create``, ``verify``).

    ``with BackupLock(conn, "create", job_id=...) as lock:`` then
    ``lock.held`` says whether this run got it; when not, ``lock.holder``
    describes who has it.
    """

    def __init__(
        self,
        conn: redis.Redis,
        name: str,
        job_id: str | None = None,
        ttl: float = TTL_SECONDS,
    ):
        self.conn = conn
        self.key = PREFIX + name
        self.job_id = job_id
        self.ttl_ms = int(ttl * 1000)
        self.value = json.dumps(
            {
                "job": job_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "since": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "token": secrets.token_hex(8),
            }
        )
        self.held = False
        self.holder = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        if self.conn.set(self.key, self.value, nx=True, px=self.ttl_ms):
            self.held = True
        else:
            current = self.conn.get(self.key)
            info = _parse(current)
            own = self.job_id is not None and info.get("job") == self.job_id
            # our own job's earlier attempt, which is no longer running: take it over
            if own and self.conn.set(self.key, self.value, xx=True, px=self.ttl_ms):
                log.warning(
                    "backup lock %s: taking over from an earlier attempt of job %s",
                    self.key,
                    self.job_id,
                )
                self.held = True
            if not self.held:
                self.holder = describe(info)
                return False
        self._thread = threading.Thread(target=self._renew, name="backup-lock", daemon=True)
        self._thread.start()
        return True

    def _renew(self) -> None:
        interval = self.ttl_ms / 3000
        while not self._stop.wait(interval):
            try:
                if not self.conn.eval(_RENEW, 1, self.key, self.value, self.ttl_ms):
                    log.warning("backup lock %s was lost while the run went on", self.key)
                    return
            except redis.RedisError as exc:
                log.warning("backup lock %s: could not renew (%s)", self.key, exc)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.held:
            try:
                self.conn.eval(_RELEASE, 1, self.key, self.value)
            except redis.RedisError as exc:  # it lapses on its own
                log.warning("backup lock %s: could not release (%s)", self.key, exc)
            self.held = False

    def __enter__(self) -> BackupLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _parse(raw: bytes | None) -> dict:
    try:
        return json.loads(raw) if raw else {}
    except (ValueError, TypeError):
        return {}


def describe(info: dict) -> str:
    """``job backup-create-… on host web.1 (pid 4), since 03:00:00 UTC`` for messages."""
    if not info:
        return "another run"
    job = f"job {info['job']} " if info.get("job") else "a command "
    return f"{job}on host {info.get('host')} (pid {info.get('pid')}), since {info.get('since')}"
