"""Fixtures: a Bot API emulator on a free port and the real pyTelegramBotAPI pointed at it.

Tokens here are short fakes (``<6 digits>:<short secret>``); nothing reaches
the real Telegram.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
import requests
import telebot

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for emulator_support

from emulator_support import TOKEN, USER
from telebot import apihelper

from botapi_emulator import BotAPIEmulator


@pytest.fixture
def emulator():
    """A running emulator whose driver addresses TOKEN's bot by default."""
    with BotAPIEmulator(default_bot=TOKEN) as emu:
        yield emu


@pytest.fixture
def api(emulator):
    """Point pyTelegramBotAPI at the emulator for this test, then restore its URLs."""
    saved = apihelper.API_URL, apihelper.FILE_URL
    apihelper.API_URL, apihelper.FILE_URL = emulator.api_url, emulator.file_url
    yield emulator
    apihelper.API_URL, apihelper.FILE_URL = saved


@pytest.fixture
def bot(api):
    """A TeleBot for TOKEN whose handlers run in the polling thread, in order."""
    return telebot.TeleBot(TOKEN, threaded=False)


@pytest.fixture
def chat(api):
    """USER has written to the bot, so the bot may write back (and the update is confirmed)."""
    sent = api.send(USER, "hello", first_name="Ann", username="ann")
    confirm(api, sent["update_id"])
    return USER


def confirm(emu: BotAPIEmulator, update_id: int, token: str = TOKEN) -> None:
    """Confirm updates up to ``update_id`` with a short poll (telebot cannot short-poll)."""
    reply = requests.get(f"{emu.base_url}/bot{token}/getUpdates", params={"offset": update_id + 1})
    assert reply.json()["ok"]


@pytest.fixture
def polling(api):
    """Start ``bot.infinity_polling`` in a thread; stopped (and released) at teardown."""
    started: list[tuple[telebot.TeleBot, threading.Thread]] = []

    def start(bot: telebot.TeleBot, **options) -> threading.Thread:
        options.setdefault("long_polling_timeout", 1)
        thread = threading.Thread(
            target=bot.infinity_polling, kwargs={"logger_level": None, **options}, daemon=True
        )
        thread.start()
        started.append((bot, thread))
        return thread

    yield start
    for running, _ in started:
        running.stop_polling()
    api.close()  # release the pending long polls
    for _, thread in started:
        thread.join(timeout=5)
