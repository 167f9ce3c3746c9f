"""Text from Telegram made fit to store: what PostgreSQL refuses never reaches it.

Names, usernames and payloads arrive from Telegram as any Unicode the client
allowed, and Telegram's JSON may even carry a lone surrogate (``"\\ud800"``),
which Python decodes but no UTF-8 encoder accepts. PostgreSQL refuses a NUL
character in text outright. Either makes an INSERT fail, and a job that
inserts it (registration, the payment job registering a payer) fails on
every retry. Every text from Telegram that is stored passes through
:func:`clean_text` first (questions through
:func:`tarotbot.tarot.safety.clean_question`, which drops the same characters).
"""

from __future__ import annotations

import unicodedata

#: Unicode categories dropped: control characters (NUL among them) and surrogates.
DROPPED_CATEGORIES = frozenset({"Cc", "Cs"})


def clean_text(value: str | None, limit: int = 255) -> str | None:
    """``value`` on one line, without control characters or surrogates, at most ``limit`` long.

    Line breaks and tabs become spaces, runs of whitespace one space. Returns
    None for None, a non-string, or a value with nothing left.
    """
    if not isinstance(value, str) or not value:
        return None
    chars = []
    for char in value:
        if char in "\n\r\t\v\f":
            chars.append(" ")
        elif unicodedata.category(char) not in DROPPED_CATEGORIES:
            chars.append(char)
    cleaned = " ".join("".join(chars).split())[:limit].rstrip()
    return cleaned or None
