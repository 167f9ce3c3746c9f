"""A chat in the terminal with the real bot and job code, against the local emulator.

Nothing is faked but Telegram: the Bot API emulator runs in this process, the
unmodified :class:`~tarotbot.telegram.bot.TarotBot` long-polls it, and the
jobs run on RQ worker threads. How to use it is in the README ("The demo chat").
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from pathlib import Path, PurePosixPath
from typing import TextIO

from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from botapi_emulator import BotAPIEmulator
from tarotbot import schema
from tarotbot.app import App, InProcessWorkers, set_app
from tarotbot.config import Secret, Settings
from tarotbot.db import connection, init_database
from tarotbot.queue import QUEUE_NAMES
from tarotbot.telegram.bot import TarotBot

#: The demo bot's token: only ever sent to the in-process emulator.
DEMO_TOKEN = "100001:local-demo-token-not-a-secret"
DEMO_USER = 7_000_001
QUIET = 1.6  # seconds of silence that mean "the bot has answered" (longer than the sender's 1.5 s limiter wait)


class DemoChat:
    """One demo session: emulator, bot, workers, and the terminal transcript."""

    def __init__(
        self,
        settings: Settings,
        out: TextIO = sys.stdout,
        picture_dir: Path = Path("demo-pictures"),
        user_id: int = DEMO_USER,
        first_name: str = "Seeker",
        workers: int = 2,
        language: str = "en",
    ):
        self.out = out
        self.picture_dir = picture_dir
        self.user_id = user_id
        self.first_name = first_name
        self.language = language  # the language_code of the demo person's Telegram app
        self.emulator = BotAPIEmulator(port=0, default_bot=DEMO_TOKEN)
        self.emulator.start()
        self.settings = dataclasses.replace(
            settings,
            telegram_api_url=self.emulator.base_url,
            telegram_bot_token=Secret(DEMO_TOKEN),
        )
        init_database(self.settings)
        with connection():
            schema.migrate()
        self.app = App.from_settings(self.settings)
        set_app(self.app)
        self.workers = InProcessWorkers(self.app, threads=workers).start()
        self.bot = TarotBot(self.app, token=DEMO_TOKEN)
        self.poller = threading.Thread(target=self.bot.run, kwargs={"poll_timeout": 1}, daemon=True)
        self.poller.start()
        self.seen: dict[int, int] = {}  # message_id -> number of edits shown
        self.choices: list[tuple[int, str, str]] = []  # (message_id, label, callback data)
        self.invoice_message: int | None = None

    # -- the loop --------------------------------------------------------------
    def run(self, lines: TextIO, interactive: bool) -> None:
        self.say("🌙 TarotBot demo — you are chatting with the real bot over a local Telegram.")
        self.say(
            "   Type /start to begin, a number to press a button, 'pay' to pay, Ctrl-D to quit.\n"
        )
        while True:
            if interactive:
                self.out.write("you> ")
                self.out.flush()
            line = lines.readline()
            if not line:
                break
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if not interactive:
                self.say(f"you> {line}")
            self.handle(line)

    def handle(self, line: str) -> None:
        stripped = line.strip()
        if stripped.isdigit() and self.choices:
            index = int(stripped) - 1
            if not 0 <= index < len(self.choices):
                self.say(f"   (choose 1..{len(self.choices)})")
                return
            message_id, label, data = self.choices[index]
            self.say(f"   ▸ {label}")
            self.emulator.tap(self.user_id, message_id, data)
        elif stripped.lower() == "pay" and self.invoice_message is not None:
            result = self.emulator.pay(self.user_id, self.invoice_message)
            self.say(f"   ▸ payment {result.get('status')}")
        else:
            self.emulator.send(
                self.user_id, line, first_name=self.first_name, language_code=self.language
            )
        self.settle()

    # -- waiting for the bot -------------------------------------------------
    def busy(self) -> bool:
        if self.emulator.pending_updates():
            return True
        for name in QUEUE_NAMES:
            queue = self.app.queue(name)
            if queue.count or StartedJobRegistry(queue=queue).count:
                return True
            if ScheduledJobRegistry(queue=queue).count:
                return True
        return False

    def settle(self, timeout: float = 90.0) -> None:
        """Print the bot's answers as they arrive, until it has been quiet a moment."""
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            if self.show_new():
                quiet_since = time.monotonic()
            elif not self.busy() and time.monotonic() - quiet_since >= QUIET:
                return
            time.sleep(0.05)
        self.say("   (the bot is taking long; carry on, answers will show up)")

    # -- showing the bot's messages --------------------------------------------
    def show_new(self) -> bool:
        shown = False
        for message in self.emulator.messages(self.user_id):
            message_id = message["message_id"]
            edits = len(message.get("edits") or [])
            if message_id in self.seen and self.seen[message_id] >= edits:
                continue
            edited = message_id in self.seen
            self.seen[message_id] = edits
            if message.get("deleted"):
                continue
            self.show(message, edited)
            shown = True
        return shown

    def show(self, message: dict, edited: bool) -> None:
        prefix = "bot (edited)>" if edited else "bot>"
        if message.get("photo"):
            path = self.save_picture(message)
            self.say(f"{prefix} [picture: {path}]")
        body = message.get("text") or message.get("caption")
        if body:  # already what Telegram shows: the emulator parsed the HTML into entities
            lines = body.splitlines() or [""]
            self.say(f"{prefix} {lines[0]}")
            for extra in lines[1:]:
                self.say(f"     {extra}")
        invoice = message.get("invoice")
        if invoice:
            self.invoice_message = message["message_id"]
            stars = invoice.get("total_amount")
            self.say(f"{prefix} 🧾 {invoice.get('title')} — {stars} ⭐  (type 'pay' to pay)")
        markup = message.get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or []
        if rows:
            self.choices = []
            for row in rows:
                for button in row:
                    if "callback_data" in button:
                        self.choices.append(
                            (message["message_id"], button["text"], button["callback_data"])
                        )
                        self.say(f"     [{len(self.choices)}] {button['text']}")

    def save_picture(self, message: dict) -> str:
        sizes = message["photo"]
        largest = max(sizes, key=lambda size: size.get("file_size", 0))
        info = self.bot.bot.get_file(largest["file_id"])
        data = self.bot.bot.download_file(info.file_path)
        self.picture_dir.mkdir(parents=True, exist_ok=True)
        suffix = PurePosixPath(info.file_path).suffix or ".jpg"  # Telegram's photos are JPEG
        path = self.picture_dir / f"reading-{message['message_id']}{suffix}"
        path.write_bytes(data)
        return str(path)

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def close(self) -> None:
        self.bot.stop()
        self.emulator.stop()
        self.workers.stop()
        set_app(None)
