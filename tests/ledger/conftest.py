"""Fixtures for the ledger tests: users, a cache per test, the audit as a subprocess."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from tarotbot import ledger
from tarotbot.cache import CreditCache
from tarotbot.models import User

_telegram_ids = itertools.count(10_000)


@pytest.fixture(autouse=True)
def no_cache():
    """By default the ledger runs without Redis; cache tests install their own."""
    ledger.set_credit_cache(CreditCache(client=None))
    yield
    ledger.set_credit_cache(None)


@pytest.fixture
def make_user():
    """Create a user (on whatever database the test bound) and return its id."""

    def make(open_account: bool = True) -> int:
        user_id = User.create(telegram_id=next(_telegram_ids)).id
        if open_account:
            ledger.open_account(user_id)
        return user_id

    return make


def run_audit_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    """``python -m tarotbot audit`` as a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "tarotbot", "audit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def audit_cli():
    return run_audit_cli
