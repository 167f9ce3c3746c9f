"""A running TarotBot for end-to-end tests: emulator, bot and worker processes.

Everything is real except Telegram: the bot and workers are separate
``python -m tarotbot`` processes on this run's PostgreSQL and Redis, talking
to the Bot API emulator (in the test process) through the unmodified
pyTelegramBotAPI client.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: A fake token of the right shape (short enough not to look like a real one).
TOKEN = "424242:e2e-emulated-token-abcdefgh"


class Stack:
    def __init__(self, env: dict, emulator, workers: int = 2, log_dir: Path | None = None):
        self.emulator = emulator
        self.env = dict(env)
        self.env.update(
            TELEGRAM_API_URL=emulator.base_url,
            TELEGRAM_BOT_TOKEN=TOKEN,
            LOG_LEVEL="INFO",
        )
        self.log_dir = log_dir or Path("/tmp")
        self.bot: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.worker_count = workers

    # -- processes -----------------------------------------------------------
    def _spawn(self, name: str, *args: str, extra_env: dict | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}-{time.time_ns()}.log", "w")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, "-m", "tarotbot", *args],
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def start(self) -> Stack:
        for _ in range(self.worker_count):
            self.start_worker()
        self.start_bot()
        return self

    def start_bot(self) -> None:
        self.bot = self._spawn("bot", "bot")

    def start_worker(self, extra_env: dict | None = None) -> subprocess.Popen:
        proc = self._spawn("worker", "worker", extra_env=extra_env)
        self.workers.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Kill a process and everything it forked (its work horses)."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in [self.bot, *self.workers]:
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(proc)

    # -- the user's side, through the emulator's driver ----------------------
    def send(self, user_id: int, text: str, **extra) -> dict:
        return self.emulator.send(user_id, text, first_name="Ada", **extra)

    def tap(self, user_id: int, message_id: int, data: str) -> dict:
        return self.emulator.tap(user_id, message_id, data)

    def messages(self, chat_id: int) -> list[dict]:
        return self.emulator.messages(chat_id)

    def wait_for(
        self, chat_id: int, predicate: Callable[[list[dict]], object], timeout: float = 30.0
    ) -> list[dict]:
        """Wait until ``predicate(messages)`` holds for the bot's messages in the chat."""
        deadline = time.monotonic() + timeout
        messages: list[dict] = []
        while time.monotonic() < deadline:
            messages = self.messages(chat_id)
            if predicate(messages):
                return messages
            time.sleep(0.05)
        raise AssertionError(f"timed out; the chat holds: {json.dumps(messages, indent=1)[:6000]}")


def body(message: dict) -> str:
    """A message's text or caption (latest edit included)."""
    edits = message.get("edits") or []
    for edit in reversed(edits):
        if edit.get("text") or edit.get("caption"):
            return edit.get("text") or edit.get("caption")
    return message.get("text") or message.get("caption") or ""


def buttons(message: dict) -> list[str]:
    edits = message.get("edits") or []
    markup = message.get("reply_markup")
    for edit in reversed(edits):
        if edit.get("reply_markup"):
            markup = edit["reply_markup"]
            break
    rows = (markup or {}).get("inline_keyboard") or []
    return [b.get("callback_data") for row in rows for b in row]


def containing(needle: str) -> Callable[[list[dict]], bool]:
    return lambda messages: any(needle in body(m) for m in messages)


def count_containing(messages: list[dict], needle: str) -> int:
    return sum(needle in body(m) for m in messages)


def audit(env: dict) -> subprocess.CompletedProcess:
    """``python -m tarotbot audit`` on the stack's database."""
    return subprocess.run(
        [sys.executable, "-m", "tarotbot", "audit"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- webhook mode ------------------------------------------------------------------

#: The webhook secret of :class:`WebStack` (Telegram's alphabet: A-Z a-z 0-9 _ -).
WEBHOOK_SECRET = "e2e_webhook-secret_0123456789"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebStack(Stack):
    """Webhook mode: ``web`` processes (gunicorn) instead of the poller, plus the workers.

    The emulator posts each update to ``url`` (port ``port``, path ``/tg/<hook>``)
    with :data:`WEBHOOK_SECRET`.
    """

    def __init__(self, env: dict, emulator, workers: int = 2, log_dir: Path | None = None):
        super().__init__(env, emulator, workers=workers, log_dir=log_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/tg/hook-{self.port}"
        self.env.update(
            TELEGRAM_WEBHOOK_URL=self.url,
            TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            PORT=str(self.port),
        )
        self.webs: list[subprocess.Popen] = []

    def start(self) -> WebStack:
        for _ in range(self.worker_count):
            self.start_worker()
        self.start_web()
        self.wait_healthy(self.port, self.webs[0])
        return self

    def start_web(self, extra_env: dict | None = None) -> subprocess.Popen:
        proc = self._spawn("web", "web", extra_env=extra_env)
        self.webs.append(proc)
        return proc

    @staticmethod
    def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
        """Wait until ``GET /healthz`` on ``port`` answers 200 (or the process has exited)."""
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"the web process exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"nothing answered /healthz on port {port} within {timeout:.0f} s")

    def logs(self, name: str) -> list[Path]:
        """The log files of the processes started as ``name`` (``web``, ``worker``), oldest first."""
        return sorted(self.log_dir.glob(f"{name}-*.log"))

    def stop(self) -> None:
        for proc in self.webs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=35)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(proc)
        super().stop()
