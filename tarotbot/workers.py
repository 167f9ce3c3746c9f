"""RQ worker classes and crash recovery for TarotBot's workers.

:class:`TarotWorker` is RQ's forking worker with one change: each work horse
asks the kernel to SIGKILL it when its parent worker dies (Linux
``PR_SET_PDEATHSIG``). RQ puts the horse in a process group of its own, so
without this a worker killed outright (OOM, SIGKILL) would leave its horse
running, unsupervised, while :func:`recover_jobs_of_dead_workers` hands the
same job to another worker. With it, "the worker died" always means "its job
stopped", and requeueing is safe.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time

import redis
from rq import SimpleWorker, Worker

log = logging.getLogger("tarotbot.workers")

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent exits (Linux; else a no-op)."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


#: Seconds a worker told to stop (SIGTERM) lets its current job run before it
#: hands the job back to its queue and exits: within a PaaS's 30 s stop.
STOP_GRACE = 20.0


class GracefulStop:
    """Warm stop within a grace period; a job that outlasts it is handed back.

    RQ's own warm stop waits for the job however long it takes, and the
    PaaS's SIGKILL after 30 s would leave it "started" until RQ's cleanup
    notices, minutes later. Here, once :attr:`stop_grace` seconds have passed
    after SIGTERM, the job goes back to the front of its queue (every job is
    idempotent, so whatever it committed is found, not done twice) and the
    worker exits.
    """

    stop_grace = STOP_GRACE

    def request_stop(self, signum, frame):
        super().request_stop(signum, frame)  # idle: raises StopRequested and the loop ends
        timer = threading.Timer(self.stop_grace, self._hand_back_and_exit)
        timer.daemon = True
        timer.start()

    def _hand_back_and_exit(self) -> None:
        job = self.get_current_job()
        if job is not None:
            hand_back(job, self.connection)
            self.log.warning("worker %s: job %s outlasted the stop; handed back", self.name, job.id)
        if getattr(self, "horse_pid", 0):
            self.kill_horse()
        try:
            self.register_death()
        finally:
            os._exit(0)


def hand_back(job, conn: redis.Redis) -> None:
    """Put a started job back at the front of its queue (its execution record removed)."""
    from rq import Queue
    from rq.registry import StartedJobRegistry

    queue = Queue(job.origin, connection=conn)
    StartedJobRegistry(queue=queue).remove_executions(job)
    queue.enqueue_job(job, at_front=True)


#: Seconds between two heartbeats of an idle-looping worker (its key lives minutes).
HEARTBEAT_EVERY = 1.0


class SparseHeartbeat:
    """RQ beats its worker's heartbeat (two Redis round trips) before and after
    every dequeue, and asks whether ``rq suspend`` was called before every job;
    at a hundred jobs a second that was a third of RQ's own cost per job.

    A bare heartbeat comes at most once per :data:`HEARTBEAT_EVERY` here, and
    so does the suspension check. The worker's key lives ``worker_ttl``
    (minutes), so it never lapses; beats that carry a timeout or ride in a
    pipeline (a job starting, a work horse being watched) go out as before,
    and a suspension is noticed within a second.
    """

    _last_beat = float("-inf")
    _last_suspension_check = float("-inf")

    def check_for_suspension(self, burst: bool):
        now = time.monotonic()
        if now - self._last_suspension_check < HEARTBEAT_EVERY:
            return None
        self._last_suspension_check = now
        return super().check_for_suspension(burst)

    def heartbeat(self, timeout=None, pipeline=None):
        if timeout is None and pipeline is None:
            now = time.monotonic()
            if now - self._last_beat < HEARTBEAT_EVERY:
                return
            self._last_beat = now
        return super().heartbeat(timeout, pipeline)


class TarotWorker(GracefulStop, SparseHeartbeat, Worker):
    """RQ's forking worker whose work horses die with it, stopping within a grace period."""

    def main_work_horse(self, job, queue):
        die_with_parent()
        return super().main_work_horse(job, queue)


class TarotSimpleWorker(GracefulStop, SparseHeartbeat, SimpleWorker):
    """RQ's in-process worker, stopping within a grace period."""


def _alive(pid: int) -> bool:
    """True if ``pid`` is a running process (a zombie awaiting its reaper is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def recover_jobs_of_dead_workers(conn: redis.Redis) -> list[str]:
    """Requeue the jobs of workers on this host whose process has died.

    A worker killed outright (SIGKILL, OOM) leaves its job in the started
    registry until RQ's own cleanup notices, about 90 seconds later. A worker
    starting on the same host can tell at once that the old process is gone,
    so it puts the job back on its queue now. Every job here is idempotent
    (keyed by its id), so running it again is safe: work already committed
    is found and not done twice.
    """
    import socket

    from rq.job import Job, JobStatus

    host = socket.gethostname()
    recovered = []
    for dead in Worker.all(connection=conn):
        if dead.hostname != host or not dead.pid or _alive(dead.pid):
            continue
        job_id_ = dead.get_current_job_id()
        if job_id_:
            job = Job.fetch(job_id_, connection=conn) if Job.exists(job_id_, conn) else None
            if job is not None and job.get_status(refresh=True) == JobStatus.STARTED:
                hand_back(job, conn)
                recovered.append(job.id)
        dead.register_death()
    return recovered


def release_locks_of_dead_schedulers(conn: redis.Redis) -> list[str]:
    """Free the scheduler locks held by dead scheduler processes on this host.

    RQ's scheduler (started by a worker with ``with_scheduler``) holds a lock
    per queue for 61 seconds and is re-tried only at maintenance time, so a
    killed worker would otherwise leave delayed jobs (429 reschedules, retry
    backoffs) unmoved for minutes. Returns the queue names freed.
    """
    import socket

    from rq.scheduler import SCHEDULER_LOCKING_KEY_TEMPLATE

    host = socket.gethostname()
    freed = []
    # Only hashes: rq-scheduler keeps its sorted set rq:scheduler:scheduled_jobs
    # under the same prefix, and HGETALL on it fails (WRONGTYPE).
    for key in conn.scan_iter(match="rq:scheduler:*", _type="hash"):
        data = {k.decode(): v.decode() for k, v in conn.hgetall(key).items()}
        if data.get("hostname") != host or not data.get("pid") or _alive(int(data["pid"])):
            continue
        for queue in filter(None, data.get("queues", "").split(",")):
            lock = SCHEDULER_LOCKING_KEY_TEMPLATE % queue
            if conn.get(lock) == data.get("name", "").encode():
                conn.delete(lock)
                freed.append(queue)
        conn.delete(key)
    return freed
