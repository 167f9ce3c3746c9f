"""The table of emulated Bot API methods, looked up case-insensitively as Telegram does.

A handler returns the call's ``result``, or a :class:`Described` result when
Telegram adds a ``description`` to a successful answer (setWebhook's
"Webhook was set").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botapi_emulator.params import Params
from botapi_emulator.state import BotState

Handler = Callable[[BotState, Params], Any]


@dataclass(frozen=True)
class Method:
    """One Bot API method: its canonical name, handler and how limits see it.

    ``flood_counted``: it sends or edits a message, so flood limits count it.
    ``paid_broadcast``: it takes ``allow_paid_broadcast`` (a send method).
    """

    name: str
    handler: Handler
    flood_counted: bool = False
    paid_broadcast: bool = False


@dataclass(frozen=True)
class Described:
    """A successful result that Telegram sends with a ``description`` beside it."""

    result: Any
    description: str


METHODS: dict[str, Method] = {}


def api_method(
    name: str, *, counted: bool = False, paid_broadcast: bool = False
) -> Callable[[Handler], Handler]:
    """Register ``handler`` as Bot API method ``name``.

    ``counted``: it sends or edits a message; ``paid_broadcast``: it takes
    ``allow_paid_broadcast``.
    """

    def register(handler: Handler) -> Handler:
        METHODS[name.lower()] = Method(name, handler, counted, paid_broadcast)
        return handler

    return register


def find_method(name: str) -> Method | None:
    return METHODS.get(name.lower())
