"""Fixtures for webhook mode: the emulator here, ``web`` and workers as processes."""

from __future__ import annotations

import pytest
from e2e_stack import TOKEN, WebStack
from telebot import apihelper

from botapi_emulator import BotAPIEmulator


@pytest.fixture
def emulator():
    saved = apihelper.API_URL, apihelper.FILE_URL  # in-process clients point it at the emulator
    with BotAPIEmulator(port=0, default_bot=TOKEN) as emu:
        yield emu
    apihelper.API_URL, apihelper.FILE_URL = saved


@pytest.fixture
def web_stack(app_env, emulator, pg, redis_conn, tmp_path):
    """Two forking workers, then one ``web`` process (two gunicorn workers), on this run's stores."""
    running = WebStack(app_env, emulator, workers=2, log_dir=tmp_path)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        for log in sorted(tmp_path.glob("*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log.name} ---\n{text[-4000:]}")
