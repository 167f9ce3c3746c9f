"""Links to the bot: its username (asked of Telegram once per process) and invitation links."""

from __future__ import annotations

import threading

from tarotbot.config import Settings, seed_secret_bytes
from tarotbot.invites import code_for

_usernames: dict[str, str] = {}
_lock = threading.Lock()


def bot_username(bot) -> str:
    """The bot's @username (getMe, once per process and token)."""
    bot_id = str(bot.token).partition(":")[0]
    with _lock:
        if bot_id not in _usernames:
            _usernames[bot_id] = bot.get_me().username or "TarotBot"
        return _usernames[bot_id]


def invite_link(bot, settings: Settings, user_id: int) -> str:
    """``https://t.me/<bot>?start=<code>``: the person's invitation link."""
    return (
        f"https://t.me/{bot_username(bot)}?start={code_for(user_id, seed_secret_bytes(settings))}"
    )
