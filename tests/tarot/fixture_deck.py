"""A throwaway deck built in code: the SCHEMA.md shape with placeholder texts.

Used to test the loader's error messages, and to run the rest of the suite
while the real card data files are missing (``conftest.py`` points the
loader at a temporary copy). Every sentence names its card, so no sentence
repeats between cards.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tarotbot.tarot.deck import GROUPS, MAJOR_NAMES, RANKS, SUIT_ELEMENT, slugify

MAJOR_ELEMENTS = (
    "air", "air", "water", "earth", "fire", "earth", "air", "water", "fire", "earth", "fire",
    "air", "water", "water", "fire", "earth", "fire", "air", "water", "fire", "fire", "earth",
)  # fmt: skip
YES_NO = ("yes", "no", "maybe")


def _record(name: str, arcana: str, number: int, suit, rank, element: str, i: int) -> dict:
    return {
        "key": slugify(name),
        "name": name,
        "arcana": arcana,
        "number": number,
        "suit": suit,
        "rank": rank,
        "element": element,
        "keywords": {
            "upright": [f"gift {i}", f"spark {i}", f"path {i}"],
            "reversed": [f"knot {i}", f"delay {i}", f"shadow {i}"],
        },
        "upright": (
            f"Upright, {name} opens a bright door for you. "
            f"You feel the pull of {name} in your daily rhythm. "
            f"Follow what {name} shows you with care."
        ),
        "reversed": (
            f"Reversed, {name} asks you to pause. "
            f"Something in {name} is held back for now. "
            f"Untangle it slowly, as {name} suggests."
        ),
        "love": {
            "upright": f"In love, {name} brings warmth to your bond.",
            "reversed": f"In love, {name} reversed asks for honest words.",
        },
        "career": {
            "upright": f"At work, {name} favours a bold plan.",
            "reversed": f"At work, {name} reversed warns of haste.",
        },
        "yes_no": YES_NO[i % 3],
        "advice": f"Let {name} remind you to breathe before you choose.",
    }


def fixture_groups() -> dict[str, list[dict]]:
    """Fresh parsed data for a complete, valid 78-card fixture deck."""
    groups: dict[str, list[dict]] = {"major": []}
    i = 0
    for number in range(22):
        groups["major"].append(
            _record(MAJOR_NAMES[number][0], "major", number, None, None, MAJOR_ELEMENTS[number], i)
        )
        i += 1
    for suit in GROUPS[1:]:
        groups[suit] = []
        for number, rank in enumerate(RANKS, 1):
            name = f"{rank.capitalize()} of {suit.capitalize()}"
            groups[suit].append(_record(name, "minor", number, suit, rank, SUIT_ELEMENT[suit], i))
            i += 1
    return copy.deepcopy(groups)


def write_fixture_files(directory: Path, groups: dict[str, list[dict]] | None = None) -> Path:
    """Write the fixture deck as the five JSON data files into ``directory``."""
    groups = groups or fixture_groups()
    directory.mkdir(parents=True, exist_ok=True)
    for group, records in groups.items():
        (directory / f"{group}.json").write_text(
            json.dumps(records, indent=2, ensure_ascii=False), encoding="utf-8"
        )
    return directory
