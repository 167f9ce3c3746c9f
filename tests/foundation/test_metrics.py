"""Prometheus metrics: instrumented jobs under a real RQ worker, HTTP exposition, multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.request

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, SimpleWorker

from tarotbot import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _samples(text: str) -> dict[tuple, float]:
    """Exposition text as {(sample name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


@pytest.fixture
def served():
    """The metrics endpoint of this process on a free port; its port."""
    server, thread = metrics.serve(0, "127.0.0.1")
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_jobs_run_by_an_rq_worker_are_counted_and_timed(served, pg, redis_conn):
    before = _samples(_scrape(served))
    maintenance = Queue("maintenance", connection=redis_conn)
    payments = Queue("payments", connection=redis_conn)
    ok_jobs = [maintenance.enqueue("jobs.diagnostics.database_identity") for _ in range(2)]
    # no such user: the job raises UnknownUser, as it would without instrumentation
    bad_job = payments.enqueue("jobs.credits.set_reversals", 404404, 404404, True, 1, "k-404")
    SimpleWorker([payments, maintenance], connection=redis_conn).work(burst=True)

    for job in ok_jobs:  # what the jobs return is untouched
        job.refresh()
        assert job.get_status() == "finished"
        assert job.return_value()["pid"] == os.getpid()
    bad_job.refresh()
    assert bad_job.get_status() == "failed"
    assert "UnknownUser" in bad_job.latest_result().exc_string

    text = _scrape(served)
    after = _samples(text)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("tarotbot_jobs_total", queue="maintenance", status="succeeded") == 2
    assert grew("tarotbot_jobs_total", queue="maintenance", status="failed") == 0
    assert grew("tarotbot_jobs_total", queue="payments", status="failed") == 1
    assert grew("tarotbot_job_duration_seconds_count", queue="maintenance") == 2
    assert grew("tarotbot_job_duration_seconds_bucket", queue="maintenance", le="+Inf") == 2
    assert 0 < grew("tarotbot_job_duration_seconds_sum", queue="maintenance") < 60
    assert "# TYPE tarotbot_jobs_total counter" in text
    assert "# TYPE tarotbot_job_duration_seconds histogram" in text
    for bound in ("0.005", "0.01", "0.1", "1.0", "30.0"):
        assert f'tarotbot_job_duration_seconds_bucket{{le="{bound}",queue="maintenance"}}' in text


def test_a_job_called_directly_counts_as_inline_a_helper_not_at_all(pg):
    from jobs.diagnostics import database_identity

    def inline(status: str) -> float:
        labels = {"queue": "inline", "status": status}
        return REGISTRY.get_sample_value("tarotbot_jobs_total", labels) or 0.0

    before = inline("succeeded")
    assert database_identity()["pid"] == os.getpid()
    assert inline("succeeded") == before + 1
    # a private helper (run by a failure callback, outside any job) is not a job run
    from jobs.readings import _refund_undelivered

    assert _refund_undelivered("no-such-reading-key") is None
    assert inline("succeeded") == before + 1


def test_helpers_count_and_never_raise(served):
    before = _samples(_scrape(served))
    metrics.count_send("sendMessage", "ok")
    metrics.count_send("sendPhoto", "rescheduled")
    metrics.count_429()
    metrics.count_payment("purchase")
    metrics.count_reading("celtic", "done")
    metrics.count_reading("no-such-spread", "done")  # counted as "other"
    metrics.count_reading(["not", "hashable"], "done")  # swallowed
    metrics.observe_job("readings", "succeeded", "not a number")  # swallowed, nothing counted
    after = _samples(_scrape(served))

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("tarotbot_sends_total", method="sendMessage", outcome="ok") == 1
    assert grew("tarotbot_sends_total", method="sendPhoto", outcome="rescheduled") == 1
    assert grew("tarotbot_telegram_429_total") == 1
    assert grew("tarotbot_payments_total", kind="purchase") == 1
    assert grew("tarotbot_readings_total", spread="celtic", outcome="done") == 1
    assert grew("tarotbot_readings_total", spread="other", outcome="done") == 1
    assert grew("tarotbot_jobs_total", queue="readings", status="succeeded") == 0


def test_port_from_env():
    assert metrics.port_from_env({}) is None
    assert metrics.port_from_env({"TAROTBOT_METRICS_PORT": " "}) is None
    assert metrics.port_from_env({"TAROTBOT_METRICS_PORT": "9100"}) == 9100
    from tarotbot.exceptions import ConfigError

    for bad in ("0", "65536", "http", "-1"):
        with pytest.raises(ConfigError, match="TAROTBOT_METRICS_PORT"):
            metrics.port_from_env({"TAROTBOT_METRICS_PORT": bad})


MULTIPROCESS_SCRIPT = textwrap.dedent(
    """
    import os, sys, urllib.request
    from tarotbot import metrics

    server, _ = metrics.serve(0, "127.0.0.1")
    metrics.count_send("sendMessage", "ok")  # the parent
    child = os.fork()
    if child == 0:  # a work horse: counts, then exits without any cleanup
        metrics.count_send("sendMessage", "ok")
        metrics.count_429()
        metrics.observe_job("readings", "succeeded", 0.02)
        os._exit(0)
    os.waitpid(child, 0)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    sys.stdout.write(urllib.request.urlopen(url, timeout=10).read().decode())
    """
)


def test_multiprocess_mode_collects_a_forked_child(tmp_path):
    directory = tmp_path / "prometheus"  # created by tarotbot.metrics on import
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": ROOT,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    result = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    samples = _samples(result.stdout)
    assert _value(samples, "tarotbot_sends_total", method="sendMessage", outcome="ok") == 2
    assert _value(samples, "tarotbot_telegram_429_total") == 1
    assert _value(samples, "tarotbot_jobs_total", queue="readings", status="succeeded") == 1
    assert _value(samples, "tarotbot_job_duration_seconds_count", queue="readings") == 1
    assert (
        _value(samples, "tarotbot_job_duration_seconds_bucket", queue="readings", le="0.025") == 1
    )
    assert len(list(directory.glob("counter_*.db"))) == 2  # one file per process


def test_forking_worker_horses_count_into_the_multiprocess_dir(app_env, redis_conn, tmp_path):
    directory = tmp_path / "prometheus"
    queue = Queue("maintenance", connection=redis_conn)
    jobs = [queue.enqueue("jobs.diagnostics.database_identity") for _ in range(2)]
    result = subprocess.run(
        [sys.executable, "-m", "tarotbot", "worker", "--burst", "--worker-class", "fork"],
        env=dict(app_env, PROMETHEUS_MULTIPROC_DIR=str(directory)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    horses = set()
    for job in jobs:
        job.refresh()
        assert job.get_status() == "finished"
        horses.add(job.return_value()["pid"])
    assert len(horses) == 2

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    labels = {"queue": "maintenance", "status": "succeeded"}
    assert registry.get_sample_value("tarotbot_jobs_total", labels) == 2
    assert (
        registry.get_sample_value("tarotbot_job_duration_seconds_count", {"queue": "maintenance"})
        == 2
    )
