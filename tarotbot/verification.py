"""How a person checks a reading: its seed, the seal published before the question, the command.

:func:`verification_of` recomputes the draw from the stored seed on the spot
(the same open algorithm as ``python -m tarotbot draw``) and compares it with
the cards the person was shown. See the README, "Verifying a reading", for
what this proves and what it does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from tarotbot.i18n import current_language
from tarotbot.models import Reading
from tarotbot.tarot.commitment import commitment_of
from tarotbot.tarot.draw import Draw, draw
from tarotbot.tarot.languages import localize

DEFAULT_REVERSAL_PROBABILITY = 0.3  # the draw command's own default (REVERSAL_PROBABILITY)


@dataclass(frozen=True)
class Verification:
    reading_id: int
    spread: str
    seed: str
    commitment: str | None  # the seal published before the question (None: older readings)
    seal_holds: bool  # the seed's SHA-256 equals the stored seal (True when there is none)
    command: str
    recomputed: tuple[str, ...]  # "1. Position: Card ↑" lines, from the seed
    matches: bool  # the recomputed cards are the ones stored (and shown)


def command_for(record_draw: Draw) -> str:
    """The shell command that lays the same cards with TarotBot's open draw."""
    prefix = ""
    if (
        record_draw.reversals_enabled
        and record_draw.reversal_probability != DEFAULT_REVERSAL_PROBABILITY
    ):
        prefix = f"REVERSAL_PROBABILITY={record_draw.reversal_probability:g} "
    flags = "" if record_draw.reversals_enabled else " --no-reversals"
    return f"{prefix}python -m tarotbot draw {record_draw.spread.name} --seed {record_draw.seed}{flags}"


def card_lines(the_draw: Draw) -> tuple[str, ...]:
    """The cards, one line each, named in the current language."""
    shown = localize(the_draw, current_language())
    return tuple(
        f"{i}. {dc.position.name}: {dc.card.name} {dc.mark}" for i, dc in enumerate(shown.cards, 1)
    )


def verification_of(reading: Reading) -> Verification:
    """Recompute ``reading`` from its seed and say how anyone can do the same."""
    stored = Draw.from_record(reading.cards)
    again = draw(
        stored.spread.name,
        stored.seed,
        stored.reversal_probability,
        stored.reversals_enabled,
    )
    commitment = reading.cards.get("commitment") if isinstance(reading.cards, dict) else None
    return Verification(
        reading_id=reading.id,
        spread=stored.spread.name,
        seed=stored.seed,
        commitment=commitment,
        seal_holds=commitment is None or commitment_of(stored.seed) == commitment,
        command=command_for(stored),
        recomputed=card_lines(again),
        matches=again == stored,
    )
