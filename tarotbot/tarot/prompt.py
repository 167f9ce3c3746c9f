"""The chat messages that ask a language model to interpret a draw.

Pure: builds the OpenAI-style ``messages`` list; sending it is
:mod:`tarotbot.interpreter`'s job. The model gets the spread, every position
with what it asks, every card with its orientation and keywords, and the
question, and is asked for plain paragraphs (no markdown, no HTML) that name
every card, so the output can be checked and safely converted to Telegram HTML.
"""

from __future__ import annotations

from tarotbot.tarot.draw import Draw

__all__ = ["SYSTEM_PROMPT", "build_messages", "max_reply_chars"]

SYSTEM_PROMPT = (
    "You are a warm, thoughtful tarot reader writing for one person in a private chat. "
    "Write in the second person, in plain text paragraphs separated by blank lines. "
    "Do not use markdown, headings, bullet lists, emoji or HTML. "
    "Name every drawn card exactly as given, with its position, and say whether it is "
    "upright or reversed. Connect the cards into one story, then answer the question "
    "gently (tarot shows tendencies, never certainties) and end with one practical piece "
    "of advice. Never predict death, illness or disaster, and never give medical, legal or "
    "financial instructions. Keep the whole reading under {words} words."
)


def max_reply_chars(draw: Draw) -> int:
    """The longest reply accepted for this draw (characters): room for ~180 words a card."""
    return 2500 + 1200 * len(draw.cards)


def _words(draw: Draw) -> int:
    return 150 + 90 * len(draw.cards)


def build_messages(draw: Draw, question: str | None) -> list[dict[str, str]]:
    """System and user messages for a chat-completions request."""
    spread = draw.spread
    lines = [
        f"Spread: {spread.title} ({len(draw.cards)} cards). {spread.description}",
    ]
    if spread.angle == "love":
        lines.append("Read it as a love and relationship reading.")
    elif spread.angle == "career":
        lines.append("Read it as a work, career and money reading.")
    elif spread.time_frame:
        lines.append(f"The cards cover {spread.time_frame}; tie each card to its moment.")
    lines.append("")
    lines.append("Cards, in order:")
    for i, dc in enumerate(draw.cards, 1):
        keywords = ", ".join(dc.card.keywords(dc.reversed))
        lines.append(
            f"{i}. {dc.position.name} ({dc.position.question}): {dc.card.name}, "
            f"{dc.orientation}. Keywords: {keywords}."
        )
    lines.append("")
    if question:
        lines.append(f"The person's question: {question}")
    else:
        lines.append("The person asked no question: speak to what matters most right now.")
    return [
        {"role": "system", "content": SYSTEM_PROMPT.format(words=_words(draw))},
        {"role": "user", "content": "\n".join(lines)},
    ]
