"""CLI commands that run the long-lived processes: worker, scheduler, bot, web and demo."""

from __future__ import annotations

import logging

import click

from tarotbot.cli import setup_logging
from tarotbot.cli.database import open_database
from tarotbot.cli.tarot import load_tarot_data
from tarotbot.exceptions import ConfigError
from tarotbot.queue import QUEUE_NAMES, check_redis, get_redis
from tarotbot.tarot.languages import LANGUAGES
from tarotbot.workers import (
    STOP_GRACE,
    TarotSimpleWorker,
    TarotWorker,
    recover_jobs_of_dead_workers,
    release_locks_of_dead_schedulers,
)

log = logging.getLogger("tarotbot.worker")

#: Spreads whose card faces a worker draws before taking jobs (the everyday
#: ones: 78 faces, ~0.3 s at start-up, ~50 MB that traffic would fill anyway).
WARM_SPREADS = ("single", "three")


@click.command()
@click.option(
    "--queues",
    default=",".join(QUEUE_NAMES),
    show_default=True,
    help="Comma-separated queues, highest priority first. Env: TAROTBOT_WORKER_QUEUES.",
)
@click.option(
    "--worker-class",
    type=click.Choice(["fork", "simple"]),
    default="simple",
    show_default=True,
    envvar="TAROTBOT_WORKER_CLASS",
    help="fork: a fresh work horse (and DB connection) per job; simple: jobs run in-process "
    "on a connection pool. Env: TAROTBOT_WORKER_CLASS.",
)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: random).")
@click.option(
    "--stop-grace",
    default=STOP_GRACE,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds a running job may take after SIGTERM before it is handed back to its queue. "
    "Env: TAROTBOT_WORKER_STOP_GRACE.",
)
def worker(
    queues: str, worker_class: str, burst: bool, name: str | None, stop_grace: float
) -> None:
    """Run an RQ worker for readings, payments, sends and maintenance jobs."""
    from tarotbot import metrics, schema

    settings = open_database(pooled=worker_class == "simple", process="worker")
    setup_logging(settings.log_level)
    conn = get_redis()
    if conn is None:
        raise ConfigError("REDIS_URL", "is required by the worker (redis://host:port/db)")
    check_redis(conn)
    for job_id_ in recover_jobs_of_dead_workers(conn):
        log.warning("requeued job %s of a worker that died on this host", job_id_)
    for queue in release_locks_of_dead_schedulers(conn):
        log.warning("freed the scheduler lock of %s held by a dead scheduler", queue)
    waiting = schema.pending()  # leaves this process's connection open, as real code would
    if waiting:
        log.warning("migrations pending (%s): run `python -m tarotbot migrate`", ", ".join(waiting))
    from tarotbot.tarot.render import warm_faces

    load_tarot_data()  # deck and phrasing parsed and validated once here, not in every job (or horse)
    warm_faces(WARM_SPREADS)
    cls = TarotSimpleWorker if worker_class == "simple" else TarotWorker
    names = [q.strip() for q in queues.split(",") if q.strip()]
    # log_job_description off: RQ would log every job's arguments (questions, names)
    rq_worker = cls(
        names, connection=conn, name=name, maintenance_interval=60, log_job_description=False
    )
    rq_worker.stop_grace = stop_grace
    metrics.serve_from_env()
    log.info(
        "worker %s (%s) on %s, queues %s",
        rq_worker.name,
        worker_class,
        settings.database_label,
        ",".join(names),
    )
    rq_worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)


#: Periodic jobs: (fixed id, function, interval in seconds). Fixed ids make a
#: restarted scheduler replace its jobs instead of adding copies.
PERIODIC_JOBS = (
    ("periodic-daily-cards", "jobs.daily.tick", 60),  # due daily cards; stalled broadcasts
    ("periodic-expire-stale-purchases", "jobs.maintenance.expire_stale_purchases", 300),
    ("periodic-expire-subscriptions", "jobs.maintenance.expire_subscriptions", 600),
    ("periodic-refund-orphan-debits", "jobs.maintenance.refund_orphan_debits", 300),
    ("periodic-reconcile-stars", "jobs.reconcile.reconcile_star_transactions", 900),
)


#: Longest pause between attempts to reach Redis again after an outage (seconds).
SCHEDULER_MAX_PAUSE = 30.0


def register_periodic_jobs(sched) -> None:
    """(Re-)register :data:`PERIODIC_JOBS`; fixed ids replace earlier copies."""
    import datetime as dt

    from tarotbot.queue import QUEUE_MAINTENANCE

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # rq-scheduler wants naive UTC
    for job_id_, func, every in PERIODIC_JOBS:
        if job_id_ in sched:
            sched.cancel(job_id_)
        sched.schedule(
            scheduled_time=now,
            func=func,
            interval=every,
            repeat=None,
            id=job_id_,
            result_ttl=every * 3,  # longer than the interval, or the repeat silently stops
            queue_name=QUEUE_MAINTENANCE,
        )
        log.info("registered %s every %ds", func, every)
    from jobs.backups import register_backup_jobs

    register_backup_jobs(sched)  # cron entries: daily create + prune, weekly verify --full


@click.command()
@click.option(
    "--interval",
    default=5,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds between scheduler polls (1..3600). Env: TAROTBOT_SCHEDULER_INTERVAL.",
)
@click.option("--register-only", is_flag=True, help="Register the periodic jobs and exit.")
def scheduler(interval: int, register_only: bool) -> None:
    """Run rq-scheduler with the periodic jobs (run it with TZ=UTC).

    A Redis outage does not end it: it waits, reconnects, registers the
    periodic jobs again (a restarted Redis may have lost them) and goes on.
    SIGTERM ends it at once (rq-scheduler's own handler).
    """
    import secrets
    import time

    import redis
    from rq_scheduler import Scheduler

    from tarotbot.queue import QUEUE_MAINTENANCE

    settings = open_database(process="scheduler")
    setup_logging(settings.log_level)
    conn = get_redis()
    if conn is None:
        raise ConfigError("REDIS_URL", "is required by the scheduler (redis://host:port/db)")
    check_redis(conn)
    pause = 1.0
    while True:
        try:
            # a fresh name each time: an outage may leave the last one's key unmarked as dead
            sched = Scheduler(
                queue_name=QUEUE_MAINTENANCE,
                connection=conn,
                interval=interval,
                name=f"tarotbot-{secrets.token_hex(4)}",
            )
            register_periodic_jobs(sched)
            if register_only:
                return
            pause = 1.0
            sched.run()
            return
        except redis.RedisError as exc:
            log.warning(
                "scheduler lost Redis (%s: %s); trying again in %.0f s",
                type(exc).__name__,
                exc,
                pause,
            )
            time.sleep(pause)
            pause = min(pause * 2, SCHEDULER_MAX_PAUSE)


@click.command()
@click.option(
    "--workers",
    default=2,
    show_default=True,
    help="In-process worker threads when REDIS_URL is unset (embedded mode). "
    "Env: TAROTBOT_BOT_WORKERS.",
)
def bot(workers: int) -> None:
    """Run the long-polling bot (needs TELEGRAM_BOT_TOKEN).

    With REDIS_URL set, jobs go to Redis for `worker` processes; without it
    (embedded mode) they run on worker threads inside this process.
    """
    from tarotbot import metrics, schema
    from tarotbot.app import App, InProcessWorkers, set_app
    from tarotbot.config import get_settings
    from tarotbot.telegram.bot import TarotBot

    settings = open_database(process="bot" if get_settings().redis_url else None)
    setup_logging(settings.log_level)
    metrics.serve_from_env()
    if settings.telegram_bot_token is None:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN",
            "is not set; run `python -m tarotbot demo` for the local demo chat",
        )
    app = App.from_settings(settings)
    set_app(app)
    check_redis(None if app.embedded else app.redis)
    background = None
    if app.embedded:
        from tarotbot.db import connection

        with connection():
            schema.migrate()
        background = InProcessWorkers(app, threads=workers).start()
        log.info(
            "embedded mode: %d in-process worker thread(s), %s", workers, settings.database_label
        )
    try:
        TarotBot(app).run()
    finally:
        if background:
            background.stop()


@click.command()
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Request threads per worker process (each holds at most one database connection). "
    "Env: TAROTBOT_WEB_THREADS.",
)
def web(threads: int) -> None:
    """Serve Telegram's webhook with gunicorn: the bot for several processes (scale out).

    Needs TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET,
    REDIS_URL and DATABASE_URL; listens on 0.0.0.0:$PORT (default 8080)
    with $WEB_CONCURRENCY worker processes (default 2). Sets the webhook at
    start (left set at exit: another process may still serve it; `bot`
    deletes it when polling again).
    """
    import os

    from tarotbot import web as webmode
    from tarotbot.config import get_settings, parse_int

    webmode.exit_on_sigterm()
    settings = get_settings()
    setup_logging(settings.log_level)
    required = (
        ("TELEGRAM_BOT_TOKEN", settings.telegram_bot_token, "the token from @BotFather"),
        ("TELEGRAM_WEBHOOK_URL", settings.webhook_url, "the public https:// URL of this process"),
        ("TELEGRAM_WEBHOOK_SECRET", settings.webhook_secret, "1-256 of A-Z a-z 0-9 _ -"),
        ("REDIS_URL", settings.redis_url, "redis://host:port/db, shared with the workers"),
    )
    for variable, value, hint in required:
        if not value:
            raise ConfigError(variable, f"is required by the web process ({hint})")
    settings.require_shared_database("web")
    port = parse_int("PORT", os.environ.get("PORT"), 8080, 1, 65535)
    workers = parse_int("WEB_CONCURRENCY", os.environ.get("WEB_CONCURRENCY"), 2, 1, 32)
    if threads > settings.db_max_connections:
        raise ConfigError(
            "TAROTBOT_WEB_THREADS",
            f"{threads} threads may hold {threads} database connections, more than "
            f"DATABASE_MAX_CONNECTIONS ({settings.db_max_connections}); raise that or lower this",
        )
    open_database()  # proves it answers; each worker opens its own pool after the fork
    conn = get_redis()
    check_redis(conn)
    webmode.start_webhook(settings, conn)
    conn.close()  # nothing of Redis crosses the fork either
    webmode.serve(settings, port=port, workers=workers, threads=threads)


@click.command()
@click.option(
    "--pictures",
    default="demo-pictures",
    show_default=True,
    help="Folder for the spread pictures. Env: TAROTBOT_DEMO_PICTURES.",
)
@click.option(
    "--user-id", default=7_000_001, show_default=True,
    help="The Telegram id you chat as. Env: TAROTBOT_DEMO_USER_ID.",
)  # fmt: skip
@click.option(
    "--admin", is_flag=True, envvar="TAROTBOT_DEMO_ADMIN",
    help="Chat as an admin (your id joins ADMIN_IDS): /stats, /grant, /broadcast… "
    "Env: TAROTBOT_DEMO_ADMIN.",
)  # fmt: skip
@click.option(
    "--language",
    type=click.Choice(LANGUAGES),
    default="en",
    show_default=True,
    help="The language your Telegram app uses (the bot answers in it). "
    "Env: TAROTBOT_DEMO_LANGUAGE.",
)
def demo(pictures: str, user_id: int, admin: bool, language: str) -> None:
    """Chat with the bot in this terminal, against a local Telegram emulator.

    Needs no configuration (SQLite and an in-process queue); uses PostgreSQL
    and Redis when DATABASE_URL / REDIS_URL are set. Reads a script from
    stdin when piped.
    """
    import sys
    from pathlib import Path

    from tarotbot.config import get_settings
    from tarotbot.telegram.demo import DemoChat

    settings = get_settings()
    if admin:
        import dataclasses

        settings = dataclasses.replace(settings, admin_ids=settings.admin_ids | {user_id})
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    chat = DemoChat(settings, picture_dir=Path(pictures), user_id=user_id, language=language)
    try:
        chat.run(sys.stdin, interactive=sys.stdin.isatty())
    finally:
        chat.close()


COMMANDS = [worker, scheduler, bot, web, demo]
