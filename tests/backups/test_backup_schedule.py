"""The scheduled backups: cron entries registered once, one backup for two concurrent
runs, and a failed run that is an error line and comes back (RQ's Retry)."""

from __future__ import annotations

import json
import subprocess
import sys

from tarotbot.backups.lock import BackupLock
from tests.backups.helpers import (
    ROOT,
    backup_env,
    objects,
    write_fake_tool,
)


def _scheduler_register(env):
    return subprocess.run(
        [sys.executable, "-m", "tarotbot", "scheduler", "--register-only"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_scheduler_registers_the_backup_jobs_once_across_restarts(
    app_env, redis_conn, age_keys
):
    from rq_scheduler import Scheduler

    from jobs.backups import CREATE_ENTRY, VERIFY_ENTRY
    from tarotbot.cli.runtime import PERIODIC_JOBS

    env = dict(
        app_env,
        BACKUP_AGE_RECIPIENTS=age_keys.recipient_str,
        BACKUP_AGE_IDENTITY=age_keys.identity_str,
        BACKUP_AT="23:30",
    )
    for _ in range(2):
        result = _scheduler_register(env)
        assert result.returncode == 0, result.stderr
    jobs = {
        job.id: job for job in Scheduler(queue_name="maintenance", connection=redis_conn).get_jobs()
    }
    assert sorted(jobs) == sorted([CREATE_ENTRY, VERIFY_ENTRY] + [i for i, _, _ in PERIODIC_JOBS])
    assert redis_conn.zcard("rq:scheduler:scheduled_jobs") == len(PERIODIC_JOBS) + 2
    create, verify = jobs[CREATE_ENTRY], jobs[VERIFY_ENTRY]
    assert create.meta["cron_string"] == "30 23 * * *"
    assert verify.meta["cron_string"] == "30 0 * * 1"  # Sunday 00:30 is past midnight: Monday
    assert create.func_name == "jobs.backups.start_create"
    assert verify.func_name == "jobs.backups.start_verify"
    assert create.result_ttl > 24 * 3600 and verify.result_ttl > 7 * 24 * 3600
    scheduled = redis_conn.zscore("rq:scheduler:scheduled_jobs", CREATE_ENTRY)
    import datetime as dt

    when = dt.datetime.fromtimestamp(scheduled, dt.UTC)
    assert (when.hour, when.minute) == (23, 30)  # TZ=UTC: cron times are UTC


def test_what_cannot_run_is_not_scheduled_and_a_warning_says_so(app_env, redis_conn, age_keys):
    from rq_scheduler import Scheduler

    from jobs.backups import CREATE_ENTRY, VERIFY_ENTRY

    def registered() -> set[str]:
        return {j.id for j in Scheduler(queue_name="maintenance", connection=redis_conn).get_jobs()}

    # only the public key: backups are taken, the weekly verification needs the secret key
    result = _scheduler_register(dict(app_env, BACKUP_AGE_RECIPIENTS=age_keys.recipient_str))
    assert result.returncode == 0, result.stderr
    assert "the weekly `backup verify latest --full` is not scheduled" in result.stderr
    assert CREATE_ENTRY in registered() and VERIFY_ENTRY not in registered()

    # no recipients: nothing to encrypt to, no backup entry (the one left before is removed)
    result = _scheduler_register(app_env)
    assert result.returncode == 0, result.stderr
    assert "backups are not scheduled: BACKUP_AGE_RECIPIENTS is unset" in result.stderr
    assert not registered() & {CREATE_ENTRY, VERIFY_ENTRY}


def test_two_concurrent_runs_make_one_backup(
    source_url, redis_url, redis_conn, tmp_path, age_keys, clean_env
):
    fake = tmp_path / "bin"
    write_fake_tool(fake, "pg_dump", "pg_dump (PostgreSQL) 15.99", '/usr/bin/pg_dump "$@"; sleep 2')
    store = tmp_path / "store"
    env = backup_env(
        clean_env, store, age_keys, source_url, REDIS_URL=redis_url, PATH=f"{fake}:/usr/bin:/bin"
    )
    code = (
        "import json, logging; logging.basicConfig(level=logging.INFO); "
        "from jobs.backups import create_and_prune; print(json.dumps(create_and_prune()))"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = []
    for run in runs:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
        outcomes.append((json.loads(out.strip().splitlines()[-1]), err))
    skipped = [(result, err) for result, err in outcomes if result.get("skipped")]
    made = [result for result, _ in outcomes if "backup" in result]
    assert len(skipped) == 1 and len(made) == 1
    assert "another run holds the lock" in skipped[0][1]
    assert len([name for name in objects(store) if name.endswith(".manifest.json")]) == 1
    assert not redis_conn.keys("tarotbot:backups:lock:*")  # released at the end


def test_a_failed_run_logs_an_error_line_and_is_retried(
    source_url, redis_url, redis_conn, tmp_path, age_keys, clean_env
):
    from rq import Queue
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    from jobs.backups import RETRY_INTERVALS

    fake = tmp_path / "bin"
    write_fake_tool(
        fake,
        "pg_dump",
        "pg_dump (PostgreSQL) 15.99",
        'echo "pg_dump: error: disk on fire" >&2; exit 1',
    )
    store = tmp_path / "store"
    env = backup_env(
        clean_env, store, age_keys, source_url, REDIS_URL=redis_url, PATH=f"{fake}:/usr/bin:/bin"
    )
    Queue("maintenance", connection=redis_conn).enqueue("jobs.backups.start_create")
    worker = subprocess.run(
        [sys.executable, "-m", "tarotbot", "worker", "--burst", "--queues", "maintenance"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr
    errors = [line for line in worker.stderr.splitlines() if "ERROR tarotbot.jobs.backups" in line]
    assert len(errors) == 1, worker.stderr
    assert (
        "backup failed: pg_dump failed to dump the database (exit 1): pg_dump: error: disk on fire"
        in errors[0]
    )
    assert f"RQ retries it ({len(RETRY_INTERVALS)} retries left)" in errors[0]

    (job_id,) = ScheduledJobRegistry("maintenance", connection=redis_conn).get_job_ids()
    job = Job.fetch(job_id, connection=redis_conn)
    assert job.func_name == "jobs.backups.create_and_prune"
    assert job.retries_left == len(RETRY_INTERVALS) - 1
    assert job.timeout > 3600
    assert objects(store) == [] or not [n for n in objects(store) if n.endswith(".manifest.json")]


def test_the_lock_is_exclusive_and_an_attempt_of_the_same_job_takes_it_over(redis_conn):
    first = BackupLock(redis_conn, "test", job_id="backup-create-1")
    assert first.acquire()
    other = BackupLock(redis_conn, "test", job_id="backup-create-2")
    assert not other.acquire()
    assert "job backup-create-1" in other.holder
    command = BackupLock(redis_conn, "test")
    assert not command.acquire()
    again = BackupLock(redis_conn, "test", job_id="backup-create-1")  # its retry or hand-back
    assert again.acquire()
    first.release()  # not its lock any more: leaves it alone
    assert redis_conn.exists("tarotbot:backups:lock:test")
    again.release()
    assert not redis_conn.exists("tarotbot:backups:lock:test")
