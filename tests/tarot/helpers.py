"""Helpers for the tarot tests: reproducible seeds and a long, awkward question."""

from __future__ import annotations

import hashlib


def seeds(count: int, base: str = "tarot-tests") -> list[str]:
    """A fixed, reproducible list of 32-hex-character seeds."""
    return [hashlib.sha256(f"{base}:{i}".encode()).hexdigest()[:32] for i in range(count)]


LONG_QUESTION = (
    "Will my partner and I manage to buy the little flat near the river before winter, "
    "and should I take the new job offer in another city even though it means a long "
    "commute, leaving my friends, & telling my boss <b>soon</b>? "
) * 3
