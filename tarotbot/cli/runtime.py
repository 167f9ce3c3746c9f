"""CLI commands that run the long-lived processes: ``worker`` (and later bot, scheduler, demo)."""

from __future__ import annotations

import logging

import click

from tarotbot.cli import setup_logging
from tarotbot.cli.database import open_database
from tarotbot.exceptions import ConfigError
from tarotbot.queue import QUEUE_NAMES, check_redis, get_redis

log = logging.getLogger("tarotbot.worker")


@click.command()
@click.option(
    "--queues",
    default=",".join(QUEUE_NAMES),
    show_default=True,
    envvar="TAROTBOT_WORKER_QUEUES",
    help="Comma-separated queues, highest priority first. Env: TAROTBOT_WORKER_QUEUES.",
)
@click.option(
    "--worker-class",
    type=click.Choice(["fork", "simple"]),
    default="fork",
    show_default=True,
    envvar="TAROTBOT_WORKER_CLASS",
    help="fork: a fresh work horse (and DB connection) per job; simple: jobs run in-process "
    "on a connection pool. Env: TAROTBOT_WORKER_CLASS.",
)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option(
    "--name", default=None, envvar="TAROTBOT_WORKER_NAME", help="Worker name (default: random)."
)
def worker(queues: str, worker_class: str, burst: bool, name: str | None) -> None:
    """Run an RQ worker for readings, payments, sends and maintenance jobs."""
    from rq import SimpleWorker, Worker

    from tarotbot import schema

    settings = open_database(pooled=worker_class == "simple")
    setup_logging(settings.log_level)
    conn = get_redis()
    if conn is None:
        raise ConfigError("REDIS_URL", "is required by the worker (redis://host:port/db)")
    check_redis(conn)
    waiting = schema.pending()  # leaves this process's connection open, as real code would
    if waiting:
        log.warning("migrations pending (%s): run `python -m tarotbot migrate`", ", ".join(waiting))
    cls = SimpleWorker if worker_class == "simple" else Worker
    names = [q.strip() for q in queues.split(",") if q.strip()]
    rq_worker = cls(names, connection=conn, name=name)
    log.info(
        "worker %s (%s) on %s, queues %s",
        rq_worker.name,
        worker_class,
        settings.database_label,
        ",".join(names),
    )
    rq_worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)


COMMANDS = [worker]
