"""Fixtures for end-to-end tests: the emulator here, bot and workers as processes."""

from __future__ import annotations

import pytest
from e2e_stack import TOKEN, Stack

from botapi_emulator import BotAPIEmulator


@pytest.fixture
def emulator():
    with BotAPIEmulator(port=0, default_bot=TOKEN) as emu:
        yield emu


@pytest.fixture
def stack(app_env, emulator, pg, redis_conn, tmp_path):
    """Bot + two forking workers on this run's PostgreSQL and Redis (both emptied first)."""
    running = Stack(app_env, emulator, workers=2, log_dir=tmp_path).start()
    yield running
    running.stop()
    for log in sorted(tmp_path.glob("*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(f"--- {log.name} ---\n{text[-4000:]}")
