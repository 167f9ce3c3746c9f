"""Exceptions of the tarot domain, named for the condition.

They live here, not in :mod:`tarotbot.exceptions`, because the tarot package
imports nothing of the application. The edges (CLI, bot) translate them into
messages for people.
"""

from __future__ import annotations


class TarotError(Exception):
    """Base class of every error the tarot package raises on purpose."""


class DeckError(TarotError):
    """The card data is missing or breaks the schema (names file, card and field)."""


class PhrasingError(TarotError):
    """The composer's phrasing data is missing or breaks its schema (names file, key and problem)."""


class UnknownSpread(TarotError, ValueError):
    """A spread name that is not one of the nine spreads."""

    def __init__(self, name: str, valid: tuple[str, ...] = ()):
        self.name = name
        self.valid = valid
        listing = f"; choose one of: {', '.join(valid)}" if valid else ""
        super().__init__(f"unknown spread {name!r}{listing}")


class InvalidSeed(TarotError, ValueError):
    """A draw seed that is not 16..64 hexadecimal characters."""


class InvalidRecord(TarotError, ValueError):
    """A stored draw record that cannot be rebuilt into a draw."""


class QuestionTooLong(TarotError, ValueError):
    """A question longer than the allowed number of characters."""

    def __init__(self, length: int, limit: int):
        self.length = length
        self.limit = limit
        super().__init__(
            f"the question is {length} characters long; please keep it to {limit} or fewer"
        )
