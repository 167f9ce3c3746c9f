"""The bot's handlers for a person's own account: verify, export, delete, the daily card, invites.

A mixin of :class:`~tarotbot.telegram.bot.TarotBot` (it uses its ``app``,
``sessions``, ``say`` and ``reply``): like every handler, these validate,
answer what is instant and queue the rest as a job whose id derives from the
update.
"""

from __future__ import annotations

import re

from telebot import types

from tarotbot.queue import QUEUE_PAYMENTS, QUEUE_READINGS, job_id
from tarotbot.telegram import keyboards, texts

#: ``/verify 123``: a reading number after the command.
VERIFY_ARG_RE = re.compile(r"^\s*#?([0-9]{1,19})\s*$")


def command_argument(text: str | None) -> str:
    """What follows ``/command`` (or ``/command@bot``) in a message, stripped."""
    parts = (text or "").split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


class AccountChat:
    """/verify, /export, /delete, /daily, /invite, the daily-card settings, Share."""

    ACCOUNT_COMMANDS = ("verify", "export", "delete", "daily", "invite")

    def _job(self, queue: str, func: str, kind: str, user_id: int, update_id: int, *args) -> None:
        key = job_id(kind, user_id, update_id)
        self.app.enqueue(queue, func, *args, key, key=key)

    def on_account_command(self, name: str, message: types.Message, update_id: int) -> bool:
        """Handle one of :data:`ACCOUNT_COMMANDS`; False for any other command."""
        if name not in self.ACCOUNT_COMMANDS:
            return False
        chat_id, user_id = message.chat.id, message.from_user.id
        if name == "verify":
            argument = command_argument(message.text)
            reading_id = None
            if argument:
                match = VERIFY_ARG_RE.match(argument)
                if not match:
                    self.say(update_id, chat_id, texts.VERIFY_USAGE)
                    return True
                reading_id = int(match.group(1))
            self._job(
                QUEUE_READINGS, "jobs.account.verify_reading", "verify", user_id, update_id,
                user_id, chat_id, reading_id,
            )  # fmt: skip
        elif name == "export":
            self._job(
                QUEUE_READINGS, "jobs.account.export_data", "export", user_id, update_id,
                user_id, chat_id,
            )  # fmt: skip
        elif name == "delete":
            self._job(
                QUEUE_PAYMENTS, "jobs.account.confirm_erase", "erase-ask", user_id, update_id,
                user_id, chat_id,
            )  # fmt: skip
        elif name == "daily":
            self._job(
                QUEUE_READINGS, "jobs.daily.ask_card", "daily", user_id, update_id,
                user_id, chat_id,
            )  # fmt: skip
        elif name == "invite":
            self._job(
                QUEUE_READINGS, "jobs.account.send_invite", "invite", user_id, update_id,
                user_id, chat_id,
            )  # fmt: skip
        return True

    # -- settings ---------------------------------------------------------------------
    def show_settings(self, session, chat_id: int, update_id: int) -> None:
        """/settings: reversed cards and the daily card (read from the user row)."""
        from tarotbot.models import User

        user = User.get_or_none(User.id == session.user_id)
        label = texts.render(texts.ON if session.reversals else texts.OFF)
        text = texts.render(texts.SETTINGS, reversals=label)
        daily = bool(user and user.daily_enabled)
        if user is not None:
            quiet = (
                texts.render(texts.NONE)
                if user.quiet_start is None
                else f"{keyboards.hhmm(user.quiet_start)}–{keyboards.hhmm(user.quiet_end)}"
            )
            text += texts.render(
                texts.SETTINGS_DAILY,
                daily=texts.render(texts.ON if daily else texts.OFF),
                time=keyboards.hhmm(user.daily_minute),
                zone=user.timezone or "UTC",
                quiet=quiet,
            )
        self.say(update_id, chat_id, text, keyboards.settings_menu(session.reversals, daily))

    def _daily_change(self, press, change: dict) -> None:
        key = job_id("dailyset", press.user_id, press.update_id)
        self.app.enqueue(
            QUEUE_PAYMENTS,
            "jobs.daily.update_daily",
            press.user_id,
            press.chat_id,
            change,
            key,
            key=key,
        )

    def on_daily_button(self, press, session) -> None:
        arg = press.callback.arg
        if arg in ("on", "off", "stop"):
            self._daily_change(press, {"enabled": arg == "on"})
        elif arg == "time":
            self.say(press.update_id, press.chat_id, texts.DAILY_CHOOSE_TIME, keyboards.time_menu())
        elif arg == "tz":
            self.reply(
                press.update_id,
                press.chat_id,
                *self._zone_prompt(press.chat_id),
            )
        elif arg == "quiet":
            self.say(
                press.update_id, press.chat_id, texts.DAILY_CHOOSE_QUIET, keyboards.quiet_menu()
            )
        else:  # back: declined the offer
            self.say(press.update_id, press.chat_id, texts.DAILY_LATER)

    def _zone_prompt(self, chat_id: int) -> list:
        from tarotbot.telegram import replies

        return [
            replies.text(chat_id, texts.DAILY_CHOOSE_ZONE, keyboards.zone_menu()),
            replies.text(chat_id, texts.DAILY_SHARE_LOCATION, keyboards.location_keyboard()),
        ]

    def on_time_button(self, press, session) -> None:
        minute = int(press.callback.arg)
        if not 0 <= minute < 1440:
            self.say(press.update_id, press.chat_id, texts.STALE_BUTTON)
            return
        self._daily_change(press, {"minute": minute})

    def on_zone_button(self, press, session) -> None:
        from tarotbot.telegram import replies

        arg = press.callback.arg
        if arg == "offsets":
            self.reply(
                press.update_id,
                press.chat_id,
                replies.edit_text(
                    press.chat_id,
                    press.message_id,
                    texts.DAILY_CHOOSE_OFFSET,
                    keyboards.offset_menu(),
                ),
            )
        elif arg == "cities":
            self.reply(
                press.update_id,
                press.chat_id,
                replies.edit_text(
                    press.chat_id, press.message_id, texts.DAILY_CHOOSE_ZONE, keyboards.zone_menu()
                ),
            )
        else:
            self._daily_change(press, {"zone": arg})

    def on_quiet_button(self, press, session) -> None:
        arg = press.callback.arg
        if arg == "off":
            self._daily_change(press, {"quiet": None})
            return
        start, end = (int(part) for part in arg.split("-"))
        if not (0 <= start < 1440 and 0 <= end < 1440):
            self.say(press.update_id, press.chat_id, texts.STALE_BUTTON)
            return
        self._daily_change(press, {"quiet": [start, end]})

    def on_location(self, message: types.Message, update_id: int) -> None:
        """A shared location sets the timezone (from its longitude; nothing else is kept)."""
        location = message.location
        if self.session(message.from_user.id) is None:
            self.say(update_id, message.chat.id, texts.NOT_REGISTERED)
            return
        change = {"location": [float(location.latitude), float(location.longitude)]}
        key = job_id("dailyset", message.from_user.id, update_id)
        self.app.enqueue(
            QUEUE_PAYMENTS,
            "jobs.daily.update_daily",
            message.from_user.id,
            message.chat.id,
            change,
            key,
            key=key,
        )

    # -- buttons under readings ---------------------------------------------------------
    def on_verify_button(self, press, session) -> None:
        key = job_id("verify", press.user_id, press.update_id)
        self.app.enqueue(
            QUEUE_READINGS,
            "jobs.account.verify_reading",
            press.user_id,
            press.chat_id,
            int(press.callback.arg),
            key,
            key=key,
        )

    def on_share_button(self, press, session) -> None:
        key = job_id("share", press.user_id, press.update_id)
        self.app.enqueue(
            QUEUE_READINGS,
            "jobs.account.share_reading",
            press.user_id,
            press.chat_id,
            int(press.callback.arg),
            key,
            key=key,
        )

    def on_extra_menu(self, press, session) -> None:
        if press.callback.arg == "daily":
            func, kind = "jobs.daily.ask_card", "daily"
        else:
            func, kind = "jobs.account.send_invite", "invite"
        key = job_id(kind, press.user_id, press.update_id)
        self.app.enqueue(QUEUE_READINGS, func, press.user_id, press.chat_id, key, key=key)

    def on_erase_button(self, press, session) -> None:
        from tarotbot.telegram import replies

        if press.callback.arg == "no":
            self.reply(
                press.update_id,
                press.chat_id,
                replies.edit_text(press.chat_id, press.message_id, texts.DELETE_KEPT),
            )
            return
        key = job_id("erase", press.user_id, press.update_id)
        self.app.enqueue(
            QUEUE_PAYMENTS,
            "jobs.account.erase_data",
            press.user_id,
            press.chat_id,
            press.message_id,
            key,
            key=key,
        )
