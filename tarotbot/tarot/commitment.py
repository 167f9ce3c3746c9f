"""Seed commitments: a reading's seed is sealed before the question is known.

A reading's seed is ``HMAC-SHA256(server_secret, "tarotbot-seed-v1:" + nonce)``
cut to 32 hexadecimal characters (128 bits), where the nonce is fresh for
every reading and chosen when the spread is chosen. The bot publishes
``SHA-256(seed)`` (the *commitment*) at once: in the question prompt (or,
for a question asked first, in the "Shuffling the deck…" that the spread
menu becomes). Once the reading is done, /verify
reveals the seed; anyone can check that its SHA-256 is the commitment they
were shown earlier and that ``python -m tarotbot draw SPREAD --seed SEED``
lays the same cards (:mod:`tarotbot.tarot.draw`).

Why a keyed hash of a nonce rather than a random seed kept somewhere: the
nonce may travel in sessions and job payloads (it reveals nothing without
the secret), and the worker derives the seed from it, so nothing but the
reading itself ever stores the seed. Daily cards use a nonce derived from
the person and their local date, so the pushed card and the one asked for
with /daily are the same.

What a commitment proves and what it does not is written in the README
("Verifying a reading").
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = ["commitment_of", "daily_nonce", "new_nonce", "seed_for", "valid_nonce"]

_DOMAIN = b"tarotbot-seed-v1:"
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")


def new_nonce() -> str:
    """A fresh per-reading nonce: 32 hexadecimal characters from :mod:`secrets`."""
    return secrets.token_hex(16)


def daily_nonce(user_id: int, day: str) -> str:
    """The nonce of a person's card of the day (``day`` as ``YYYY-MM-DD`` in their timezone)."""
    return f"daily-{int(user_id)}-{day}"


def valid_nonce(nonce: object) -> bool:
    """True for a nonce of the shape this module makes (anything else is refused)."""
    return isinstance(nonce, str) and bool(_NONCE_RE.fullmatch(nonce))


def seed_for(secret: bytes, nonce: str) -> str:
    """The seed of the reading with ``nonce``: 32 lower-case hex characters."""
    if not secret:
        raise ValueError("a seed secret must not be empty")
    if not valid_nonce(nonce):
        raise ValueError("a nonce is 8-64 characters of A-Z a-z 0-9 _ -")
    digest = hmac.new(secret, _DOMAIN + nonce.encode("ascii"), hashlib.sha256).hexdigest()
    return digest[:32]


def commitment_of(seed: str) -> str:
    """What is published before the reading: the SHA-256 of the seed's ASCII text, in hex.

    ``printf %s SEED | sha256sum`` computes the same.
    """
    return hashlib.sha256(seed.strip().lower().encode("ascii")).hexdigest()
