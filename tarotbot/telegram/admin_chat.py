"""The bot's admin commands, for ``ADMIN_IDS`` only.

Anyone else gets the ordinary unknown-command answer: the commands are not
advertised, not listed in /help and not announced with setMyCommands. Each
command is checked here (usage, numbers, lengths), logged and queued as a job
that checks the caller again and records what it did (:mod:`jobs.admin`).
"""

from __future__ import annotations

import logging
import re

from telebot import types

from tarotbot.admin import is_admin
from tarotbot.broadcasts import TEXT_LIMIT
from tarotbot.queue import QUEUE_PAYMENTS, QUEUE_READINGS, job_id
from tarotbot.telegram import texts
from tarotbot.telegram.account_chat import command_argument

log = logging.getLogger("tarotbot.admin")

ADMIN_COMMANDS = ("stats", "grant", "revoke", "refund", "user", "broadcast")
MAX_GRANT = 100_000  # credits one /grant or /revoke may move
AMOUNT_RE = re.compile(r"^[0-9]{1,9}$")
CHARGE_RE = re.compile(r"^[A-Za-z0-9_:.-]{1,255}$")


class AdminChat:
    """/stats, /grant, /revoke, /refund, /user, /broadcast, and the broadcast's buttons."""

    def is_admin(self, telegram_id: int) -> bool:
        return is_admin(telegram_id, self.app.settings.admin_ids)

    def on_admin_command(self, name: str, message: types.Message, update_id: int) -> bool:
        """Handle an admin command from an admin; False otherwise (the caller says "unknown")."""
        admin_id = message.from_user.id
        if name not in ADMIN_COMMANDS or not self.is_admin(admin_id):
            return False
        chat_id = message.chat.id
        argument = command_argument(message.text)
        key = job_id("admin", name, admin_id, update_id)
        log.info("admin %s: /%s", admin_id, name)
        if name == "stats":
            self.app.enqueue(
                QUEUE_READINGS, "jobs.admin.show_stats", admin_id, chat_id, key, key=key
            )
        elif name in ("grant", "revoke"):
            parts = argument.split(maxsplit=2)
            usage = texts.ADMIN_USAGE_GRANT if name == "grant" else texts.ADMIN_USAGE_REVOKE
            if (
                len(parts) < 3
                or not AMOUNT_RE.match(parts[1])
                or not 0 < int(parts[1]) <= MAX_GRANT
            ):
                self.say(update_id, chat_id, usage)
                return True
            self.app.enqueue(
                QUEUE_PAYMENTS,
                f"jobs.admin.{name}",
                admin_id,
                chat_id,
                parts[0],
                int(parts[1]),
                parts[2],
                key,
                key=key,
            )
        elif name == "refund":
            if not CHARGE_RE.match(argument):
                self.say(update_id, chat_id, texts.ADMIN_USAGE_REFUND)
                return True
            self.app.enqueue(
                QUEUE_PAYMENTS, "jobs.admin.refund", admin_id, chat_id, argument, key, key=key
            )
        elif name == "user":
            if not argument or len(argument) > 70:
                self.say(update_id, chat_id, texts.ADMIN_USAGE_USER)
                return True
            self.app.enqueue(
                QUEUE_READINGS, "jobs.admin.show_user", admin_id, chat_id, argument, key, key=key
            )
        elif name == "broadcast":
            if not argument or len(argument) > TEXT_LIMIT:
                self.say(
                    update_id, chat_id, texts.render(texts.ADMIN_USAGE_BROADCAST, limit=TEXT_LIMIT)
                )
                return True
            self.app.enqueue(
                QUEUE_PAYMENTS,
                "jobs.admin.broadcast_preview",
                admin_id,
                chat_id,
                argument,
                key,
                key=key,
            )
        return True

    def on_admin_button(self, press, session) -> None:
        """Send or cancel a previewed broadcast; for anyone else the button is stale."""
        if not self.is_admin(press.user_id):
            self.say(press.update_id, press.chat_id, texts.STALE_BUTTON)
            return
        key = job_id("admin", "bcast", press.user_id, press.update_id)
        self.app.enqueue(
            QUEUE_PAYMENTS,
            "jobs.admin.broadcast_confirm",
            press.user_id,
            press.chat_id,
            int(press.callback.arg2),
            press.callback.arg == "send",
            press.message_id,
            key,
            key=key,
        )
