"""Shared fixtures for the tarot tests: the real deck and the fixture deck."""

from __future__ import annotations

import pytest

from tarotbot.tarot.deck import Deck, build_deck, load_deck
from tests.tarot.fixture_deck import fixture_groups


@pytest.fixture(scope="session")
def deck() -> Deck:
    """The real deck from tarotbot/tarot/data (the tests fail if it is missing or broken)."""
    return load_deck()


@pytest.fixture(scope="session")
def fixture_deck() -> Deck:
    return build_deck(fixture_groups())
