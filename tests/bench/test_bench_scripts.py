"""The bench scripts still run: each on a tiny workload, ending with its line of JSON.

Figures are not checked here (speed targets live in the scripts' output and
the README, never in timed tests); this only keeps the scripts from rotting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*args: str, timeout: float = 180, env: dict | None = None) -> dict:
    """Run ``python -m bench.<args>``; return its last line of output as JSON."""
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_render_bench():
    result = run_bench("bench.render", "-n", "2")
    assert result["bench"] == "render" and result["three_jpeg_median_ms"] > 0


def test_ledger_bench(redis_url):
    result = run_bench(
        "bench.ledger", "--processes", "2", "--seconds", "0.3", "--rounds", "1",
        env={"BENCH_REDIS_URL": redis_url},
    )  # fmt: skip
    assert result["bench"] == "ledger" and result["audit_ok"] is True


def test_history_bench():
    result = run_bench("bench.history", "--rows", "4000", "--repeats", "2", "--pages", "1,100")
    assert result["bench"] == "history"


@pytest.mark.timeout(300)
def test_e2e_bench():
    result = run_bench(
        "bench.e2e", "--rate", "5", "--seconds", "1", "--users", "3",
        "--compliance-users", "2", "--workers", "1", "--settle", "2",
        timeout=240,
    )  # fmt: skip
    assert result["bench"] == "e2e"
    assert result["paced"]["readings"] == 5 and result["burst"]["readings"] == 3
    assert result["compliance"]["429_received"] == 0
    assert result["redis"]["settle_s"] == 2 and result["redis"]["keys_after"] > 0
    assert set(result["paced"]["cpu_ms_per_reading"]) == {
        "bot", "workers", "emulator", "postgres", "redis",
    }  # fmt: skip


@pytest.mark.timeout(300)
def test_backup_bench():
    result = run_bench(
        "bench.backup", "--transactions", "3000", "--readings", "500", "--rounds", "1",
        timeout=240,
    )  # fmt: skip
    assert result["bench"] == "backup"
    assert result["large"]["transactions"] == 3000 and result["large"]["restore_s"] > 0
    assert 0 < result["small"]["create_peak_rss_mb"] < 500
