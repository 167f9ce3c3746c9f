"""End-to-end throughput: simulated users through the emulator against bot + workers.

Everything real but Telegram: a ``python -m tarotbot bot`` process and
``--workers`` worker processes on a throwaway PostgreSQL database and a
private Redis DB index, the Bot API emulator in this process. Each simulated
user registers and picks a three-card spread (not timed); then every user
sends their question at once, and we time, per user, the update to the bot's
first reply (the "shuffling" acknowledgement) and to the end of the reading
(picture, interpretation and footer delivered).

Run twice: with Telegram's flood limits off (capacity) and on (compliance:
the emulator counts every 429 it serves; the target is none).

    python -m bench.e2e [--users 60] [--workers 3] [--worker-class simple]

Prints a table and ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench._db import ROOT, throwaway_database
from tarotbot.telegram.emulator import BotAPIEmulator

TOKEN = "515151:bench-emulated-token-abcdef"
REDIS_BASE = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
FOOTER = "credit(s) used"


def claim_redis_db() -> tuple[str, str]:
    base = redis.Redis.from_url(REDIS_BASE + "/0")
    token = secrets.token_hex(8)
    for index in range(15, 0, -1):
        if base.set(f"tarotbot:test-db-claim:{index}", token, nx=True, ex=3600):
            url = f"{REDIS_BASE}/{index}"
            redis.Redis.from_url(url).flushdb()
            return url, f"tarotbot:test-db-claim:{index}"
    raise SystemExit("no free Redis DB index")


def body(message: dict) -> str:
    for edit in reversed(message.get("edits") or []):
        if edit.get("text") or edit.get("caption"):
            return edit.get("text") or edit.get("caption")
    return message.get("text") or message.get("caption") or ""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


class Run:
    def __init__(
        self,
        env: dict,
        emu: BotAPIEmulator,
        workers: int,
        worker_class: str,
        logs: Path,
        limits: bool,
    ):
        self.emu = emu
        self.env = {
            **env,
            "TELEGRAM_API_URL": emu.base_url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TAROTBOT_WORKER_CLASS": worker_class,
            "LOG_LEVEL": "WARNING",
            "WELCOME_BONUS": "100",
            "TELEGRAM_RATE_LIMITS": "on" if limits else "off",
        }
        self.procs = []
        for i in range(workers):
            self.procs.append(self._spawn(logs / f"worker{i}-{limits}.log", "worker"))
        self.procs.append(self._spawn(logs / f"bot-{limits}.log", "bot"))

    def _spawn(self, log: Path, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "tarotbot", *args],
            env=self.env,
            cwd=ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by the bot and by all workers together."""
        tick = os.sysconf("SC_CLK_TCK")
        totals = {"bot": 0.0, "workers": 0.0}
        for proc in self.procs:
            role = "bot" if proc is self.procs[-1] else "workers"
            try:
                with open(f"/proc/{proc.pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                totals[role] += (int(fields[11]) + int(fields[12])) / tick
            except OSError:
                pass
        return totals

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def wait_all(self, users: list[int], predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(users)
        while pending and time.monotonic() < deadline:
            pending = {u for u in pending if not predicate(self.emu.messages(u))}
            time.sleep(0.05)
        if pending:
            raise SystemExit(f"{len(pending)} user(s) never got their answer (see logs)")

    def prepare(self, users: list[int]) -> None:
        for user in users:
            self.emu.send(user, "/start", first_name=f"User{user}")
        self.wait_all(users, lambda ms: any("free credits" in body(m) for m in ms), 120)

    def choose_three(self, users: list[int]) -> None:
        for user in users:
            self.emu.send(user, "/reading")
        self.wait_all(users, lambda ms: any("Choose a spread" in body(m) for m in ms[-3:]), 120)
        for user in users:
            menu = next(
                m for m in reversed(self.emu.messages(user)) if "Choose a spread" in body(m)
            )
            self.emu.tap(user, menu["message_id"], "s:three")
        self.wait_all(users, lambda ms: "Type your question (up to" in body(ms[-1]), 120)

    def readings(self, users: list[int], timeout: float = 600) -> dict:
        """All users ask at once; time acknowledgement and completion per user."""
        before = {u: len(self.emu.messages(u)) for u in users}
        footers_before = {u: sum(FOOTER in body(m) for m in self.emu.messages(u)) for u in users}
        sent_at = {}
        cpu_before = self.cpu_seconds()
        own_before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.monotonic()
        for user in users:
            sent_at[user] = time.monotonic()
            self.emu.send(user, f"What does the week hold for me, number {user}?")
        ack, done = {}, {}
        state = self.emu.bot_state(TOKEN)
        deadline = time.monotonic() + timeout
        with state.lock:  # woken by the emulator whenever the bot acts: no busy polling
            while len(done) < len(users) and time.monotonic() < deadline:
                now = time.monotonic()
                for user in users:
                    if user in done:
                        continue
                    outgoing = [m for m in state.chats[user].messages.values() if m.outgoing]
                    if user not in ack and len(outgoing) > before[user]:
                        ack[user] = now - sent_at[user]
                    if sum(FOOTER in (m.text or "") for m in outgoing) > footers_before[user]:
                        done[user] = now - sent_at[user]
                state.changed.wait(timeout=0.05)
        wall = time.monotonic() - start
        if len(done) < len(users):
            raise SystemExit(f"only {len(done)} of {len(users)} readings finished")
        acks, totals = list(ack.values()), list(done.values())
        cpu_after = self.cpu_seconds()
        own_after = resource.getrusage(resource.RUSAGE_SELF)
        own = (own_after.ru_utime + own_after.ru_stime) - (
            own_before.ru_utime + own_before.ru_stime
        )
        per_reading = {
            role: round((cpu_after[role] - cpu_before[role]) / len(users) * 1000, 1)
            for role in cpu_after
        }
        per_reading["emulator"] = round(own / len(users) * 1000, 1)
        return {
            "cpu_ms_per_reading": per_reading,
            "readings": len(users),
            "wall_s": round(wall, 2),
            "readings_per_s": round(len(users) / wall, 2),
            "ack_p50_ms": round(statistics.median(acks) * 1000),
            "ack_p99_ms": round(percentile(acks, 99) * 1000),
            "reading_p50_ms": round(statistics.median(totals) * 1000),
            "reading_p99_ms": round(percentile(totals, 99) * 1000),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-class", choices=["fork", "simple"], default="simple")
    parser.add_argument("--compliance-users", type=int, default=20)
    args = parser.parse_args()

    redis_url, claim = claim_redis_db()
    logs = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    results = {}
    try:
        with throwaway_database("bench_e2e") as db_url, BotAPIEmulator(default_bot=TOKEN) as emu:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TAROT", "TELEGRAM"))}
            env.update(DATABASE_URL=db_url, REDIS_URL=redis_url, PYTHONPATH=str(ROOT), TZ="UTC")
            users = [8_000_000 + i for i in range(args.users)]
            # Capacity: our sender's limiter off, the emulator's limits off.
            run = Run(env, emu, args.workers, args.worker_class, logs, limits=False)
            try:
                print(f"preparing {len(users)} users…", file=sys.stderr)
                run.prepare(users)
                run.choose_three(users)
                print("capacity run (limits off)…", file=sys.stderr)
                results["limits_off"] = run.readings(users)
            finally:
                run.stop()
            # Compliance: Telegram's limits enforced by the emulator and kept by the sender.
            few = [9_000_000 + i for i in range(args.compliance_users)]
            emu.set_limits(enforce=True)
            run = Run(env, emu, args.workers, args.worker_class, logs, limits=True)
            try:
                run.prepare(few)
                run.choose_three(few)
                emu.reset_stats()
                print("compliance run (limits on)…", file=sys.stderr)
                results["limits_on"] = run.readings(few)
                results["limits_on"]["429_received"] = emu.get_stats()["responses_429"]
            finally:
                run.stop()
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        redis.Redis.from_url(REDIS_BASE + "/0").delete(claim)

    print(f"\nE2E ({args.workers} {args.worker_class} workers, logs in {logs})")
    print(
        f"{'run':<12}{'readings':>9}{'per s':>8}{'ack p50':>9}{'ack p99':>9}{'read p50':>10}{'read p99':>10}"
    )
    for name, r in results.items():
        print(
            f"{name:<12}{r['readings']:>9}{r['readings_per_s']:>8}{r['ack_p50_ms']:>9}"
            f"{r['ack_p99_ms']:>9}{r['reading_p50_ms']:>10}{r['reading_p99_ms']:>10}"
        )
    print(json.dumps({"bench": "e2e", "workers": args.workers, "worker_class": args.worker_class,
                      "users": args.users, **results}))  # fmt: skip


if __name__ == "__main__":
    main()
