"""Seeded, verifiable draws: the same seed and options always give the same cards.

The algorithm (version 1), so anyone can re-check a stored reading:

1. The seed is a string of 16..64 hexadecimal characters (64..256 bits);
   :func:`new_seed` makes 32 (128 bits) with :mod:`secrets`. It is used in
   lower case; its ASCII bytes are the HMAC key ``K``.
2. A byte stream: ``HMAC-SHA256(K, b"tarotbot-draw-v1" + i.to_bytes(8, "big"))``
   for ``i = 0, 1, 2, ...``, the 32-byte blocks concatenated.
3. ``randbelow(n)``: take ``m`` bytes (the fewest with ``256**m >= n``) as a
   big-endian integer ``r``; if ``r >= 256**m - (256**m % n)``, discard it and
   take the next ``m`` bytes (rejection sampling, so there is no modulo bias);
   otherwise return ``r % n``.
4. Shuffle the 78 cards in deck order (Major 0..21, Wands, Cups, Swords,
   Pentacles, each Ace..King) with Fisher-Yates: for ``i`` from 77 down to 1,
   swap card ``i`` with card ``randbelow(i + 1)``.
5. The spread takes the first cards of the shuffled deck, one per position in
   reading order, so no card can appear twice.
6. If reversals are enabled, then for each drawn card in order, read 4 more
   bytes as a big-endian integer ``u``; the card is reversed when
   ``u < ceil(p * 2**32)`` (``p`` the reversal probability). With reversals
   off, no bytes are read and every card is upright.

The spread name is not part of the stream: a seed fixes the shuffle, and each
spread lays out its top cards.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tarotbot.tarot.deck import Card, Deck, load_deck
from tarotbot.tarot.errors import InvalidRecord, InvalidSeed
from tarotbot.tarot.spreads import Position, Spread, get_spread

__all__ = [
    "ALGORITHM",
    "Draw",
    "DrawnCard",
    "InvalidSeed",
    "byte_stream",
    "draw",
    "new_seed",
    "normalize_seed",
    "verify_record",
]

ALGORITHM = "tarotbot-draw-v1"
_DOMAIN = ALGORITHM.encode("ascii")
_SEED_RE = re.compile(r"[0-9a-f]{16,64}")


def new_seed() -> str:
    """A fresh 128-bit seed: 32 lower-case hexadecimal characters from :mod:`secrets`."""
    return secrets.token_hex(16)


def normalize_seed(seed: str) -> str:
    """``seed`` in lower case, or :class:`InvalidSeed` unless it is 16..64 hex characters."""
    if not isinstance(seed, str):
        raise InvalidSeed("a seed must be a string of 16 to 64 hexadecimal characters")
    normal = seed.strip().lower()
    if not _SEED_RE.fullmatch(normal):
        raise InvalidSeed(
            "a seed must be 16 to 64 hexadecimal characters (0-9, a-f), "
            f"like {'0f' * 16}; got {seed[:80]!r}"
        )
    return normal


def byte_stream(seed: str) -> Iterator[int]:
    """The endless byte stream of step 2 for an already normalized ``seed``."""
    key = seed.encode("ascii")
    counter = 0
    while True:
        block = hmac.new(key, _DOMAIN + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        yield from block
        counter += 1


def _randbelow(stream: Iterator[int], n: int) -> int:
    """An unbiased integer in ``0..n-1`` from ``stream`` (step 3)."""
    if n <= 1:
        return 0
    width = max(1, ((n - 1).bit_length() + 7) // 8)
    space = 256**width
    limit = space - space % n
    while True:
        value = 0
        for _ in range(width):
            value = value << 8 | next(stream)
        if value < limit:
            return value % n


def _shuffle(items: list[Any], stream: Iterator[int]) -> None:
    """Fisher-Yates in place (step 4)."""
    for i in range(len(items) - 1, 0, -1):
        j = _randbelow(stream, i + 1)
        items[i], items[j] = items[j], items[i]


def _reversal_threshold(probability: float) -> int:
    return math.ceil(probability * 2**32)


@dataclass(frozen=True)
class DrawnCard:
    """A card laid in a position, upright or reversed."""

    position: Position
    card: Card
    reversed: bool

    @property
    def orientation(self) -> str:
        return "reversed" if self.reversed else "upright"

    @property
    def mark(self) -> str:
        """``↑`` upright, ``↻`` reversed: the marks the caption uses."""
        return "↻" if self.reversed else "↑"


@dataclass(frozen=True)
class Draw:
    """The outcome of a draw: everything needed to show, store and verify it."""

    spread: Spread
    seed: str
    reversals_enabled: bool
    reversal_probability: float
    cards: tuple[DrawnCard, ...]

    def __iter__(self) -> Iterator[DrawnCard]:
        return iter(self.cards)

    def __len__(self) -> int:
        return len(self.cards)

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe dict for storage; :meth:`from_record` turns it back into this Draw."""
        return {
            "spread": self.spread.name,
            "seed": self.seed,
            "reversal_probability": self.reversal_probability,
            "reversals_enabled": self.reversals_enabled,
            "cards": [
                {
                    "position": dc.position.key,
                    "position_name": dc.position.name,
                    "key": dc.card.key,
                    "name": dc.card.name,
                    "reversed": dc.reversed,
                }
                for dc in self.cards
            ],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any], deck: Deck | None = None) -> Draw:
        """Rebuild a Draw from :meth:`to_record` output, exactly as stored.

        It trusts the stored cards (a reading stays what the person saw even if
        the algorithm changes); :func:`verify_record` checks them against the
        seed. Raises :class:`InvalidRecord` if the record is malformed.
        """
        deck = deck or load_deck()
        try:
            spread = get_spread(record["spread"])
            seed = normalize_seed(record["seed"])
            probability = float(record["reversal_probability"])
            enabled = bool(record["reversals_enabled"])
            rows = list(record["cards"])
            if len(rows) != len(spread.positions):
                raise InvalidRecord(
                    f"a {spread.name} draw has {len(spread.positions)} cards, the record {len(rows)}"
                )
            cards = []
            for position, row in zip(spread.positions, rows, strict=True):
                if row["position"] != position.key:
                    raise InvalidRecord(
                        f"position {row['position']!r} where {position.key!r} was expected"
                    )
                cards.append(DrawnCard(position, deck.by_key(row["key"]), bool(row["reversed"])))
        except InvalidRecord:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRecord(f"not a draw record: {exc}") from None
        return cls(spread, seed, enabled, probability, tuple(cards))


def draw(
    spread_name: str,
    seed_hex: str,
    reversal_probability: float = 0.3,
    reversals: bool = True,
    *,
    deck: Deck | None = None,
) -> Draw:
    """Draw cards for ``spread_name`` from ``seed_hex`` by the module's algorithm.

    Raises :class:`~tarotbot.tarot.errors.UnknownSpread` for a bad spread name
    and :class:`InvalidSeed` for a bad seed; ``reversal_probability`` must be
    within 0..1. ``deck`` defaults to :func:`load_deck`.
    """
    spread = get_spread(spread_name)
    seed = normalize_seed(seed_hex)
    probability = float(reversal_probability)
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"reversal_probability must be within 0..1, got {reversal_probability!r}")
    deck = deck or load_deck()
    stream = byte_stream(seed)
    order = list(deck.cards)
    _shuffle(order, stream)
    threshold = _reversal_threshold(probability)
    cards = []
    for position, card in zip(spread.positions, order, strict=False):
        upside_down = False
        if reversals:
            value = int.from_bytes(bytes(next(stream) for _ in range(4)), "big")
            upside_down = value < threshold
        cards.append(DrawnCard(position, card, upside_down))
    return Draw(spread, seed, bool(reversals), probability, tuple(cards))


def verify_record(record: Mapping[str, Any], deck: Deck | None = None) -> bool:
    """True if the stored record is exactly what its seed and options draw."""
    try:
        stored = Draw.from_record(record, deck)
    except InvalidRecord:
        return False
    again = draw(
        stored.spread.name,
        stored.seed,
        stored.reversal_probability,
        stored.reversals_enabled,
        deck=deck,
    )
    return again == stored
