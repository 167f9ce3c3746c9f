"""``python -m tarotbot health`` against the real PostgreSQL and Redis, run as a PaaS would."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from rq import Queue, Worker

from tarotbot.queue import QUEUE_NAMES

QUESTION = "Will Alice Example from 12 Private Lane get the job?"


def _health(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tarotbot", "health", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _queue_row(stdout: str, name: str) -> list[str]:
    rows = [line.split() for line in stdout.splitlines() if line.split()[:1] == [name]]
    assert len(rows) == 1, stdout
    return rows[0]


def _enqueue_reading(redis_conn) -> None:
    """A reading job as the bot queues it: its arguments hold the person's question."""
    Queue("readings", connection=redis_conn).enqueue(
        "jobs.readings.run_reading",
        1001,
        1001,
        "three",
        QUESTION,
        "reading-1-2",
        job_id="reading-1-2",
    )


def test_healthy_services_exit_0_with_every_queue(app_env, pg, redis_conn):
    result = _health(app_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["check", "state", "target", "answered", "in"]
    assert lines[1].split()[:2] == ["postgres", "ok"]
    assert lines[2].split()[:3] == ["redis", "ok", app_env["REDIS_URL"]]
    assert lines[3].split()[:2] == ["migrations", "ok"]  # the test database is migrated
    for name in QUEUE_NAMES:
        assert _queue_row(result.stdout, name)[1:] == ["0", "-", "0", "0", "0", "0"]
    assert "workers: none" in result.stdout


def test_a_queued_job_shows_its_depth_and_age_never_its_arguments(app_env, pg, redis_conn):
    _enqueue_reading(redis_conn)
    time.sleep(0.2)
    human = _health(app_env)
    assert human.returncode == 0, human.stderr
    row = _queue_row(human.stdout, "readings")
    assert row[1] == "1"
    assert 0.1 <= float(row[2]) < 60
    assert _queue_row(human.stdout, "payments")[1:3] == ["0", "-"]

    as_json = _health(app_env, "--json")
    assert as_json.returncode == 0, as_json.stderr
    readings = json.loads(as_json.stdout)["queues"]["readings"]
    assert readings["queued"] == 1
    assert 0.1 <= readings["oldest_age_seconds"] < 60
    for output in (human.stdout, human.stderr, as_json.stdout, as_json.stderr):
        assert "Alice" not in output and "Private Lane" not in output
        assert "run_reading" not in output


def test_json_prints_one_object(app_env, pg, redis_conn):
    worker = Worker(["readings", "sends"], connection=redis_conn, name="health-test-worker")
    worker.register_birth()
    worker.set_state("idle")
    try:
        result = _health(app_env, "--json")
    finally:
        worker.register_death()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["errors"] == []
    assert report["postgres"]["ok"] and report["postgres"]["pending_migrations"] == []
    assert report["redis"] == {
        "ok": True,
        "target": app_env["REDIS_URL"],
        "answered_ms": report["redis"]["answered_ms"],
    }
    assert list(report["queues"]) == list(QUEUE_NAMES)
    assert set(report["queues"]["sends"]) == {
        "queued",
        "oldest_age_seconds",
        "started",
        "failed",
        "scheduled",
        "deferred",
    }
    (listed,) = report["workers"]
    assert listed["name"] == "health-test-worker"
    assert listed["state"] == "idle"
    assert listed["current_job_id"] is None
    assert 0 <= listed["heartbeat_age_seconds"] < 60
    assert listed["queues"] == ["readings", "sends"]


def test_workers_are_listed_in_the_table(app_env, pg, redis_conn):
    worker = Worker(["payments"], connection=redis_conn, name="health-table-worker")
    worker.register_birth()
    worker.set_state("busy")
    try:
        result = _health(app_env)
    finally:
        worker.register_death()
    assert result.returncode == 0, result.stderr
    (row,) = [line.split() for line in result.stdout.splitlines() if "health-table-worker" in line]
    assert row[:3] == ["health-table-worker", "busy", "-"]
    assert row[-1] == "ago"


def test_unreachable_redis_exits_1_with_one_line_and_no_password(app_env, pg):
    env = dict(app_env, REDIS_URL="redis://:hunter2-secret@127.0.0.1:1/0")
    result = _health(env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: Redis at redis://127.0.0.1:1/0 did not answer: ")
    assert "hunter2" not in result.stderr

    as_json = _health(env, "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["postgres"]["ok"] is True
    assert report["redis"]["ok"] is False
    assert "hunter2" not in as_json.stdout + as_json.stderr


def test_unreachable_postgres_exits_1_with_one_line_and_no_password(app_env, redis_conn):
    env = dict(app_env, DATABASE_URL="postgresql://tarot:hunter2-secret@127.0.0.1:1/tarotbot")
    result = _health(env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: PostgreSQL at 127.0.0.1:1/tarotbot did not answer: ")
    assert "hunter2" not in result.stderr


def test_max_age_flags_a_stuck_queue(app_env, pg, redis_conn):
    assert _health(app_env, "--max-age", "0").returncode == 0  # nothing queued: nothing stuck
    _enqueue_reading(redis_conn)
    time.sleep(0.1)
    result = _health(app_env, "--max-age", "0")
    assert result.returncode == 1
    assert _queue_row(result.stdout, "readings")[1] == "1"  # the table is still printed
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: stuck queue(s), waiting longer than 0 s: readings")

    from_env = _health(dict(app_env, TAROTBOT_HEALTH_MAX_AGE="0"), "--json")
    assert from_env.returncode == 1
    assert json.loads(from_env.stdout)["ok"] is False
    assert _health(app_env, "--max-age", "3600").returncode == 0
