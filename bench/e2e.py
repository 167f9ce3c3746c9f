"""End-to-end throughput and latency: simulated users through the emulator against bot + workers.

Everything real but Telegram: a ``python -m tarotbot bot`` process and
``--workers`` worker processes on a throwaway PostgreSQL database and a
private Redis DB index, the Bot API emulator in this process. Each simulated
user registers and picks a three-card spread (not timed), then asks a
question; we time, on the emulator's clock, the update to the bot's first
reply, a chat action or a message ("ack"), and to the end of the reading
(picture, interpretation and footer delivered, "reading"), and count the
messages the bot created per reading.

Five runs: **paced** (limits off, ``--rate`` questions a second for
``--seconds``: one person's latency), **group** (limits off, ``--group-users``
at once: the latency of a crowd), **burst** (limits off, ``--users`` at
once: readings per second is the capacity), **compliance** (limits on,
``--compliance-users`` at once: the emulator enforces Telegram's flood limits
and counts every 429) and **paid** (as compliance, ``--paid-users`` at once,
with ``TELEGRAM_PAID_BROADCAST=on``: what the overall limit would hold back
over a second goes out as paid broadcasts, counted and charged in fake Stars
by the emulator). Also reported: what the paced and burst readings leave in
Redis ``--settle`` seconds after the last one (bytes per reading, target ≤
1 KB), and CPU per reading by role (bot, workers, emulator, and this
machine's PostgreSQL and Redis: run nothing else meanwhile; the CPU this
script spends watching for the readings is not the emulator's and is left
out). Prints a table and ends with one line of JSON.
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
from botapi_emulator import BotAPIEmulator

TOKEN = "515151:bench-emulated-token-abcdef"
REDIS_BASE = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
FOOTER = "used · "
TICK = os.sysconf("SC_CLK_TCK")


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


def redis_sizes(conn: redis.Redis) -> dict[bytes, int]:
    """Every key in the DB with its ``MEMORY USAGE`` in bytes."""
    keys = list(conn.scan_iter(count=1000))
    sizes = {}
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        with conn.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.memory_usage(key, samples=0)
            sizes.update(zip(batch, (size or 0 for size in pipe.execute()), strict=True))
    return sizes


def redis_growth(before: dict[bytes, int], after: dict[bytes, int]) -> int:
    """Bytes the keys of ``after`` hold beyond what they held in ``before``.

    New keys count whole and grown keys by their growth; keys that expired
    meanwhile (the set-up's own records) are not subtracted.
    """
    return sum(size - before.get(key, 0) for key, size in after.items())


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used by process ``pid`` and its reaped children (fork
    workers' work horses); 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / TICK


def server_pids() -> dict[str, list[int]]:
    """Pids of this machine's PostgreSQL and Redis server processes, by role."""
    found: dict[str, list[int]] = {"postgres": [], "redis": []}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            continue
        if name in ("postgres", "postmaster"):
            found["postgres"].append(int(entry))
        elif name == "redis-server":
            found["redis"].append(int(entry))
    return found


class Run:
    """Bot and worker processes against the emulator, with one setting of the limits."""

    def __init__(
        self, env: dict, emu: BotAPIEmulator, args, logs: Path, limits: bool, paid: bool = False
    ):
        self.emu = emu
        self.state = emu.bot_state(TOKEN)
        self.logs = logs
        self.profile = args.profile
        self.env = {
            **env,
            "TELEGRAM_API_URL": emu.base_url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TAROTBOT_WORKER_CLASS": args.worker_class,
            "LOG_LEVEL": "WARNING",
            "WELCOME_BONUS": "100",
            "TELEGRAM_RATE_LIMITS": "on" if limits else "off",
            "TELEGRAM_PAID_BROADCAST": "on" if paid else "off",
        }
        self.tag = ("paid" if paid else "limits-on") if limits else "limits-off"
        self.watching = 0.0  # CPU seconds this script spent looking for finished readings
        self.workers = [self._spawn(f"worker{i}-{self.tag}", "worker") for i in range(args.workers)]
        self.bot = self._spawn(f"bot-{self.tag}", "bot")

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        profile = ["-m", "cProfile", "-o", str(self.logs / f"{name}.prof")] if self.profile else []
        return subprocess.Popen(
            [sys.executable, *profile, "-m", "tarotbot", *args],
            env=self.env,
            cwd=ROOT,
            stdout=(self.logs / f"{name}.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        procs = [*self.workers, self.bot]
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    # -- measuring -------------------------------------------------------------
    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far, by role (this script's watching left out)."""
        own = resource.getrusage(resource.RUSAGE_SELF)
        servers = server_pids()
        return {
            "bot": process_cpu(self.bot.pid),
            "workers": sum(process_cpu(p.pid) for p in self.workers),
            "emulator": own.ru_utime + own.ru_stime - self.watching,
            "postgres": sum(process_cpu(pid) for pid in servers["postgres"]),
            "redis": sum(process_cpu(pid) for pid in servers["redis"]),
        }

    def peak_rss_mb(self) -> dict[str, float]:
        """Peak resident memory of the bot and of the largest worker, MB."""

        def hwm(pid: int) -> float:
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            return int(line.split()[1]) / 1024
            except OSError:
                pass
            return 0.0

        return {
            "bot": round(hwm(self.bot.pid), 1),
            "worker": round(max(hwm(p.pid) for p in self.workers), 1),
        }

    # -- driving ---------------------------------------------------------------
    def wait_all(self, users: list[int], predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(users)
        while pending and time.monotonic() < deadline:
            pending = {u for u in pending if not predicate(self.emu.messages(u))}
            time.sleep(0.05)
        if pending:
            raise SystemExit(f"{len(pending)} user(s) never got their answer (see {self.logs})")

    def prepare(self, users: list[int]) -> None:
        """Register ``users`` and leave each one at the question of a three-card reading."""
        for user in users:
            self.emu.send(user, "/start", first_name=f"User{user}")
        self.wait_all(users, lambda ms: any("free credits" in body(m) for m in ms), 300)
        for user in users:
            self.emu.send(user, "/reading")
        self.wait_all(users, lambda ms: any("Choose a spread" in body(m) for m in ms[-3:]), 300)
        for user in users:
            menu = next(
                m for m in reversed(self.emu.messages(user)) if "Choose a spread" in body(m)
            )
            self.emu.tap(user, menu["message_id"], "s:three")
        self.wait_all(users, lambda ms: "Type your question (up to" in body(ms[-1]), 300)

    def _progress(self, user: int, asked: int, at: float) -> tuple[float | None, float | None, int]:
        """Emulator times of the bot's first reply (a chat action or a message) and of the
        footer after message ``asked`` (sent at ``at``), and the messages created since."""
        ack = done = None
        created = 0
        chat = self.state.chats[user]
        for message in reversed(chat.messages.values()):
            if message.message_id <= asked:
                break
            if message.outgoing:
                created += 1
                ack = message.stored_at
                if done is None and FOOTER in (message.text or ""):
                    done = message.stored_at
        for action in reversed(chat.actions):
            stamp = action.get("stored_at")
            if stamp is None or stamp < at:
                break
            ack = stamp if ack is None else min(ack, stamp)
        return ack, done, created

    def readings(self, users: list[int], rate: float | None, timeout: float = 600) -> dict:
        """Every user asks once, at ``rate`` per second (None: all at once); timings per user."""
        cpu_before = self.cpu_seconds()
        asked: dict[int, tuple[int, float]] = {}  # user -> (message_id, emulator time)
        start = time.monotonic()
        for i, user in enumerate(users):
            if rate:
                time.sleep(max(0.0, start + i / rate - time.monotonic()))
            sent = self.emu.send(user, f"What does the week hold for me, number {user}?")
            with self.state.lock:
                message = self.state.chats[user].messages[sent["message_id"]]
            asked[user] = (message.message_id, message.stored_at)
        ack: dict[int, float] = {}
        done: dict[int, float] = {}
        messages: dict[int, int] = {}
        pending = list(users)
        deadline = time.monotonic() + timeout
        watching = time.thread_time()
        while pending and time.monotonic() < deadline:
            time.sleep(0.1)
            with self.state.lock:
                for user in pending:
                    first, last, created = self._progress(user, *asked[user])
                    if first is not None:
                        ack[user] = first - asked[user][1]
                    if last is not None:
                        done[user] = last - asked[user][1]
                        messages[user] = created
            pending = [user for user in pending if user not in done]
        self.watching += time.thread_time() - watching
        if pending:
            raise SystemExit(f"only {len(done)} of {len(users)} readings finished ({self.logs})")
        time.sleep(0.3)  # a message after the footer would count (there should be none)
        with self.state.lock:
            messages = {user: self._progress(user, *asked[user])[2] for user in users}
        cpu_after = self.cpu_seconds()
        cpu = {
            role: round((cpu_after[role] - cpu_before[role]) / len(users) * 1000, 1)
            for role in cpu_after
        }
        first_asked = min(t for _, t in asked.values())
        last_asked = max(t for _, t in asked.values())
        finished = max(asked[u][1] + done[u] for u in users)
        self.last_delivered = finished
        wall = finished - first_asked
        acks, totals = list(ack.values()), list(done.values())
        return {
            "readings": len(users),
            # the pace questions really arrived at (the emulator's clock), and the
            # pace readings were completed from the first question to the last footer
            "offered_per_s": round((len(users) - 1) / (last_asked - first_asked), 1)
            if rate and last_asked > first_asked
            else None,
            "wall_s": round(wall, 2),
            "readings_per_s": round(len(users) / wall, 1),
            "ack_p50_ms": round(statistics.median(acks) * 1000),
            "ack_p99_ms": round(percentile(acks, 99) * 1000),
            "reading_p50_ms": round(statistics.median(totals) * 1000),
            "reading_p99_ms": round(percentile(totals, 99) * 1000),
            "reading_max_ms": round(max(totals) * 1000),
            "messages_per_reading": round(sum(messages.values()) / len(users), 2),
            "cpu_ms_per_reading": cpu,
            "cpu_ms_per_reading_total": round(sum(cpu.values()), 1),
            "peak_rss_mb": self.peak_rss_mb(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="paced run: readings per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="paced run: duration")
    parser.add_argument("--users", type=int, default=300, help="burst run: users asking at once")
    parser.add_argument("--group-users", type=int, default=50, help="group run: users at once")
    parser.add_argument("--compliance-users", type=int, default=20)
    parser.add_argument(
        "--paid-users", type=int, default=60, help="paid run: users at once (0: no paid run)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes (one per core does best here)"
    )
    parser.add_argument("--worker-class", choices=["fork", "simple"], default="simple")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile every bot and worker process (logs dir)"
    )
    parser.add_argument(
        "--settle", type=float, default=60.0, help="seconds after delivery to measure Redis"
    )
    args = parser.parse_args()

    redis_url, claim = claim_redis_db()
    logs = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    results = {}
    try:
        with throwaway_database("bench_e2e") as db_url, BotAPIEmulator(default_bot=TOKEN) as emu:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TAROT", "TELEGRAM"))}
            env.update(DATABASE_URL=db_url, REDIS_URL=redis_url, PYTHONPATH=str(ROOT), TZ="UTC")
            paced = [8_000_000 + i for i in range(round(args.rate * args.seconds))]
            group = [8_400_000 + i for i in range(args.group_users)]
            burst = [8_500_000 + i for i in range(args.users)]
            # Capacity: our sender's limiter off, the emulator's limits off.
            run = Run(env, emu, args, logs, limits=False)
            try:
                print(f"preparing {len(paced) + len(group) + len(burst)} users…", file=sys.stderr)
                run.prepare(paced + group + burst)
                conn = redis.Redis.from_url(redis_url)
                sizes_before = redis_sizes(conn)
                print(
                    f"paced run: {args.rate:g} readings/s for {args.seconds:g} s…", file=sys.stderr
                )
                results["paced"] = run.readings(paced, rate=args.rate)
                if group:
                    time.sleep(1.0)  # the paced run's last readings are out
                    print(f"group run: {len(group)} at once…", file=sys.stderr)
                    results["group"] = run.readings(group, rate=None)
                    time.sleep(1.0)
                print(f"burst run: {len(burst)} at once…", file=sys.stderr)
                results["burst"] = run.readings(burst, rate=None)
                wait = run.last_delivered + args.settle - time.monotonic()  # emulator clock
                print(f"Redis footprint in {max(0, wait):.0f} s…", file=sys.stderr)
                time.sleep(max(0.0, wait))
                sizes_after = redis_sizes(conn)
                delivered = len(paced) + len(group) + len(burst)
                results["redis"] = {
                    "settle_s": args.settle,
                    "keys_before": len(sizes_before),
                    "keys_after": len(sizes_after),
                    "new_keys": len(sizes_after.keys() - sizes_before.keys()),
                    "bytes_per_reading": round(redis_growth(sizes_before, sizes_after) / delivered),
                }
            finally:
                run.stop()
            # Compliance: Telegram's limits enforced by the emulator and kept by the sender.
            few = [9_000_000 + i for i in range(args.compliance_users)]
            emu.set_limits(enforce=True)
            run = Run(env, emu, args, logs, limits=True)
            try:
                run.prepare(few)
                emu.reset_stats()
                print("compliance run (limits on)…", file=sys.stderr)
                results["compliance"] = run.readings(few, rate=None)
                results["compliance"]["429_received"] = emu.get_stats()["responses_429"]
            finally:
                run.stop()
            # Paid broadcasts: limits on, and what the overall limit would hold back over
            # TELEGRAM_PAID_BROADCAST_AFTER (1 s) goes out paid, charged in fake Stars.
            if args.paid_users:
                many = [9_500_000 + i for i in range(args.paid_users)]
                emu.set_star_balance(1000, bot=TOKEN)
                run = Run(env, emu, args, logs, limits=True, paid=True)
                try:
                    run.prepare(many)
                    emu.reset_stats()
                    print(f"paid run: {len(many)} at once (limits on)…", file=sys.stderr)
                    results["paid"] = run.readings(many, rate=None)
                    stats = emu.get_stats()
                    results["paid"]["429_received"] = stats["responses_429"]
                    results["paid"]["paid_broadcasts"] = stats["paid_broadcasts"]
                    results["paid"]["paid_broadcast_stars"] = stats["paid_broadcast_stars"]
                finally:
                    run.stop()
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        redis.Redis.from_url(REDIS_BASE + "/0").delete(claim)

    print(f"\nE2E ({args.workers} {args.worker_class} workers, logs in {logs})")
    print(f"{'run':<12}{'readings':>9}{'asked/s':>8}{'done/s':>8}{'msgs':>6}{'ack p50':>9}"
          f"{'ack p99':>9}{'read p50':>10}{'read p99':>10}   CPU ms per reading")  # fmt: skip
    for name, r in results.items():
        if name == "redis":
            continue
        cpu = " ".join(f"{role} {ms:g}" for role, ms in r["cpu_ms_per_reading"].items())
        print(
            f"{name:<12}{r['readings']:>9}{r['offered_per_s'] or '-':>8}{r['readings_per_s']:>8}"
            f"{r['messages_per_reading']:>6}{r['ack_p50_ms']:>9}{r['ack_p99_ms']:>9}"
            f"{r['reading_p50_ms']:>10}{r['reading_p99_ms']:>10}   "
            f"{r['cpu_ms_per_reading_total']:g} ({cpu})"
        )
    if "paid" in results:
        paid = results["paid"]
        print(
            f"paid broadcasts: {paid['paid_broadcasts']} messages, "
            f"{paid['paid_broadcast_stars']:g} Stars; 429s: compliance "
            f"{results['compliance']['429_received']}, paid {paid['429_received']}"
        )
    footprint = results["redis"]
    print(
        f"Redis {footprint['settle_s']:g} s after delivery: "
        f"{footprint['bytes_per_reading']} bytes per reading "
        f"({footprint['new_keys']} keys made by the readings are left)"
    )
    print(json.dumps({"bench": "e2e", "workers": args.workers, "worker_class": args.worker_class,
                      "cores": os.cpu_count(), **results}))  # fmt: skip


if __name__ == "__main__":
    main()
