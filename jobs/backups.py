"""Scheduled backups: the daily ``create`` then ``prune``, the weekly ``verify --full``.

rq-scheduler fires two cron entries with fixed ids (a restarted scheduler
replaces them, never adds copies): at BACKUP_AT UTC every day, and an hour
later on Sundays. Each fires a small *starter* job that enqueues the real
run with RQ's ``Retry``, so every day's run gets its full set of retries
(a cron entry's own retry count would be used up for good by one bad day).

A run holds the backup lock (:mod:`tarotbot.backups.lock`), so two concurrent
runs make one backup; a failed one raises and RQ runs it again after
:data:`RETRY_INTERVALS` (the README's "Schedule and retention" says the rest).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time

from jobs import timed_job
from tarotbot.backups import service
from tarotbot.backups.lock import BackupLock
from tarotbot.config import Settings, get_settings
from tarotbot.queue import QUEUE_MAINTENANCE, get_redis

log = logging.getLogger("tarotbot.jobs.backups")

#: Fixed ids of the cron entries in rq-scheduler.
CREATE_ENTRY = "periodic-backup-create"
VERIFY_ENTRY = "periodic-backup-verify"
#: Seconds between attempts of a failed run (then it stays failed).
RETRY_INTERVALS = (300, 1800, 3600)
#: RQ's default job timeout is 180 s; a dump of a large database takes longer.
RUN_TIMEOUT = 6 * 3600
DAY = 24 * 3600


def schedule(settings: Settings) -> list[tuple[str, str, str, int]]:
    """The cron entries: ``(id, starter function, cron string in UTC, period in seconds)``.

    Daily at BACKUP_AT; the full verification on Sundays an hour later
    (Monday when that hour passes midnight).
    """
    hour, minute = (int(part) for part in settings.backup_at.split(":"))
    verify_hour = (hour + 1) % 24
    verify_day = 0 if verify_hour > hour else 1  # cron: 0 = Sunday
    return [
        (CREATE_ENTRY, "jobs.backups.start_create", f"{minute} {hour} * * *", DAY),
        (
            VERIFY_ENTRY,
            "jobs.backups.start_verify",
            f"{minute} {verify_hour} * * {verify_day}",
            7 * DAY,
        ),
    ]


def register_backup_jobs(sched, settings: Settings | None = None) -> None:
    """(Re-)register the backup cron entries in rq-scheduler; fixed ids replace old copies.

    Without BACKUP_AGE_RECIPIENTS there is nothing to encrypt to: the
    entries are removed and a warning says backups are off. Without an age
    identity the weekly verification cannot decrypt: only it is left out,
    with a warning.
    """
    settings = settings or get_settings()
    entries = schedule(settings)
    for entry_id, _, _, _ in entries:
        if entry_id in sched:
            sched.cancel(entry_id)
    if not settings.backup_recipients:
        log.warning(
            "backups are not scheduled: BACKUP_AGE_RECIPIENTS is unset (see README, "
            "Backups and disaster recovery)"
        )
        return
    if time.timezone != 0 or time.daylight:
        log.warning(
            "the scheduler's clock is not UTC: rq-scheduler reads cron times as local time, "
            "so backups run at BACKUP_AT local time; start it with TZ=UTC"
        )
    if not (settings.backup_identity or settings.backup_identity_file):
        log.warning(
            "the weekly `backup verify latest --full` is not scheduled: it needs an age secret "
            "key (BACKUP_AGE_IDENTITY or BACKUP_AGE_IDENTITY_FILE) on this machine; run it "
            "yourself, or see README, Backups and disaster recovery"
        )
        entries = [entry for entry in entries if entry[0] != VERIFY_ENTRY]
    for entry_id, func, cron, period in entries:
        sched.cron(
            cron,
            func=func,
            id=entry_id,
            queue_name=QUEUE_MAINTENANCE,
            result_ttl=period * 3,  # longer than the period, or the entry silently stops
        )
        log.info("registered %s at cron %r (UTC)", func, cron)


def _enqueue(func: str, prefix: str) -> str:
    """Enqueue ``func`` with retries under a fresh id; return the id."""
    from rq import Queue, Retry, get_current_job

    current = get_current_job()
    conn = current.connection if current is not None else get_redis()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    job_id = f"{prefix}-{stamp}-{secrets.token_hex(3)}"
    Queue(QUEUE_MAINTENANCE, connection=conn).enqueue(
        func,
        job_id=job_id,
        retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
        job_timeout=RUN_TIMEOUT,
        result_ttl=DAY,
        description=prefix,  # RQ's default would be the call; this says enough
    )
    log.info("enqueued %s as %s", func, job_id)
    return job_id


@timed_job
def start_create() -> str:
    """Cron starter: enqueue today's :func:`create_and_prune` with retries."""
    return _enqueue("jobs.backups.create_and_prune", "backup-create")


@timed_job
def start_verify() -> str:
    """Cron starter: enqueue this week's :func:`verify_latest` with retries."""
    return _enqueue("jobs.backups.verify_latest", "backup-verify")


def _retries_note() -> str:
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        return "not retried (run outside RQ)"
    left = job.retries_left or 0
    return (
        f"RQ retries it ({left} retr{'y' if left == 1 else 'ies'} left)"
        if left
        else "no retry left"
    )


def _run(lock_name: str, what: str, work) -> dict:
    """Run ``work()`` under the lock ``lock_name``; one line if held, one error line on failure."""
    from rq import get_current_job

    current = get_current_job()
    conn = current.connection if current is not None else get_redis()
    lock = BackupLock(conn, lock_name, job_id=current.id if current else None) if conn else None
    if lock is not None and not lock.acquire():
        log.info("%s: another run holds the lock (%s); this run does nothing", what, lock.holder)
        return {"skipped": True, "held_by": lock.holder}
    try:
        return work()
    except Exception as exc:
        log.error("%s failed: %s; %s", what, " ".join(str(exc).split()), _retries_note())
        raise
    finally:
        if lock is not None:
            lock.release()


@timed_job
def create_and_prune() -> dict:
    """Take a backup, then prune: the daily run."""

    def work() -> dict:
        settings = get_settings()
        created = service.create(settings)
        log.info("%s", created.summary())
        pruned = service.prune(settings)
        log.info("%s", pruned.summary())
        return {"backup": created.manifest.id, "deleted": pruned.deleted}

    return _run("create", "backup", work)


@timed_job
def verify_latest() -> dict:
    """``verify latest --full``: restore the newest backup into a scratch database and audit it."""

    def work() -> dict:
        result = service.verify(get_settings(), service.LATEST, full=True)
        log.info("%s", result.summary())
        return {"backup": result.manifest.id, "verified": "full"}

    return _run("verify", "backup verify", work)
