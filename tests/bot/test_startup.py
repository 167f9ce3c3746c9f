"""The bot at start-up: a refused token or an unreachable Bot API is one clear error."""

from __future__ import annotations

import pytest
from telebot import apihelper

from botapi_emulator import BotAPIEmulator
from tarotbot.app import App
from tarotbot.config import load_settings
from tarotbot.exceptions import TelegramUnavailable
from tarotbot.telegram.bot import TarotBot

TOKEN = "424242:startup-test-token-not-a-secret"


@pytest.fixture
def emulator():
    saved = apihelper.API_URL, apihelper.FILE_URL
    emu = BotAPIEmulator(default_bot=TOKEN).start()
    try:
        yield emu
    finally:
        emu.stop()
        apihelper.API_URL, apihelper.FILE_URL = saved


def test_a_refused_token_stops_the_bot_with_a_clear_error(emulator):
    settings = load_settings({"TELEGRAM_API_URL": emulator.base_url, "TELEGRAM_BOT_TOKEN": TOKEN})
    bot = TarotBot(App.in_process(settings), token=TOKEN)
    emulator.inject_fault("deleteWebhook", 401, "Unauthorized")

    with pytest.raises(TelegramUnavailable) as refused:
        bot.run()

    message = str(refused.value)
    assert "refused the bot (401 Unauthorized)" in message and "TELEGRAM_BOT_TOKEN" in message
    assert TOKEN.split(":", 1)[1] not in message
