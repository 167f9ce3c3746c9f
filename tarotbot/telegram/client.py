"""The pyTelegramBotAPI client, pointed at ``TELEGRAM_API_URL``.

pyTelegramBotAPI keeps its endpoint in module globals (``apihelper.API_URL``),
so the endpoint and the transport (:mod:`~tarotbot.telegram.transport`) are
configured once per process here. The token is taken from
the settings' :class:`~tarotbot.config.Secret` only at the moment the client
is built, and never logged.
"""

from __future__ import annotations

import telebot
from telebot import apihelper

from tarotbot.config import Settings
from tarotbot.exceptions import ConfigError
from tarotbot.telegram import transport


def configure_endpoint(api_url: str) -> None:
    """Point every pyTelegramBotAPI call in this process at ``api_url``."""
    base = api_url.rstrip("/")
    apihelper.API_URL = base + "/bot{0}/{1}"
    apihelper.FILE_URL = base + "/file/bot{0}/{1}"
    apihelper.CUSTOM_REQUEST_SENDER = transport.send


def make_bot(
    settings: Settings, token: str | None = None, threaded: bool = True
) -> telebot.TeleBot:
    """A TeleBot for the configured endpoint; ``token`` overrides the setting (demo)."""
    secret = token or (
        settings.telegram_bot_token.reveal() if settings.telegram_bot_token else None
    )
    if not secret:
        raise ConfigError("TELEGRAM_BOT_TOKEN", "is required to talk to Telegram")
    configure_endpoint(settings.telegram_api_url)
    return telebot.TeleBot(
        secret,
        parse_mode="HTML",
        threaded=threaded,
        num_threads=4,
        skip_pending=False,
        use_class_middlewares=False,
    )
