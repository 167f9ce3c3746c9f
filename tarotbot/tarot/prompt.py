"""The chat messages that ask a language model to interpret a draw, and its word budget.

Pure: builds the OpenAI-style ``messages`` list; sending it is
:mod:`tarotbot.interpreter`'s job. The model gets the spread, every position
with what it asks, every card with its orientation, keywords and the
composer's own text for that card in that position (so the model and the
composer read the cards alike), and the question, and is asked for plain
paragraphs (no markdown, no HTML) within the spread's word budget that name
every card, so the output can be checked and safely converted to Telegram HTML.
"""

from __future__ import annotations

from babel import Locale

from tarotbot.tarot.card_texts import load_card_texts
from tarotbot.tarot.compose import question_topic
from tarotbot.tarot.draw import Draw
from tarotbot.tarot.languages import localize

__all__ = ["SYSTEM_PROMPT", "WORD_BUDGET", "build_messages", "max_reply_chars", "word_budget"]

#: The most words a reading of each spread may have (the composer's own lengths
#: fit within these too): short enough for a chat, long enough for every card.
WORD_BUDGET = {
    "single": 200,
    "three": 400,
    "relationship": 550,
    "career": 500,
    "week_ahead": 550,
    "celtic": 700,
    "monthly_guidance": 450,
    "life_path": 550,
    "yearly_path": 900,
}

SYSTEM_PROMPT = (
    "You are a warm, thoughtful tarot reader writing for one person in a private chat. "
    "Write in the second person, in plain text paragraphs separated by blank lines. "
    "Do not use markdown, headings, bullet lists, emoji or HTML. "
    "Name every drawn card exactly as given, with its position, and say whether it is "
    "upright or reversed. Connect the cards into one story, then answer the question "
    "gently (tarot shows tendencies, never certainties) and end with one practical piece "
    "of advice. Never predict death, illness or disaster, and never give medical, legal or "
    "financial instructions. Never answer yes or no to questions about health, pregnancy, "
    "the law or a feared loss. The whole reading must stay under {words} words: "
    "a sentence or two for each card, then the answer."
)


def word_budget(draw: Draw) -> int:
    """The most words a reading of this draw's spread may have."""
    return WORD_BUDGET.get(draw.spread.name, 150 + 60 * len(draw.cards))


def max_reply_chars(draw: Draw) -> int:
    """The longest reply accepted for this draw (characters): the word budget, generously."""
    return 10 * word_budget(draw)


def _card_note(draw: Draw, index: int, topic: str | None, language: str) -> str:
    """The composer's text for the card at ``index`` in its position (and on the topic)."""
    dc = draw.cards[index]
    texts = load_card_texts(language=language).of(dc.card.key, dc.reversed)
    role = dc.position.role
    note = texts.essence[0] if role in ("essence", "time") else texts.roles[role][0]
    note = note[:1].upper() + note[1:]
    return f"{note} {texts.topics[topic]}" if topic else note


def build_messages(draw: Draw, question: str | None, language: str = "en") -> list[dict[str, str]]:
    """System and user messages for a chat-completions request, for a reading in ``language``."""
    draw = localize(draw, language)
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
    lines.append("Cards, in order, each with notes on what it says here:")
    topic = question_topic(question)
    for i, dc in enumerate(draw.cards, 1):
        keywords = ", ".join(dc.card.keywords(dc.reversed))
        lines.append(
            f"{i}. {dc.position.name} ({dc.position.question}): {dc.card.name}, "
            f"{dc.orientation}. Keywords: {keywords}. "
            f"Notes: {_card_note(draw, i - 1, topic, language)}"
        )
    lines.append("")
    if question:
        lines.append(f"The person's question: {question}")
    else:
        lines.append("The person asked no question: speak to what matters most right now.")
    return [
        {
            "role": "system",
            "content": SYSTEM_PROMPT.format(words=word_budget(draw))
            + f" Write the reading in {Locale.parse(language).get_display_name('en')}, and use the"
            " card and position names exactly as given.",
        },
        {"role": "user", "content": "\n".join(lines)},
    ]
