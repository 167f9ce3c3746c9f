"""One process's wiring: settings, Redis, RQ queues and the outbound sender.

Production processes (bot, worker) build an :class:`App` from the settings
and talk to the real Redis. The sender is the edge's: whoever needs one
(the bot, the jobs) hands the app a factory for it, so nothing here imports
Telegram code. Embedded mode (``REDIS_URL`` unset: the demo, a
single machine) runs the very same code on an in-process Redis (fakeredis)
with RQ workers on threads, so there is one code path, not two.

Jobs find the process's app with :func:`get_app`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from rq import Callback, Queue, Retry, SimpleWorker
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.timeouts import TimerDeathPenalty

from tarotbot.config import Settings, get_settings
from tarotbot.i18n import current_language
from tarotbot.queue import QUEUE_NAMES, redis_from_settings

log = logging.getLogger("tarotbot.app")

#: Seconds a finished job's record is kept: an update redelivered within
#: this window is refused by its job id at once. Later ones run again and
#: find their work done in PostgreSQL (ledger keys) and their messages in the
#: sender's delivery records, so Redis need not remember every job for a day.
JOB_RESULT_TTL = 30
#: Seconds a failed job stays in RQ's failed registry, for operators.
JOB_FAILURE_TTL = 86_400


class App:
    """Settings, Redis and queues for one process, plus a lazily built sender."""

    def __init__(self, settings: Settings, redis_conn: redis.Redis, embedded: bool = False):
        self.settings = settings
        self.redis = redis_conn
        self.embedded = embedded
        self._queues: dict[str, Queue] = {}
        self._sender = None
        self._sender_factory: Callable[[App], object] | None = None
        self._lock = threading.Lock()

    # -- construction -------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> App:
        settings = settings or get_settings()
        conn = redis_from_settings(settings)
        if conn is None:
            return cls.in_process(settings)
        return cls(settings, conn)

    @classmethod
    def in_process(cls, settings: Settings) -> App:
        """An app on an in-process Redis (fakeredis): the embedded mode."""
        import fakeredis

        server = fakeredis.FakeServer()
        return cls(settings, fakeredis.FakeRedis(server=server), embedded=True)

    # -- queues --------------------------------------------------------------
    def queue(self, name: str) -> Queue:
        with self._lock:
            if name not in self._queues:
                self._queues[name] = Queue(name, connection=self.redis)
            return self._queues[name]

    def enqueue(
        self,
        queue_name: str,
        func: str,
        *args,
        key: str,
        retry: Retry | None = None,
        on_failure: Callback | None = None,
        timeout: int = 120,
    ) -> Job | None:
        """Queue ``func(*args)`` once per ``key``; None if that key was already queued.

        ``key`` becomes the RQ job id, so a redelivered Telegram update (same
        ``update_id``) cannot queue its work twice. The job speaks the language
        spoken now (:mod:`tarotbot.i18n`): it travels in the job's meta.
        """
        try:
            return self.queue(queue_name).enqueue(
                func,
                *args,
                job_id=key,
                meta={"language": current_language()},
                unique=True,
                retry=retry,
                on_failure=on_failure,
                job_timeout=timeout,
                result_ttl=JOB_RESULT_TTL,
                failure_ttl=JOB_FAILURE_TTL,
            )
        except DuplicateJobError:
            log.info("job %s already queued; redelivery ignored", key)
            return None

    # -- sender --------------------------------------------------------------
    @property
    def sender(self):
        """The process's outbound sender (built on first use by the factory the edge gave)."""
        with self._lock:
            if self._sender is None:
                if self._sender_factory is None:
                    raise RuntimeError("this app has no sender: call use_sender_factory() first")
                self._sender = self._sender_factory(self)
            return self._sender

    def use_sender_factory(self, factory: Callable[[App], object]) -> App:
        """Build the sender with ``factory(app)`` when first needed (a set one is kept)."""
        with self._lock:
            if self._sender_factory is None:
                self._sender_factory = factory
        return self

    def set_sender(self, sender) -> None:
        self._sender = sender


_app: App | None = None
_app_lock = threading.Lock()


def get_app() -> App:
    """The process's app, built from the environment on first use."""
    global _app
    with _app_lock:
        if _app is None:
            _app = App.from_settings()
        return _app


def set_app(app: App | None) -> None:
    """Install ``app`` as the process's app (embedded mode, tests)."""
    global _app
    with _app_lock:
        _app = app


class _ThreadWorker(SimpleWorker):
    """A SimpleWorker that can live on a thread (no signal handlers, timer timeouts)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):  # signals work only on the main thread
        pass


class InProcessWorkers:
    """RQ workers on threads for embedded mode, plus a mover for scheduled jobs.

    Each thread repeatedly drains the queues in burst mode; a separate loop
    moves due scheduled jobs (``enqueue_in``) onto their queues, which in a
    deployment the RQ scheduler does.
    """

    def __init__(self, app: App, threads: int = 2, poll: float = 0.02):
        self.app = app
        self.poll = poll
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._work, name=f"rq-thread-{i}", daemon=True)
            for i in range(threads)
        ]
        self.threads.append(threading.Thread(target=self._schedule, name="rq-mover", daemon=True))

    def start(self) -> InProcessWorkers:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        queues = [self.app.queue(name) for name in QUEUE_NAMES]
        worker = _ThreadWorker(queues, connection=self.app.redis)
        while not self.stopping.is_set():
            try:
                worked = worker.work(burst=True, logging_level="WARNING", with_scheduler=False)
            except Exception:  # keep the demo alive; the job itself is recorded as failed
                log.exception("in-process worker loop failed")
                worked = False
            if not worked:
                time.sleep(self.poll)

    def _schedule(self) -> None:
        while not self.stopping.is_set():
            move_due_scheduled_jobs(self.app)
            time.sleep(0.1)


def move_due_scheduled_jobs(app: App, now: Callable[[], float] = time.time) -> int:
    """Enqueue every scheduled job whose time has come; return how many."""
    moved = 0
    for name in QUEUE_NAMES:
        queue = app.queue(name)
        registry = ScheduledJobRegistry(queue=queue)
        for job_id_ in registry.get_jobs_to_schedule(int(now())):
            job = queue.fetch_job(job_id_)
            registry.remove(job_id_)
            if job is not None:
                queue._enqueue_job(job)
                moved += 1
    return moved
