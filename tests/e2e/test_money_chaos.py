"""Money under chaos: workers and the bot SIGKILLed, database connections terminated,
Redis restarted empty, while people pay for packs and subscriptions renew.

Afterwards (one reconciliation pass recovers what a lost Redis queue held),
every charge Telegram made is credited exactly once and the audit is clean.
The run lasts ``MONEY_CHAOS_SECONDS`` (default 8) plus the settling;
``MONEY_CHAOS_SEED`` repeats one.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time

import psycopg2
import pytest
from e2e_stack import ROOT, TOKEN, Stack, audit, buttons, containing, free_port

from tarotbot import db as tdb
from tarotbot.models import Transaction

pytestmark = pytest.mark.slow
PEOPLE = [5_550_201, 5_550_202, 5_550_203]
SECONDS = float(os.environ.get("MONEY_CHAOS_SECONDS", "8"))
SEED = int(os.environ.get("MONEY_CHAOS_SEED", str(random.randrange(1_000_000))))


class PrivateRedis:
    """A redis-server of this test's own, so restarting it disturbs no other test run."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server"),
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("the private redis-server did not start")

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _terminate_connections(url: str) -> int:
    """End every other session on the test database (as a failover would)."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        count = cur.fetchone()[0]
    conn.close()
    return count


def _invoice_and_subscription(stack: Stack, emulator, user_id: int) -> int:
    """/start, a subscription, and a pack invoice to pay again and again; its message id."""
    stack.send(user_id, "/start")
    stack.wait_for(user_id, containing("free credits"))
    stack.send(user_id, "/subscription")
    offers = stack.wait_for(user_id, lambda ms: any("u:premium" in buttons(m) for m in ms))
    stack.tap(user_id, offers[-1]["message_id"], "u:premium")
    link = stack.wait_for(
        user_id, lambda ms: any("Subscribe" in str(m.get("reply_markup")) for m in ms)
    )[-1]["reply_markup"]["inline_keyboard"][0][0]["url"]
    assert emulator.pay(user_id, invoice_link=link)["status"] == "paid"
    stack.send(user_id, "/buy")
    packs = stack.wait_for(user_id, lambda ms: any("b:small" in buttons(m) for m in ms))
    stack.tap(user_id, packs[-1]["message_id"], "b:small")
    return stack.wait_for(user_id, lambda ms: any(m.get("invoice") for m in ms))[-1]["message_id"]


def test_every_charge_is_credited_once_through_crashes_and_outages(
    app_env, emulator, pg, pg_url, tmp_path
):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    rng = random.Random(SEED)
    print(f"money chaos seed {SEED}")
    private = PrivateRedis()
    private.start()
    env = {**app_env, "REDIS_URL": private.url}
    stack = Stack(env, emulator, workers=2, log_dir=tmp_path).start()
    stop = threading.Event()
    try:
        invoices = {user: _invoice_and_subscription(stack, emulator, user) for user in PEOPLE}

        def customers() -> None:
            while not stop.is_set():
                user = rng.choice(PEOPLE)
                if rng.random() < 0.5:
                    emulator.pay(user, invoices[user], timeout=2)  # needs the bot's pre-checkout
                else:
                    emulator.renew(user)  # Telegram renews without asking the bot
                stop.wait(rng.uniform(0.1, 0.3))

        paying = threading.Thread(target=customers, daemon=True)
        paying.start()
        chaos = [
            lambda: stack.kill(stack.workers[0]),
            lambda: stack.kill(stack.bot),
            lambda: _terminate_connections(pg_url),
            private.restart,
            lambda: stack.kill(stack.workers[-1]),
        ]
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(1.0, 2.5))
            rng.choice(chaos)()
            if stack.bot.poll() is not None:
                time.sleep(rng.uniform(0.5, 1.5))
                stack.start_bot()
            for worker in [w for w in stack.workers if w.poll() is not None]:
                stack.workers.remove(worker)
                stack.start_worker()
        stop.set()
        paying.join(timeout=15)

        # settle: every update handled, then one reconciliation pass for what Redis lost
        deadline = time.monotonic() + 30
        while emulator.pending_updates() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not emulator.pending_updates()
        reconcile = subprocess.run(
            [sys.executable, "-m", "tarotbot", "reconcile"],
            env={**env, "TELEGRAM_API_URL": emulator.base_url, "TELEGRAM_BOT_TOKEN": TOKEN},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert reconcile.returncode == 0, reconcile.stderr
        print(reconcile.stdout.strip())

        state = emulator.bot_state(TOKEN)
        with state.lock:
            charges = {c.charge_id for c in state.charges.values()}
        tdb.database.close()  # its connection was among those terminated
        credited = {}
        for row in Transaction.select().where(Transaction.type == "purchase"):
            credited[row.payment_reference] = credited.get(row.payment_reference, 0) + 1
        assert len(charges) > len(PEOPLE) * 2
        assert credited == dict.fromkeys(charges, 1), f"seed {SEED}"
        result = audit(env)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        stop.set()
        stack.stop()
        private.stop()
