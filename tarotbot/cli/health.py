"""``python -m tarotbot health``: does PostgreSQL answer, does Redis, how are the queues?

For a PaaS health check and for operators; the README (Operating it, Health)
shows its output and exit codes. Read-only: nothing is cleaned up or requeued.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from typing import Any
from urllib.parse import urlsplit

import click
import peewee
import redis

from tarotbot import db, schema
from tarotbot.config import Settings, get_settings
from tarotbot.exceptions import TarotBotError
from tarotbot.queue import QUEUE_NAMES, get_redis

#: rq-scheduler's sorted set of periodic and timed jobs.
RQ_SCHEDULER_KEY = "rq:scheduler:scheduled_jobs"
#: Queued job ids looked at for the oldest one (an id whose job record expired is skipped).
OLDEST_LOOKAHEAD = 10


class HealthCheckFailed(TarotBotError):
    """PostgreSQL or Redis did not answer, or a queue is stuck."""

    exit_code = 1


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def redis_label(url: str) -> str:
    """``REDIS_URL`` fit for a message: scheme, host, port and db; no user, password or query."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return f"unix://{parts.path}"
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path or ''}"
    except ValueError:
        return "REDIS_URL"


def _without(secret: str | None, text: str) -> str:
    """``text`` with ``secret`` (a password) blanked, should a driver ever echo it."""
    return text.replace(secret, "***") if secret else text


def check_postgres(settings: Settings) -> dict[str, Any]:
    """Bind the database and run ``SELECT 1``; report the answer time and pending migrations."""
    password = urlsplit(settings.database_url).password if settings.database_url else None
    label = settings.database_label.replace("PostgreSQL ", "PostgreSQL at ", 1)
    report: dict[str, Any] = {"ok": False, "target": label}
    if not settings.uses_postgres and not os.path.exists(settings.sqlite_path):
        report["error"] = f"{label} does not exist (DATABASE_URL is unset)"
        return report
    db.init_database(settings)
    try:
        started = time.perf_counter()
        with db.connection():
            db.database.execute_sql("SELECT 1").fetchone()
            report["answered_ms"] = round((time.perf_counter() - started) * 1000, 1)
            report["pending_migrations"] = schema.pending()
    except (peewee.PeeweeException, OSError) as exc:
        report["error"] = f"{label} did not answer: " + _without(password, _first_line(exc))
        return report
    finally:
        if not db.database.is_closed():
            db.database.close()
    report["ok"] = True
    return report


def check_redis(settings: Settings) -> tuple[dict[str, Any], redis.Redis | None]:
    """PING Redis; the report and the client (None when it did not answer)."""
    if settings.redis_url is None:
        return {
            "ok": False,
            "target": None,
            "error": "REDIS_URL is not set: the queues live inside each process (embedded "
            "mode), there is nothing to check",
        }, None
    label = redis_label(settings.redis_url)
    password = urlsplit(settings.redis_url).password
    report: dict[str, Any] = {"ok": False, "target": label}
    conn = get_redis()
    try:
        started = time.perf_counter()
        conn.ping()
        report["answered_ms"] = round((time.perf_counter() - started) * 1000, 1)
    except (redis.RedisError, OSError) as exc:
        report["error"] = f"Redis at {label} did not answer: " + _without(
            password, _first_line(exc)
        )
        return report, None
    report["ok"] = True
    return report, conn


def _age(raw: bytes | None, now: dt.datetime) -> float | None:
    if not raw:
        return None
    from rq.utils import utcparse

    try:
        when = utcparse(raw.decode())
    except ValueError:
        return None
    return round(max(0.0, (now - when).total_seconds()), 1)


def queue_stats(conn: redis.Redis, name: str, now: dt.datetime) -> dict[str, Any]:
    """Counts for one queue, read without touching any job's payload."""
    from rq import Queue
    from rq.job import Job
    from rq.registry import (
        DeferredJobRegistry,
        FailedJobRegistry,
        ScheduledJobRegistry,
        StartedJobRegistry,
    )
    from rq.utils import current_timestamp

    queue = Queue(name, connection=conn)
    oldest = None
    ids = [i.decode() for i in conn.lrange(queue.key, 0, OLDEST_LOOKAHEAD - 1)]
    if ids:
        pipe = conn.pipeline(transaction=False)
        for id_ in ids:
            pipe.hmget(Job.key_for(id_), "enqueued_at", "created_at")
        for enqueued_at, created_at in pipe.execute():
            oldest = _age(enqueued_at or created_at, now)
            if oldest is not None:
                break
    failed = FailedJobRegistry(queue=queue)
    return {
        "queued": queue.count,
        "oldest_age_seconds": oldest,
        "started": StartedJobRegistry(queue=queue).get_job_count(cleanup=False),
        # the score is the expiry time: count what RQ's own cleanup would keep
        "failed": conn.zcount(failed.key, current_timestamp(), "+inf"),
        "scheduled": ScheduledJobRegistry(queue=queue).get_job_count(cleanup=False),
        "deferred": DeferredJobRegistry(queue=queue).get_job_count(cleanup=False),
    }


def worker_stats(conn: redis.Redis, now: dt.datetime) -> list[dict[str, Any]]:
    from rq import Worker

    workers = []
    for worker in sorted(Worker.all(connection=conn), key=lambda w: w.name):
        beat = worker.last_heartbeat
        workers.append(
            {
                "name": worker.name,
                "state": worker.get_state(),
                "current_job_id": worker.get_current_job_id(),
                "heartbeat_age_seconds": (
                    round(max(0.0, (now - beat).total_seconds()), 1) if beat else None
                ),
                "queues": worker.queue_names(),
            }
        )
    return workers


def collect(settings: Settings) -> dict[str, Any]:
    """The whole report; ``errors`` lists what failed (empty when healthy)."""
    report: dict[str, Any] = {"ok": False, "errors": []}
    postgres = check_postgres(settings)
    redis_report, conn = check_redis(settings)
    report["postgres"] = postgres
    report["redis"] = redis_report
    for part in (postgres, redis_report):
        if not part["ok"]:
            report["errors"].append(part["error"])
    if conn is not None:
        now = dt.datetime.now(dt.UTC)
        try:
            report["queues"] = {name: queue_stats(conn, name, now) for name in QUEUE_NAMES}
            report["periodic_jobs"] = conn.zcard(RQ_SCHEDULER_KEY)
            report["workers"] = worker_stats(conn, now)
        except (redis.RedisError, OSError) as exc:
            report["errors"].append(
                f"Redis at {redis_report['target']} answered but its queues could not be read: "
                + _first_line(exc)
            )
    report["ok"] = not report["errors"]
    return report


def stuck_queues(report: dict[str, Any], max_age: float) -> list[str]:
    """Queues whose oldest job has waited longer than ``max_age`` seconds."""
    return [
        f"{name} (oldest job waited {stats['oldest_age_seconds']:.1f} s)"
        for name, stats in report.get("queues", {}).items()
        if stats["oldest_age_seconds"] is not None and stats["oldest_age_seconds"] > max_age
    ]


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in [headers, *rows]:
        cells = [
            str(cell).rjust(width) if index in right else str(cell).ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_report(report: dict[str, Any]) -> str:
    """The report as a few aligned lines for a person."""
    postgres, redis_report = report["postgres"], report["redis"]
    pending = postgres.get("pending_migrations") or []
    checks = [
        ["postgres", "ok", postgres["target"], f"{postgres['answered_ms']:.1f} ms"],
        ["redis", "ok", redis_report["target"], f"{redis_report['answered_ms']:.1f} ms"],
        ["migrations", "pending" if pending else "ok", f"{len(pending)} pending", ""],
    ]
    lines = _table(["check", "state", "target", "answered in"], checks, right={3})
    if pending:
        lines.append("pending migrations: " + ", ".join(pending))
    lines.append("")
    rows = [
        [
            name,
            stats["queued"],
            "-" if stats["oldest_age_seconds"] is None else f"{stats['oldest_age_seconds']:.1f}",
            stats["started"],
            stats["failed"],
            stats["scheduled"],
            stats["deferred"],
        ]
        for name, stats in report["queues"].items()
    ]
    headers = ["queue", "queued", "oldest (s)", "started", "failed", "scheduled", "deferred"]
    lines += _table(headers, rows, right={1, 2, 3, 4, 5, 6})
    lines.append(f"periodic jobs (rq-scheduler): {report['periodic_jobs']}")
    lines.append("")
    if report["workers"]:
        rows = [
            [
                worker["name"],
                worker["state"],
                worker["current_job_id"] or "-",
                "-"
                if worker["heartbeat_age_seconds"] is None
                else f"{worker['heartbeat_age_seconds']:.1f} s ago",
            ]
            for worker in report["workers"]
        ]
        lines += _table(["worker", "state", "current job", "heartbeat"], rows, right=set())
    else:
        lines.append("workers: none")
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--max-age",
    type=click.FloatRange(min=0),
    default=None,
    help="Also fail when a queue's oldest job has waited longer than SECONDS (a stuck queue). "
    "Env: TAROTBOT_HEALTH_MAX_AGE.",
    metavar="SECONDS",
)
def health(as_json: bool, max_age: float | None) -> None:
    """Check PostgreSQL and Redis, and show the queues, workers and pending migrations.

    Exits 0 when PostgreSQL and Redis answer and the queues could be read;
    otherwise 1, with one line saying what failed. Never shows job arguments
    (they carry questions) or passwords.
    """
    settings = get_settings()
    report = collect(settings)
    if report["ok"] and max_age is not None:
        stuck = stuck_queues(report, max_age)
        if stuck:
            report["errors"].append(
                f"stuck queue(s), waiting longer than {max_age:g} s: " + "; ".join(stuck)
            )
            report["ok"] = False
    if as_json:
        click.echo(json.dumps(report))
    elif "queues" in report and report["postgres"]["ok"]:
        click.echo(format_report(report))
    if report["errors"]:
        raise HealthCheckFailed("; ".join(report["errors"]))


COMMANDS = [health]
