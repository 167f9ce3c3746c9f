"""Forked children never share the parent's PostgreSQL session.

A psycopg2 connection inherited across fork() corrupts the parent's session
when the child uses or closes it. The db module forgets the inherited
connection in the child; these tests check that with a bare fork and with a
real forking RQ worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from rq import Queue

from tarotbot import db as tdb
from tarotbot.config import load_settings


def _backend_pid() -> int:
    return tdb.database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


@pytest.mark.parametrize("pooled", [False, True])
def test_forked_child_opens_its_own_connection(pg_url, pooled):
    tdb.init_database(load_settings({"DATABASE_URL": pg_url}), pooled=pooled)
    tdb.database.connect(reuse_if_open=True)
    parent_backend = _backend_pid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: use the database, then close it, as a job would
        code = 1
        try:
            with tdb.connection():
                os.write(write, str(_backend_pid()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(child, 0)
    child_backend = int(os.read(read, 64) or b"0")
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_backend not in (0, parent_backend)
    # The parent's session survived the child's close: same backend, still usable.
    assert _backend_pid() == parent_backend
    assert tdb.database.execute_sql("SELECT 1").fetchone()[0] == 1
    tdb.database.close()


def test_forking_rq_worker_gives_every_job_a_fresh_session(app_env, redis_conn):
    queue = Queue("maintenance", connection=redis_conn)
    jobs = [queue.enqueue("jobs.diagnostics.database_identity") for _ in range(6)]
    result = subprocess.run(
        [sys.executable, "-m", "tarotbot", "worker", "--burst", "--worker-class", "fork"],
        env=app_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    identities = []
    for job in jobs:
        job.refresh()
        assert job.get_status() == "finished", (job.get_status(), job.exc_info)
        identities.append(job.return_value())
    work_horses = {item["pid"] for item in identities}
    sessions = {item["backend_pid"] for item in identities}
    assert len(work_horses) == 6, json.dumps(identities)
    assert len(sessions) == 6, json.dumps(identities)
