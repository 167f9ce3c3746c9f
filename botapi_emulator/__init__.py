"""A local Telegram Bot API server for tests, the terminal demo and benchmarks.

It speaks enough of the Bot API for the unmodified pyTelegramBotAPI client
(long polling or webhooks, messages with HTML validation, photos, inline keyboards and
callbacks, Stars invoices, payments, refunds and paid broadcasts), keeps per-bot state, and
adds a driver that plays the users: :meth:`BotAPIEmulator.send`, ``tap``,
``pay``, ``block``, inspection (``chat``, ``wait_for_messages``), injected
faults and Telegram's flood limits. Nothing reaches the real Telegram.

    with BotAPIEmulator() as emu:
        telebot.apihelper.API_URL = emu.api_url
        ...
        emu.send(1001, "/start")
        emu.wait_for_messages(1001, 1)

Module map: ``server`` (HTTP), ``core`` (call pipeline, Python driver API),
``methods``/``payments``/``webhooks`` (Bot API methods), ``delivery``
(posting updates to a webhook), ``driver`` (the user's side),
``state`` (what is remembered), ``formatting`` (HTML parse mode),
``params`` (request decoding), ``media`` (photos), ``limits`` (flood limits,
faults, statistics), ``errors`` (Telegram's error answers).
"""

from botapi_emulator.core import Emulator
from botapi_emulator.driver import DriverError
from botapi_emulator.errors import ApiError
from botapi_emulator.server import BotAPIEmulator
from botapi_emulator.state import Settings

__all__ = ["ApiError", "BotAPIEmulator", "DriverError", "Emulator", "Settings"]
