"""The built-in interpreter: turns a draw (and a question) into a warm, written reading.

No network, no randomness: the text depends only on the draw and the
question. Where a passage has several phrasings, the choice is made by hashing
the draw's seed with the passage's name (:func:`_pick`), so the same reading
always reads the same, and two readings rarely read alike.

The reading has three movements:

1. each position in turn: what the position asks, the card and its
   orientation, in the voice the spread calls for (love texts for the
   Relationship spread, career texts for Career Path, days, weeks and months
   for the time spreads);
2. the spread as a whole: Major against Minor Arcana, the dominant element,
   the reversals, repeated ranks, and what a particular spread shows (the two
   people's elements, the brightest day of the week, the year's turning points);
3. the answer to the question (yes/no questions answered from the cards'
   leanings, gently; open ones from the spread's central cards), then advice.

All card data and question text is escaped (:func:`~.telegram_text.escape`);
the output uses Telegram HTML only.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tarotbot.tarot.deck import Card
from tarotbot.tarot.draw import Draw, DrawnCard
from tarotbot.tarot.spreads import ORDINALS
from tarotbot.tarot.telegram_text import (
    CAPTION_LIMIT,
    escape,
    split_html,
    strip_html,
    telegram_length,
)

__all__ = ["Interpretation", "compose", "is_yes_no_question", "question_topic", "yes_no_lean"]

AUTHOR = "composer"


@dataclass(frozen=True)
class Interpretation:
    """A written reading, ready for Telegram.

    ``html`` is the whole reading in Telegram HTML; ``messages`` is the same
    split into messages of at most 4096 characters; ``caption`` is a short
    summary for the spread picture (at most 1024 characters, HTML too);
    ``author`` is ``"composer"`` or ``"llm:<model>"``.
    """

    title: str
    html: str
    messages: tuple[str, ...]
    caption: str
    author: str = AUTHOR

    def plain_text(self) -> str:
        """The reading without markup, for the terminal and for search."""
        return strip_html(self.html).strip()


# --------------------------------------------------------------------------- helpers


def _pick(seed: str, slot: str, options: Sequence[str]) -> str:
    """One of ``options``, chosen by hashing the seed with ``slot``: varied yet repeatable."""
    digest = hashlib.sha256(f"{seed}|{slot}".encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


_NUMBER_WORDS = {
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
    12: "twelve",
    13: "thirteen",
}


def _count(n: int, noun: str, plural: str | None = None) -> str:
    word = _NUMBER_WORDS.get(n, str(n))
    return f"{word} {noun if n == 1 else plural or noun + 's'}"


def _and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _first_sentences(text: str, count: int) -> str:
    parts = re.split(r"(?<=[.!?…])\s+", text.strip())
    return " ".join(parts[:count])


def _name(dc: DrawnCard) -> str:
    """The card's name in bold (escaped)."""
    return f"<b>{escape(dc.card.name)}</b>"


def _name_o(dc: DrawnCard) -> str:
    """The card's name in bold, with “reversed” after it when it is."""
    return _name(dc) + (" reversed" if dc.reversed else "")


def _keywords(dc: DrawnCard) -> list[str]:
    return [escape(k) for k in dc.card.keywords(dc.reversed)]


# --------------------------------------------------------------------------- questions

_YES_NO_EN = re.compile(
    r"^(?:(?:so|and|but|ok|okay|hi|hello|please|tarot|dear tarot)[,!.]?\s+)*"
    r"(?:will|would|should|shall|is|isn't|are|aren't|am|was|wasn't|were|do|does|doesn't|"
    r"did|didn't|don't|can|can't|could|couldn't|may|might|must|has|hasn't|have|haven't|"
    r"had|won't|wouldn't|shouldn't)\b",
    re.IGNORECASE,
)
_RU_QUESTION_WORDS = re.compile(
    r"\b(?:что|чего|чем|как|какой|какая|какие|каким|когда|где|куда|откуда|почему|зачем|"
    r"кто|кого|кому|сколько|чему)\b",
    re.IGNORECASE,
)
_OR = re.compile(r"\bor\b|\bили\b", re.IGNORECASE)


def is_yes_no_question(question: str | None) -> bool:
    """True for a question that can be answered yes or no.

    English: a sentence that opens with an auxiliary verb ("Will he call?",
    "Should I take the job?"), unless it offers a choice with "or". Russian:
    the particle "ли" ("Стоит ли…"), or a question without a question word
    ("Он вернётся?").
    """
    if not question:
        return False
    for sentence in re.split(r"(?<=[.!?])\s+", question.strip()):
        sentence = sentence.strip(" \"'“”«»")
        if not sentence or _OR.search(sentence):
            continue
        if _YES_NO_EN.match(sentence):
            return True
        if re.search(r"[а-яё]", sentence, re.IGNORECASE):
            if re.search(r"\bли\b", sentence, re.IGNORECASE):
                return True
            if sentence.endswith("?") and not _RU_QUESTION_WORDS.search(sentence):
                return True
    return False


_LOVE_WORDS = re.compile(
    r"\b(?:love|loves|loved|lover|partner|boyfriend|girlfriend|husband|wife|crush|"
    r"relationship|romance|romantic|date|dating|marry|marriage|married|ex|soulmate|"
    r"feelings?|heart|he|she|him|her|they|them|"
    r"любовь|люблю|любит|парень|девушка|муж|жена|отношения|отношениях|свадьба|бывший|бывшая|"
    r"он|она|его|её|ее)\b",
    re.IGNORECASE,
)
_CAREER_WORDS = re.compile(
    r"\b(?:job|jobs|work|working|career|boss|colleague|colleagues|money|salary|pay|raise|"
    r"business|promotion|interview|hired|hire|fired|project|client|clients|company|office|"
    r"study|studies|exam|exams|university|degree|debt|invest|investment|income|startup|"
    r"работа|работу|работе|карьера|карьеру|деньги|денег|зарплата|зарплату|бизнес|начальник|"
    r"повышение|собеседование|учёба|учеба|экзамен|проект)\b",
    re.IGNORECASE,
)


def question_topic(question: str | None) -> str | None:
    """``"career"``, ``"love"`` or ``None``: what the question is mostly about.

    Work words win over pronouns ("Will my boss give him the raise?" is about work).
    """
    if not question:
        return None
    career = len(_CAREER_WORDS.findall(question))
    love = len(_LOVE_WORDS.findall(question))
    if career and career >= love / 2:
        return "career"
    if love:
        return "love"
    return None


_LEAN_VALUE = {"yes": 1.0, "maybe": 0.0, "no": -1.0}


def _card_lean(dc: DrawnCard) -> float:
    """+1 yes, -1 no, 0 maybe; a reversed card weakens and turns its leaning."""
    value = _LEAN_VALUE[dc.card.yes_no]
    return -0.5 * value if dc.reversed else value


def yes_no_lean(draw: Draw) -> str:
    """``"yes"``, ``"no"`` or ``"maybe"``: the weighted leaning of the drawn cards.

    Each card counts +1 (yes), 0 (maybe) or -1 (no), a reversed card -0.5 times
    that; the spread's focus positions count double. An average above 0.25 is
    yes, below -0.25 no, in between maybe.
    """
    focus = set(draw.spread.focus)
    total = weight = 0.0
    for dc in draw.cards:
        w = 2.0 if dc.position.key in focus else 1.0
        total += w * _card_lean(dc)
        weight += w
    score = total / weight if weight else 0.0
    if score > 0.25:
        return "yes"
    if score < -0.25:
        return "no"
    return "maybe"


# --------------------------------------------------------------------------- the positions

_GENERAL_UP = (
    "{card} comes up here, bringing {kw1} and {kw2} into this part of your story.",
    "Here you meet {card}, a card of {kw1} and {kw2}.",
    "{card} takes this place, and it speaks of {kw1}, {kw2} and {kw3}.",
    "This place belongs to {card}, the card of {kw1} and {kw2}.",
)
_GENERAL_REV = (
    "{card} appears here reversed, which turns its energy inward or slows it down: "
    "watch for {kw1} and {kw2}.",
    "Here {card} lies upside down, and its reversed face speaks of {kw1} and {kw2}.",
    "{card} lands reversed in this place, pointing to {kw1}, {kw2} and {kw3}.",
    "In this place {card} is turned around: its lesson arrives as {kw1} and {kw2}.",
)
_LOVE = (
    "{card_o} answers here, and in matters of the heart it speaks of {kw1} and {kw2}.",
    "In this place you drew {card_o}; between two people it points to {kw1}.",
    "{card_o} takes this place, bringing {kw1} and {kw2} into the relationship.",
)
_CAREER = (
    "{card_o} comes up here; at work and with money it speaks of {kw1} and {kw2}.",
    "For your working life, {card_o} in this place points to {kw1}.",
    "Here {card_o} brings {kw1} and {kw2} into your career picture.",
)
_DAY = (
    "On {when}, {card_o} sets the tone: a day for {kw1} and {kw2}.",
    "{When} brings {card_o}, with {kw1} in the air.",
    "For {when} you drew {card_o}; expect {kw1} and {kw2} to colour the day.",
)
_WEEK = (
    "In the {when} week, {card_o} leads the way, asking for {kw1} and {kw2}.",
    "The {when} week belongs to {card_o}: a stretch for {kw1}.",
    "{card_o} shapes your {when} week, with {kw1} and {kw2} close at hand.",
)
_MONTH = (
    "The {when} month from now carries {card_o}: a season of {kw1} and {kw2}.",
    "In the {when} month, {card_o} comes forward, bringing {kw1}.",
    "Around the {when} month, {card_o} sets the mood: {kw1}, {kw2}.",
)
_THEME = (
    "Over {when}, {card_o} is the thread that runs through everything: {kw1}, {kw2}, {kw3}.",
    "{card_o} sets the spirit of {when}: a time of {kw1} and {kw2}.",
    "Hold {card_o} in mind for all of {when}; its themes of {kw1} and {kw2} will keep returning.",
)
_PATH = (
    "On your path, {card_o} stands in this place, speaking of {kw1} and {kw2}.",
    "{card_o} marks this stretch of your life path: {kw1}, {kw2}.",
    "Here your path shows {card_o}, a card of {kw1} and {kw2}.",
)
_MORE_BROADLY = ("More broadly:", "Beyond this spread:", "In its wider sense:")


def _time_kind(dc: DrawnCard, time_frame: str | None) -> tuple[tuple[str, ...], str]:
    """The templates and the ``when`` words for a position of a time spread."""
    key = dc.position.key
    if key in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
        return _DAY, dc.position.name
    if key.startswith("week_"):
        return _WEEK, ORDINALS[int(key.split("_")[1]) - 1]
    if key.startswith("month_"):
        return _MONTH, ORDINALS[int(key.split("_")[1]) - 1]
    if key in ("theme", "overview"):
        return _THEME, time_frame or "this time"
    return _PATH, ""


def _fill(template: str, dc: DrawnCard, **extra: str) -> str:
    kws = _keywords(dc)
    kws += [kws[-1]] * (3 - len(kws))
    when = extra.get("when", "")
    text = template.format(
        card=_name(dc),
        card_o=_name_o(dc),
        kw1=kws[0],
        kw2=kws[1],
        kw3=kws[2],
        when=escape(when),
        When=escape(_cap(when)),
    )
    return _cap(text) if not text.startswith("<") else text


def _position_section(draw: Draw, index: int, dc: DrawnCard) -> str:
    """One position: header, its question, a connecting sentence and the card's text."""
    spread = draw.spread
    slot = f"pos{index}"
    header = f"<b>{index}. {escape(dc.position.name)}: {escape(dc.card.name)}</b>"
    if dc.reversed:
        header += " <i>(reversed)</i>"
    question = f"<i>{escape(dc.position.question)}</i>"
    card = dc.card
    if spread.angle in ("love", "career"):
        templates, angled = (_LOVE, card.love) if spread.angle == "love" else (_CAREER, card.career)
        lead = _fill(_pick(draw.seed, slot, templates), dc)
        body = escape(angled(dc.reversed))
        wider = f"<i>{_pick(draw.seed, slot + 'w', _MORE_BROADLY)}</i> " + escape(
            _first_sentences(card.meaning(dc.reversed), 2)
        )
        text = f"{lead} {body}\n{wider}"
    elif spread.angle == "time":
        templates, when = _time_kind(dc, spread.time_frame)
        lead = _fill(_pick(draw.seed, slot, templates), dc, when=when)
        text = f"{lead} {escape(card.meaning(dc.reversed))}"
    else:
        templates = _GENERAL_REV if dc.reversed else _GENERAL_UP
        lead = _fill(_pick(draw.seed, slot, templates), dc)
        text = f"{lead} {escape(card.meaning(dc.reversed))}"
    return f"{header}\n{question}\n{text}"


# --------------------------------------------------------------------------- the whole

ELEMENT_MEANING = {
    "fire": "Fire is the element of drive, courage and creative spark: this situation asks "
    "for action, passion and the nerve to begin.",
    "water": "Water is the element of feeling, intuition and connection: what matters most "
    "here is happening in the heart, in how you and others feel.",
    "air": "Air is the element of thought, words and decisions: clarity comes from honest "
    "conversations and a clear head, perhaps after some mental knots are untied.",
    "earth": "Earth is the element of body, money, home and work: the answer lies in practical "
    "steps, patience and what you can build with your own hands.",
}
ELEMENT_MISSING = {
    "fire": "There is no fire here: if motivation feels thin, start with one small thing "
    "that genuinely excites you.",
    "water": "Water is absent: your feelings may be getting less room than they deserve.",
    "air": "No air cards appear: before you act, think it through or talk it over with "
    "someone you trust.",
    "earth": "Earth is missing: ground your plans in something concrete, a date, a budget "
    "or a first step.",
}
ELEMENT_SHORT = {
    "fire": "drive and courage",
    "water": "feeling and intuition",
    "air": "clear thought and honest words",
    "earth": "patient, practical work",
}
ELEMENT_WAY = {
    "fire": "courage and action",
    "water": "listening to your feelings",
    "air": "clear thinking and honest words",
    "earth": "patient, practical steps",
}
SUIT_ELEMENT_NAME = {
    "wands": "Wands",
    "cups": "Cups",
    "swords": "Swords",
    "pentacles": "Pentacles",
}
RANK_MEANING = {
    "ace": ("Aces", "fresh starts and raw potential: something new is trying to begin"),
    "two": ("Twos", "choices, balance and partnership: you are weighing one thing against another"),
    "three": (
        "Threes",
        "growth and collaboration: what you started is taking shape, often with others",
    ),
    "four": (
        "Fours",
        "stability and structure, and sometimes the wish to hold still a little too long",
    ),
    "five": (
        "Fives",
        "friction and change: a shake-up that, uncomfortable as it is, makes room to grow",
    ),
    "six": ("Sixes", "harmony regained, generosity, and moving on from a hard stretch"),
    "seven": (
        "Sevens",
        "reflection and testing: a time to check your strategy and trust your judgement",
    ),
    "eight": ("Eights", "movement, effort and mastery: things pick up speed once you commit"),
    "nine": (
        "Nines",
        "the threshold of completion: you are nearly there, and it is time to take stock",
    ),
    "ten": ("Tens", "endings and fulfilment: one cycle is closing so another can open"),
    "page": ("Pages", "messages, curiosity and a beginner’s mind: news or a lesson is on its way"),
    "knight": ("Knights", "pursuit and motion: events are moving, perhaps faster than you expect"),
    "queen": (
        "Queens",
        "inner mastery, care and emotional intelligence: the power of knowing yourself",
    ),
    "king": ("Kings", "authority and responsibility: it is time to take charge and lead steadily"),
}


def _names(cards: Sequence[DrawnCard]) -> str:
    return _and([_name(dc) for dc in cards])


def _arcana_paragraph(draw: Draw) -> str:
    cards = draw.cards
    majors = [dc for dc in cards if dc.card.is_major]
    n, m = len(cards), len(majors)
    seed = draw.seed
    if n == 1:
        dc = cards[0]
        if m:
            return (
                f"{_name(dc)} belongs to the Major Arcana, the cards of life’s big chapters. "
                "A single Major card is a sign that this is not a passing mood but a lesson or "
                "a turning point that deserves your full attention."
            )
        return (
            f"{_name(dc)} is a Minor Arcana card, a card of everyday life. That is good news "
            "in its own way: this is within your reach, shaped more by your choices than by fate."
        )
    if m == 0:
        return _pick(
            seed,
            "arcana0",
            (
                "There are no Major Arcana cards here at all. Whatever is going on belongs to "
                "everyday life, your choices, habits and conversations, which means you have "
                "more say in it than it may feel.",
                "Not one Major Arcana card turned up. This is a reading about the everyday: the "
                "things you can change this week with your own decisions.",
            ),
        )
    if m * 2 >= n:
        return _pick(
            seed,
            "arcana_many",
            (
                f"{_cap(_count(m, 'card'))} of the {_NUMBER_WORDS.get(n, n)} are Major Arcana "
                f"({_names(majors)}). When the big cards crowd in like this, the situation is larger "
                "than day-to-day: a chapter of your life is turning, and some of it asks for "
                "acceptance rather than control.",
                f"With {_count(m, 'Major Arcana card')} among {_NUMBER_WORDS.get(n, n)} "
                f"({_names(majors)}), this reading carries real weight. Forces bigger than a "
                "single decision are at play, and the lessons here are likely to stay with you.",
            ),
        )
    verb = "marks" if m == 1 else "mark"
    return (
        f"{_cap(_count(m, 'Major Arcana card'))} ({_names(majors)}) {verb} the deeper currents "
        f"under this reading; the other {_NUMBER_WORDS.get(n - m, n - m)} "
        f"{'is a Minor Arcana card' if n - m == 1 else 'are Minor Arcana'}, so most of what "
        "happens is in your hands, day by day."
    )


def _element_paragraph(draw: Draw) -> str:
    cards = draw.cards
    if len(cards) == 1:
        element = cards[0].card.element
        return f"Its element is {element}. {ELEMENT_MEANING[element]}"
    counts = Counter(dc.card.element for dc in cards)
    ranked = counts.most_common()
    parts = []
    top, top_count = ranked[0]
    if top_count >= 2 and (len(ranked) == 1 or ranked[1][1] < top_count):
        suits = Counter(dc.card.suit for dc in cards if dc.card.element == top and dc.card.suit)
        suit_note = ""
        if suits:
            suit, suit_count = suits.most_common(1)[0]
            if suit_count >= 2:
                suit_note = f", {_NUMBER_WORDS[suit_count]} of them {SUIT_ELEMENT_NAME[suit]}"
        parts.append(
            f"{_cap(top)} is the strongest element here ({_NUMBER_WORDS[top_count]} of "
            f"{_NUMBER_WORDS.get(len(cards), len(cards))} cards"
            f"{suit_note}). {ELEMENT_MEANING[top]}"
        )
    else:
        tied = [element for element, count in ranked if count == top_count]
        if len(tied) == 2:
            a, b = tied
            parts.append(
                f"{_cap(a)} and {b} share the lead: {ELEMENT_SHORT[a]} meets "
                f"{ELEMENT_SHORT[b]}, and this reading asks you to honour both."
            )
        else:
            parts.append(
                _pick(
                    draw.seed,
                    "elements_mixed",
                    (
                        f"No single element dominates: {_and(tied)} share the lead, a sign "
                        "that several sides of your life have a part in this.",
                        f"The elements are well mixed, with {_and(tied)} side by side: "
                        "several sides of you, heart, head, will and body, have a say here.",
                    ),
                )
            )
    if len(cards) >= 6:
        missing = [e for e in ("fire", "water", "air", "earth") if e not in counts]
        parts.extend(ELEMENT_MISSING[e] for e in missing[:2])
    return " ".join(parts)


def _reversal_paragraph(draw: Draw) -> str:
    if not draw.reversals_enabled:
        return (
            "You drew with reversals turned off, so every card speaks in its upright voice: "
            "read the challenges as invitations rather than blocks."
        )
    cards = draw.cards
    rev = [dc for dc in cards if dc.reversed]
    n, r = len(cards), len(rev)
    if n == 1:
        if r:
            return (
                "The card came up reversed. That does not make it a bad omen: a reversal "
                "usually means its energy is blocked, delayed or working on the inside, "
                "waiting for you to notice it."
            )
        return "It came up upright, so its energy is free to flow straight into your day."
    if r == 0:
        return _pick(
            draw.seed,
            "rev0",
            (
                "Every card is upright. Energy is flowing freely; what you see is largely what "
                "you get, and there is little hidden resistance.",
                "Not a single reversal: the currents here run openly, and you can work with "
                "them directly.",
            ),
        )
    if r == n:
        return (
            "Every card came up reversed, which is rare. It suggests a time of inner work: "
            "things may feel stuck or delayed on the outside while something important "
            "shifts within. Be patient with yourself."
        )
    if r * 2 > n:
        return (
            f"{_cap(_count(r, 'card'))} of {_NUMBER_WORDS.get(n, n)} are reversed ({_names(rev)}). "
            "With so many reversals, much of this story is unfolding inwardly, or meeting "
            "resistance and delay. It is a time to untangle before you push forward."
        )
    verb = "shows" if r == 1 else "show"
    return (
        f"{_cap(_count(r, 'reversed card'))} ({_names(rev)}) {verb} where energy is stuck, "
        "delayed or turned inward. Those are the places to look at gently first."
    )


def _ranks_paragraph(draw: Draw) -> str | None:
    ranks = Counter(dc.card.rank for dc in draw.cards if dc.card.rank)
    lines = []
    for rank, count in ranks.most_common():
        if count < 2:
            break
        plural, meaning = RANK_MEANING[rank]
        cards = [dc for dc in draw.cards if dc.card.rank == rank]
        lines.append(
            f"{_cap(_NUMBER_WORDS[count])} {plural} appear ({_names(cards)}), "
            f"and together they speak of {meaning}."
        )
    return " ".join(lines) if lines else None


_COMPATIBLE = {
    frozenset({"fire", "air"}): "fire and air feed each other: one brings the spark, the other "
    "the breeze that keeps it alive",
    frozenset({"water", "earth"}): "water and earth nourish each other: feeling and steadiness "
    "make a fertile ground",
    frozenset({"fire", "water"}): "fire and water make steam: passion and sensitivity can "
    "clash, and need patience to meet",
    frozenset({"air", "earth"}): "air and earth move at different speeds: ideas meet "
    "practicality, and each can teach the other",
    frozenset({"fire", "earth"}): "fire and earth can warm or scorch: drive and caution need "
    "to find a shared pace",
    frozenset({"water", "air"}): "water and air can make weather: feelings and thoughts need "
    "to be put into words",
}


def _special_paragraph(draw: Draw) -> str | None:
    """What one particular spread shows beyond the general patterns."""
    spread = draw.spread
    by_key = {dc.position.key: dc for dc in draw.cards}
    if spread.name == "relationship":
        you, them = by_key["you"], by_key["them"]
        a, b = you.card.element, them.card.element
        if a == b:
            how = f"you meet in the same element, {a}, and understand each other’s rhythm without many words"
        else:
            how = _COMPATIBLE[frozenset({a, b})]
        return f"Between you ({_name(you)}) and the other person ({_name(them)}): {how}."
    if spread.name == "week_ahead":
        bright = [dc for dc in draw.cards if not dc.reversed and dc.card.yes_no == "yes"]
        heavy = [dc for dc in draw.cards if dc.reversed or dc.card.yes_no == "no"]
        parts = []
        if bright:
            dc = next((d for d in bright if d.card.is_major), bright[0])
            parts.append(
                f"Look forward to {escape(dc.position.name)}, when {_name(dc)} brings the "
                "brightest light of the week."
            )
        gentle = [d for d in heavy if not bright or d is not dc]
        if gentle:
            dc2 = gentle[0]
            parts.append(
                f"Go gently on {escape(dc2.position.name)} ({_name_o(dc2)}); leave room to rest."
            )
        return " ".join(parts) or None
    if spread.name == "yearly_path":
        turning = [dc for dc in draw.cards if dc.card.is_major and dc.position.key != "overview"]
        if turning:
            marks = [f"{escape(dc.position.name.lower())} ({_name(dc)})" for dc in turning[:4]]
            return (
                f"The turning points of the year fall in {_and(marks)}: the Major Arcana "
                "there mark the months that may change your direction."
            )
        return (
            "No Major Arcana fall among the months themselves: the year moves steadily, shaped "
            "month by month by what you choose."
        )
    if spread.name == "celtic":
        crown, root = by_key["crown"], by_key["foundation"]
        return (
            f"Read the vertical line of the cross together: the root, {_name_o(root)}, is what "
            f"feeds this situation from below, and the crown, {_name_o(crown)}, is what you are "
            "reaching for. The outcome grows from how well those two can meet."
        )
    return None


# --------------------------------------------------------------------------- the answer


_GLOSS_UP = (
    "Its message: make room for {kw1} and {kw2} in what you do next.",
    "Take it as encouragement: {kw1} is on your side here, and {kw2} is within reach.",
    "It asks you to trust {kw1}, and to give {kw2} real room in your days.",
)
_GLOSS_REV = (
    "Reversed, it points to {kw1} and {kw2}: name them honestly and kindly, and they begin "
    "to lose their grip.",
    "Reversed, it asks you to notice {kw1} and {kw2} before they quietly steer your choices.",
    "Turned around, it shows where {kw1} and {kw2} are holding things up, and that is "
    "where gentle attention will help most.",
)


def _printed_kind(angle: str) -> str:
    """Which of a card's texts the position sections already showed."""
    return {"love": "love", "career": "career"}.get(angle, "meaning")


def _answer_text(draw: Draw, dc: DrawnCard, topic: str | None, slot: str) -> str:
    """HTML: the card's text for the question's topic, unless the reading already showed it.

    Repeating a paragraph word for word would read like a machine; in that case
    (and for questions without a topic) a short gloss on the keywords is used.
    """
    card: Card = dc.card
    if topic == "love" and _printed_kind(draw.spread.angle) != "love":
        return escape(card.love(dc.reversed))
    if topic == "career" and _printed_kind(draw.spread.angle) != "career":
        return escape(card.career(dc.reversed))
    templates = _GLOSS_REV if dc.reversed else _GLOSS_UP
    return _fill(_pick(draw.seed, slot, templates), dc)


def _focus_cards(draw: Draw) -> list[DrawnCard]:
    by_key = {dc.position.key: dc for dc in draw.cards}
    cards = [by_key[k] for k in draw.spread.focus if k in by_key]
    return cards or [draw.cards[0]]


def _dominant_element(draw: Draw) -> str:
    counts = Counter(dc.card.element for dc in draw.cards)
    best = max(counts.values())
    for dc in _focus_cards(draw) + list(draw.cards):  # ties: the focus card's element
        if counts[dc.card.element] == best:
            return dc.card.element
    return draw.cards[0].card.element  # pragma: no cover


def _yes_no_answer(draw: Draw, lean: str) -> str:
    yes = [dc for dc in draw.cards if _card_lean(dc) > 0]
    no = [dc for dc in draw.cards if _card_lean(dc) < 0]
    support = []
    if yes:
        support.append(f"{_names(yes[:4])} {'leans' if len(yes) == 1 else 'lean'} towards yes")
    if no:
        support.append(f"{_names(no[:4])} {'leans' if len(no) == 1 else 'lean'} the other way")
    support_text = _cap("; ".join(support)) + "." if support else ""
    if len(draw.cards) == 1:
        support_text = ""
    openings = {
        "yes": (
            "Asked as a yes-or-no question, the cards lean towards <b>yes</b>.",
            "The cards’ leaning is a gentle <b>yes</b>.",
        ),
        "no": (
            "Asked as a yes-or-no question, the cards lean towards <b>no</b>, or at least "
            "“not like this, not yet”.",
            "The cards’ leaning is towards <b>no</b>, or “not yet”.",
        ),
        "maybe": (
            "Asked as a yes-or-no question, the cards give <b>no clear yes or no</b>.",
            "The cards hold back from a firm answer: this one is still a <b>maybe</b>.",
        ),
    }
    closings = {
        "yes": "Tarot shows the current of things rather than a fixed verdict, so take this "
        "as encouragement to keep going, not as a promise that lets you stop trying.",
        "no": "That is not a door slammed shut: it is a hint that another route, or more time, "
        "may serve you better than pushing on this one.",
        "maybe": "The outcome still looks open, which means your next choices really do count.",
    }
    parts = [_pick(draw.seed, "yn_open", openings[lean])]
    if len(draw.cards) == 1:
        dc = draw.cards[0]
        meaning = {"yes": "a yes", "no": "a no", "maybe": "a maybe"}[dc.card.yes_no]
        if dc.reversed:
            parts.append(
                f"Upright, {_name(dc)} would be {meaning}; reversed, it softens and turns "
                "that leaning, so give it time."
            )
        else:
            parts.append(f"{_name(dc)} upright is {meaning} card.")
    elif support_text:
        parts.append(support_text)
    parts.append(closings[lean])
    return " ".join(parts)


def _where(draw: Draw, dc: DrawnCard) -> str:
    """``in position 7 (Where it can go)``."""
    return f"in position {draw.cards.index(dc) + 1} ({escape(dc.position.name)})"


def _open_answer(draw: Draw, question: str | None) -> str:
    topic = question_topic(question)
    focus = _focus_cards(draw)
    first = focus[0]
    kws = _keywords(first)
    opener = "The heart of the answer lies with" if question else "The strongest voice here is"
    lead = (
        f"{opener} {_name_o(first)}, {_where(draw, first)}: {_and(kws[:3])}. "
        f"{_answer_text(draw, first, topic, 'gloss_first')}"
    )
    parts = [lead]
    if len(focus) > 1:
        last = focus[-1]
        parts.append(
            f"{_pick(draw.seed, 'open_last', ('Looking further,', 'And where it leads,', 'Then'))} "
            f"{_name_o(last)}, {_where(draw, last)}, adds "
            f"{_and(_keywords(last)[:2])}. {_answer_text(draw, last, topic, 'gloss_last')}"
        )
    way = ELEMENT_WAY[_dominant_element(draw)]
    parts.append(
        _pick(
            draw.seed,
            "open_close",
            (
                f"Put together, the cards suggest that your way forward runs through {way}.",
                f"Taken as a whole, the reading points you towards {way}.",
                f"If there is one thread to follow from here, it is {way}.",
            ),
        )
    )
    return " ".join(parts)


def _answer_section(draw: Draw, question: str | None) -> str:
    if question:
        header = "<b>Your question</b>"
        intro = f"You asked: <i>“{escape(question)}”</i>"
        if is_yes_no_question(question):
            body = _yes_no_answer(draw, yes_no_lean(draw))
            if len(draw.cards) > 1:
                body += " " + _open_answer(draw, question)
        else:
            body = _open_answer(draw, question)
        return f"{header}\n{intro}\n{body}"
    header = "<b>The message for you</b>"
    body = _pick(
        draw.seed,
        "noq",
        (
            "Without a question to steer them, the cards still point somewhere.",
            "With no question asked, the cards speak to whatever matters most right now.",
        ),
    )
    return f"{header}\n{body} {_open_answer(draw, None)}"


def _advice_section(draw: Draw) -> str:
    by_key = {dc.position.key: dc for dc in draw.cards}
    main = by_key.get("action") or _focus_cards(draw)[0]
    lines = ["<b>Advice</b>"]
    intro = (
        f"Even reversed, {_name(main)} has advice for you:"
        if main.reversed
        else f"From {_name(main)}:"
    )
    lines.append(f"{intro}\n<blockquote>{escape(main.card.advice)}</blockquote>")
    if len(draw.cards) >= 5:
        others = [dc for dc in _focus_cards(draw) + list(draw.cards) if dc is not main]
        second = others[0]
        lines.append(
            f"And from {_name(second)}:\n<blockquote>{escape(second.card.advice)}</blockquote>"
        )
    lines.append(
        _pick(
            draw.seed,
            "closing",
            (
                "Take what resonates and leave what doesn’t. The cards describe the weather; "
                "you still choose the road.",
                "Come back to this reading in a few days: some of it may make more sense then.",
                "Whatever you decide, be kind to yourself along the way.",
                "Let this reading keep you company rather than command you. You know your life "
                "better than any card does.",
            ),
        )
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- the opening


def _opening(draw: Draw, question: str | None) -> str:
    spread = draw.spread
    title = f"your {escape(spread.title.removeprefix('The '))} spread"
    q = f"<i>“{escape(question)}”</i>" if question else ""
    stop = "" if question and question[-1] in ".?!…" else "."
    n = len(draw.cards)
    count = _count(n, "card")
    if n == 1:
        options = (
            (
                f"You asked: {q}{stop} One card came forward to answer, and a single card "
                "speaks plainly: it is the message you most need right now.",
                f"Your question was {q}{stop} It has drawn one card. Let it be a mirror rather "
                "than a verdict, and see what it shows you.",
            )
            if question
            else (
                "One card and no question: a simple way to ask what today wants you to know. "
                "Here is what came forward.",
                "You drew a single card with an open mind. Think of it as a note slipped under "
                "your door: short, and meant for you.",
            )
        )
    elif question:
        options = (
            f"You came to the cards with a question: {q}{stop} {_cap(title)} has given you {count}, "
            "and together they have something to say about it. Let’s walk through them one "
            "by one, then step back and look at the whole picture.",
            f"Your question was {q}{stop} {_cap(title)} answered with {count}; each speaks from its "
            "own place, and the real message lives in how they talk to each other.",
            f"{q} Hold that question gently in mind as you read. {_cap(title)} has laid out "
            f"{count} for you, and we’ll take them in order before drawing the threads together.",
        )
    else:
        options = (
            f"You drew {title} without a set question, which is often the best way to hear "
            f"what you need rather than what you expect. Here are your {count}.",
            f"No question this time, just an open mind and {count} in {title}. That leaves "
            "room for the cards to speak about whatever matters most right now.",
            f"An open reading: {title}, {count}, and no question to steer them. Read slowly "
            "and notice which parts make you pause; those are usually the ones meant for you.",
        )
    frame = f" The cards cover {escape(spread.time_frame)}." if spread.time_frame and n > 1 else ""
    return _pick(draw.seed, "opening", options) + frame


# --------------------------------------------------------------------------- the caption


def essence(draw: Draw, question: str | None = None) -> str:
    """One plain line that sums the reading up (for the caption and previews)."""
    first = _focus_cards(draw)[0]
    kws = list(first.card.keywords(first.reversed)[:3])
    line = f"{first.card.name}{' reversed' if first.reversed else ''}: {', '.join(kws)}"
    if question and is_yes_no_question(question):
        lean = {"yes": "leaning yes", "no": "leaning no", "maybe": "not settled yet"}
        line = f"{_cap(lean[yes_no_lean(draw)])}. {line}"
    return line


def _caption(draw: Draw, question: str | None, limit: int = CAPTION_LIMIT) -> str:
    """Title, the cards with ↑/↻ marks, one-line essence; shortened until it fits ``limit``."""
    title = f"<b>{escape(draw.spread.title)}</b>"
    q_plain = question or ""
    if len(q_plain) > 140:
        q_plain = q_plain[:139].rstrip() + "…"
    with_names = [
        f"{i}. {escape(dc.position.name)}: {escape(dc.card.name)} {dc.mark}"
        for i, dc in enumerate(draw.cards, 1)
    ]
    bare = [f"{i}. {escape(dc.card.name)} {dc.mark}" for i, dc in enumerate(draw.cards, 1)]
    line = f"✨ <i>{escape(essence(draw, question))}</i>"
    attempts = (
        (q_plain, with_names),
        (q_plain, bare),
        ("", bare),
    )
    for q, cards in attempts:
        parts = [title]
        if q:
            parts.append(f"<i>“{escape(q)}”</i>")
        parts.append("\n".join(cards))
        parts.append(line)
        caption = "\n".join(parts)
        if telegram_length(caption) <= limit:
            return caption
    return "\n".join([title, "\n".join(bare)])[:limit]  # pragma: no cover - 13 cards fit easily


# --------------------------------------------------------------------------- entry point


def compose(draw: Draw, question: str | None = None) -> Interpretation:
    """Write the reading for ``draw`` and ``question`` (already cleaned; may be None)."""
    question = " ".join(question.split()) if question else None
    sections = [f"<b>✨ {escape(draw.spread.title)}</b>", _opening(draw, question)]
    sections += [_position_section(draw, i, dc) for i, dc in enumerate(draw.cards, 1)]
    whole = [_arcana_paragraph(draw), _element_paragraph(draw), _reversal_paragraph(draw)]
    ranks = _ranks_paragraph(draw)
    if ranks:
        whole.append(ranks)
    special = _special_paragraph(draw)
    if special:
        whole.append(special)
    header = (
        "<b>The card as a whole</b>" if len(draw.cards) == 1 else "<b>The spread as a whole</b>"
    )
    sections.append(header + "\n" + "\n\n".join(whole))
    sections.append(_answer_section(draw, question))
    sections.append(_advice_section(draw))
    html_text = "\n\n".join(sections)
    return Interpretation(
        title=draw.spread.title,
        html=html_text,
        messages=split_html(html_text),
        caption=_caption(draw, question),
        author=AUTHOR,
    )
