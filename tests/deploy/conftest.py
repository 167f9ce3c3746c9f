"""Fixtures for the deployment suite: the Procfile's processes on a fresh database."""

from __future__ import annotations

import pytest
from e2e_stack import TOKEN
from procfile import Deployment

from botapi_emulator import BotAPIEmulator


@pytest.fixture
def emulator():
    with BotAPIEmulator(port=0, default_bot=TOKEN) as emu:
        yield emu


def paas_env(database_url: str, redis_url: str, emulator) -> dict[str, str]:
    """Config vars as a PaaS sets them: Heroku's postgres:// form, no TZ, no PYTHONPATH."""
    return {
        "DATABASE_URL": database_url.replace("postgresql://", "postgres://", 1) + "?sslmode=prefer",
        "REDIS_URL": redis_url,
        "TELEGRAM_API_URL": emulator.base_url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def deployment(fresh_pg_url, redis_conn, redis_url, emulator, tmp_path):
    """The Procfile against a fresh (unmigrated) database and this run's Redis."""
    deploy = Deployment(paas_env(fresh_pg_url, redis_url, emulator), tmp_path)
    yield deploy
    deploy.close()
    for name, text in deploy.tracebacks().items():
        print(f"--- {name} ---\n{text}")
