"""The built-in interpreter: turns a draw (and a question) into a warm, written reading.

No network, no randomness: the text depends only on the draw and the
question. The wording is data (``data/phrasing/*.json``, see :mod:`.phrasing`);
where a passage has several wordings, the choice is made by hashing the draw's
seed with the passage's name, so the same reading always reads the same.

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

import contextlib
import contextvars
import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tarotbot.tarot.card_texts import OrientedTexts, load_card_texts
from tarotbot.tarot.draw import Draw, DrawnCard
from tarotbot.tarot.languages import DEFAULT_LANGUAGE, localize, plural_category
from tarotbot.tarot.phrasing import load_phrasing
from tarotbot.tarot.safety import verdict_allowed
from tarotbot.tarot.telegram_text import (
    CAPTION_LIMIT,
    escape,
    split_html,
    strip_html,
    telegram_length,
)

__all__ = [
    "Interpretation",
    "card_page",
    "compose",
    "is_yes_no_question",
    "question_kind",
    "question_topic",
    "yes_no_lean",
]

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


#: The language of the reading being written (set by :func:`compose` and :func:`card_page`).
_LANGUAGE = contextvars.ContextVar("language", default=DEFAULT_LANGUAGE)


@contextlib.contextmanager
def _writing(language: str):
    token = _LANGUAGE.set(language)
    try:
        yield
    finally:
        _LANGUAGE.reset(token)


def _phrasing():
    return load_phrasing(language=_LANGUAGE.get())


def _plural(n: int) -> str:
    return plural_category(n, _LANGUAGE.get())


def _text(path: str, **values: str) -> str:
    """The one text at ``path`` in the phrasing data, filled in."""
    return _phrasing().say(path, **values)


def _say(draw: Draw, path: str, salt: str | None = None, **values: str) -> str:
    """A sentence: one wording at ``path``, picked by the seed and ``salt`` (default ``path``)."""
    return _cap(_phrasing().say(path, draw.seed, salt, **values))


def _number(n: int) -> str:
    return _phrasing().number(n)


def _count(n: int, noun: str) -> str:
    return _text(f"grammar.counted.{noun}.{_plural(n)}", number=_number(n))


def _and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    separator = _text("grammar.list_separator")
    return _text("grammar.list_last", items=separator.join(items[:-1]), last=items[-1])


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _name(dc: DrawnCard) -> str:
    """The card's name in bold (escaped)."""
    return f"<b>{escape(dc.card.name)}</b>"


def _name_o(dc: DrawnCard) -> str:
    """The card's name in bold, with “reversed” after it when it is."""
    return _text("grammar.card_reversed", card=_name(dc)) if dc.reversed else _name(dc)


def _names(cards: Sequence[DrawnCard]) -> str:
    return _and([_name(dc) for dc in cards])


def _quoted(question: str) -> str:
    return _text("grammar.quoted_question", question=escape(question))


def _element(element: str, key: str = "name") -> str:
    return _text(f"symbolism.elements.{element}.{key}")


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


#: Words that show what a question is about, by topic (English and Russian stems).
_TOPIC_WORDS = {
    "love": (
        r"love|loves|loved|lover|partner|boyfriend|girlfriend|husband|wife|crush|relationship|"
        r"romance|romantic|date|dating|marry|marriage|married|ex|soulmate|feelings?|heart|"
        r"любов\w*|люблю|любит|парн\w*|девушк\w*|муж\w*|жен\w*|отношени\w*|свадьб\w*|бывш\w*"
    ),
    "work": (
        r"job|jobs|work|working|career|boss|colleagues?|business|promotion|interview|hired|hire|"
        r"fired|project|clients?|company|office|startup|работ\w*|карьер\w*|бизнес\w*|начальни\w*|"
        r"повышени\w*|собеседовани\w*|проект\w*|коллег\w*"
    ),
    "money": (
        r"money|salary|pay|paid|raise|debts?|invest\w*|income|savings?|loan|mortgage|rent|"
        r"finances?|financial|afford|rich|деньг\w*|денег|зарплат\w*|долг\w*|кредит\w*|"
        r"ипотек\w*|финанс\w*|доход\w*"
    ),
    "health": (
        r"health|healthy|ill|illness|sick|body|sleep|tired|exhausted|stress|doctor|diet|weight|"
        r"energy|burnout|здоров\w*|боле\w*|сон|устал\w*|стресс\w*|врач\w*|самочувстви\w*"
    ),
    "home": (
        r"home|house|flat|apartment|move|moving|family|parents?|mother|mum|mom|father|dad|"
        r"children|child|kids?|son|daughter|sister|brother|baby|дом\w*|квартир\w*|переезд\w*|"
        r"семь\w*|родител\w*|мам\w*|пап\w*|дет\w*|ребён\w*|ребен\w*|сын\w*|доч\w*"
    ),
    "study": (
        r"study|studies|studying|exams?|university|college|school|degree|course|thesis|"
        r"learn|learning|student|учёб\w*|учеб\w*|экзамен\w*|университет\w*|институт\w*|"
        r"школ\w*|диплом\w*|курс\w*|сесси\w*"
    ),
    "spiritual": (
        r"spiritual\w*|soul|purpose|meaning|faith|god|universe|intuition|meditat\w*|karma|"
        r"destiny|calling|духовн\w*|душ\w*|предназначени\w*|смысл\w*|вер\w*|интуици\w*|карм\w*"
    ),
}
_TOPIC_PATTERNS = {
    topic: re.compile(rf"\b(?:{words})\b", re.IGNORECASE) for topic, words in _TOPIC_WORDS.items()
}
_PRONOUNS = re.compile(r"\b(?:he|she|him|her|they|them|он|она|его|её|ее|ему|ей)\b", re.IGNORECASE)


def question_topic(question: str | None) -> str | None:
    """What the question is mostly about: ``love``, ``work``, ``money``, ``health``,
    ``home``, ``study``, ``spiritual``, or ``None`` (nothing in particular).

    The topic with most words wins (ties: the order above, but work and money
    before love); a question whose only clue is "he" or "she" is about love.
    """
    if not question:
        return None
    scores = {topic: len(p.findall(question)) for topic, p in _TOPIC_PATTERNS.items()}
    order = ("work", "money", "study", "home", "health", "love", "spiritual")
    best = max(order, key=lambda topic: (scores[topic], -order.index(topic)))
    if scores[best]:
        return best
    return "love" if _PRONOUNS.search(question) else None


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


# --------------------------------------------------------------------------- card texts


class _Pen:
    """One reading being written: picks card sentences by seed, never the same one twice.

    A card's texts (:mod:`.card_texts`) have several wordings per slot; the
    pen takes the wording the seed prefers for that slot and position, unless
    the reading already used it, so no sentence appears twice in one reading.
    """

    def __init__(self, draw: Draw, question: str | None):
        self.draw = draw
        self.texts = load_card_texts(language=_LANGUAGE.get())
        # a question that may get no verdict (health, the law, a fear) gets no topical
        # sentences either: "a playful romance is possible" is no answer to "is he cheating?"
        self.reflective = bool(question) and not verdict_allowed(question)
        topic = question_topic(question) or _ANGLE_TOPIC.get(draw.spread.angle)
        self.topic = None if self.reflective else topic
        self.used: set[str] = set()

    def of(self, dc: DrawnCard) -> OrientedTexts:
        return self.texts.of(dc.card.key, dc.reversed)

    def pick(self, dc: DrawnCard, options: Sequence[str], salt: str) -> str | None:
        """The seed's choice among ``options`` (escaped), skipping sentences already used."""
        fresh = [o for o in options if o not in self.used]
        if not fresh:
            return None
        digest = hashlib.sha256(f"{self.draw.seed}|{dc.card.key}|{salt}".encode()).digest()
        chosen = fresh[int.from_bytes(digest[:4], "big") % len(fresh)]
        self.used.add(chosen)
        return escape(chosen)

    def role(self, dc: DrawnCard, role: str, salt: str = "") -> str | None:
        """A sentence reading ``dc`` in ``role`` (``essence`` or one of the card texts' roles)."""
        texts = self.of(dc)
        options = texts.essence if role == "essence" else texts.roles[role]
        return self.pick(dc, options, f"{role}|{salt or dc.position.key}")

    def topical(self, dc: DrawnCard) -> str | None:
        """The card's sentence for the question's topic, once per reading."""
        if self.topic is None:
            return None
        return self.pick(dc, [self.of(dc).topics[self.topic]], "topic")

    def theme(self, dc: DrawnCard) -> str:
        """A noun phrase for what the card is about (may repeat: it is a fragment)."""
        themes = self.of(dc).theme
        digest = hashlib.sha256(f"{self.draw.seed}|{dc.card.key}|theme".encode()).digest()
        return escape(themes[digest[0] % len(themes)])


#: A spread's angle gives the topic when the question names none.
_ANGLE_TOPIC = {"love": "love", "career": "work"}


# --------------------------------------------------------------------------- the positions


def _when(dc: DrawnCard) -> tuple[str, str]:
    """The kind of moment (day, week, month) of a time position, and its words."""
    key = dc.position.key
    if key.startswith(("week_", "month_")):
        kind, number = key.split("_")
        return kind, _text(f"grammar.ordinal.{kind}.{number}")
    return "day", _text(f"grammar.day.{key}")


def _position_text(pen: _Pen, index: int, dc: DrawnCard) -> str:
    """What the card says in its place: one sentence for its role, more in small spreads."""
    role = dc.position.role
    small = len(pen.draw.cards) <= 3
    if pen.reflective:
        # a question with no verdict (an illness, a court case, a feared betrayal): the
        # cards speak of how the person meets it and what helps, never of events or
        # outcomes ("a hidden matter may surface" would feed the fear)
        role = _REFLECTIVE_ROLES[index % 2]
        sentences = [pen.role(dc, role) or ""]
        if small:
            other = _REFLECTIVE_ROLES[(index + 1) % 2]
            sentences.append(pen.role(dc, other, "more") or "")
        return " ".join(_cap(s) for s in sentences if s)
    if role == "time":
        kind, when = _when(dc)
        lead = _say(pen.draw, f"positions.lead_in.{kind}", f"lead{index}", when=when)
        pool = (*pen.of(dc).essence, *pen.of(dc).roles["advice"])
        sentence = pen.pick(dc, pool, f"time|{dc.position.key}") or ""
        sentences = [lead + sentence[:1].lower() + sentence[1:]]
    else:
        sentences = [pen.role(dc, role) or ""]
    focus = dc.position.key in pen.draw.spread.focus
    topical = pen.topical(dc) if (small or focus) else None
    if topical:
        sentences.append(topical)
    elif small:
        sentences.append(pen.role(dc, "essence" if role != "essence" else "outcome", "more") or "")
    if len(pen.draw.cards) == 1:
        sentences.append(pen.role(dc, "outcome", "single") or "")
    return " ".join(_cap(s) for s in sentences if s)


#: The roles a reflective reading reads its cards in, alternating: how you meet it, what helps.
_REFLECTIVE_ROLES = ("advice", "self")


def _position_section(pen: _Pen, index: int, dc: DrawnCard) -> str:
    """One position: its header (number, position, card) and what the card says there."""
    names = {"position": escape(dc.position.name), "card_name": escape(dc.card.name)}
    header = _text(f"positions.header.{dc.orientation}", number=str(index), **names)
    return f"{header}\n{_position_text(pen, index, dc)}"


# --------------------------------------------------------------------------- the whole


def _bright(dc: DrawnCard) -> bool:
    """An easy card here: upright and not leaning no."""
    return not dc.reversed and dc.card.yes_no != "no"


def _story(pen: _Pen) -> str | None:
    """The spread's three story positions read as one movement: from, through, toward."""
    spread = pen.draw.spread
    if not spread.story:
        return None
    by_key = {dc.position.key: dc for dc in pen.draw.cards}
    first, second, third = (pen.theme(by_key[key]) for key in spread.story)
    kind = "time" if spread.angle == "time" else "plain"
    frame = {"time_frame": escape(spread.time_frame or "")} if kind == "time" else {}
    return _say(
        pen.draw, f"synthesis.story.{kind}", first=first, second=second, third=third, **frame
    )


def _pairs(pen: _Pen, limit: int = 2) -> list[str]:
    """The spread's paired positions: where two cards support or test each other."""
    by_key = {dc.position.key: dc for dc in pen.draw.cards}
    lines = []
    for a_key, b_key in pen.draw.spread.pairs[:limit]:
        a, b = by_key[a_key], by_key[b_key]
        kind = (
            "light"
            if _bright(a) and _bright(b)
            else "heavy"
            if not (_bright(a) or _bright(b))
            else "tension"
        )
        values = {"a": escape(a.position.name.lower()), "b": escape(b.position.name.lower())}
        values |= {
            "a_card": _name_o(a),
            "b_card": _name_o(b),
            "a_theme": pen.theme(a),
            "b_theme": pen.theme(b),
        }
        lines.append(_say(pen.draw, f"synthesis.pair.{kind}", f"pair|{a_key}", **values))
    return lines


def _pattern(draw: Draw) -> str | None:
    """At most one sentence on the cards' make-up, and only when it is striking."""
    cards = draw.cards
    n = len(cards)
    if n == 1:
        kind = "single_major" if cards[0].card.is_major else "single_minor"
        return _say(draw, f"synthesis.pattern.{kind}", card=_name(cards[0]))
    majors = [dc for dc in cards if dc.card.is_major]
    reversed_ = [dc for dc in cards if dc.reversed]
    elements = Counter(dc.card.element for dc in cards).most_common()
    ranks = Counter(dc.card.rank for dc in cards if dc.card.rank).most_common(1)
    if n >= 3 and reversed_ and len(reversed_) * 2 > n:
        values = {"count": _number(len(reversed_)), "total": _number(n)}
        return _say(draw, "synthesis.pattern.reversals", **values)
    if n >= 3 and len(majors) * 2 >= n:
        values = {"count": _number(len(majors)), "total": _number(n), "names": _names(majors)}
        return _say(draw, "synthesis.pattern.majors", **values)
    if n >= 5 and not majors:
        return _say(draw, "synthesis.pattern.no_majors")
    top, count = elements[0]
    if n >= 3 and count * 2 > n and (len(elements) == 1 or elements[1][1] < count):
        values = {"element": _element(top), "count": _number(count), "total": _number(n)}
        return _say(draw, "synthesis.pattern.element", meaning=_element(top, "in_short"), **values)
    if ranks and ranks[0][1] >= 2:
        rank, count = ranks[0]
        named = _names([dc for dc in cards if dc.card.rank == rank])
        values = {"rank": _text(f"symbolism.ranks.{rank}.plural"), "names": named}
        meaning = _text(f"symbolism.ranks.{rank}.meaning")
        return _say(draw, "synthesis.pattern.rank", count=_number(count), meaning=meaning, **values)
    return None


def _special(draw: Draw) -> str | None:
    """What one particular spread shows beyond its story and pairs."""
    spread = draw.spread
    if spread.name == "week_ahead":
        bright = [dc for dc in draw.cards if _bright(dc)]
        heavy = [dc for dc in draw.cards if not _bright(dc)]
        parts = []
        if bright:
            best = next((d for d in bright if d.card.is_major), bright[0])
            day = escape(best.position.name)
            parts.append(
                _say(draw, "synthesis.week_ahead.brightest_day", day=day, card=_name(best))
            )
        if heavy:
            day = {"day": escape(heavy[0].position.name), "card_as_drawn": _name_o(heavy[0])}
            parts.append(_say(draw, "synthesis.week_ahead.gentle_day", **day))
        return " ".join(parts) or None
    if spread.name == "yearly_path":
        turning = [dc for dc in draw.cards if dc.card.is_major and dc.position.key != "overview"]
        if turning:
            path = "synthesis.yearly_path.turning_point"
            months = [(escape(dc.position.name.lower()), _name(dc)) for dc in turning[:4]]
            marks = [_text(path, month=month, card=card) for month, card in months]
            return _say(draw, "synthesis.yearly_path.turning_points", months=_and(marks))
        return _say(draw, "synthesis.yearly_path.no_turning_points")
    return None


def _synthesis(pen: _Pen) -> str:
    if pen.reflective:  # themes like "a secret kept behind a closed door" would feed a fear
        parts = [_pattern(pen.draw)]
    else:
        parts = [_story(pen), *_pairs(pen), _special(pen.draw), _pattern(pen.draw)]
    kind = "single_card" if len(pen.draw.cards) == 1 else "spread"
    return _text(f"synthesis.header.{kind}") + "\n" + " ".join(p for p in parts if p)


# --------------------------------------------------------------------------- the answer


def _focus_cards(draw: Draw) -> list[DrawnCard]:
    by_key = {dc.position.key: dc for dc in draw.cards}
    cards = [by_key[k] for k in draw.spread.focus if k in by_key]
    return cards or [draw.cards[0]]


_TIMING = re.compile(
    r"^\W*(?:when|how soon|how long|until when|когда|как скоро|сколько ждать)\b", re.I
)
_ADVICE = re.compile(
    r"\b(?:should i|should we|what can i do|what do i do|what should|how can i|how do i|how should|"
    r"how to|what do i need|что (?:мне|нам) делать|как (?:мне|нам)|что делать)\b",
    re.I,
)
_CAUSE = re.compile(r"^\W*(?:why|почему|зачем|из-за чего)\b", re.I)
_OBSTACLE = re.compile(
    r"\b(?:block\w*|hold\w* me back|holding \w+ back|stop\w* me|in my way|obstacles?|stuck|"
    r"standing between|мешает|блок\w*|препятстви\w*|держит меня)\b",
    re.I,
)


def question_kind(question: str | None) -> str:
    """What an open question asks for: ``timing``, ``obstacle``, ``cause``, ``advice`` or
    ``outcome``."""
    if not question:
        return "outcome"
    if _TIMING.search(question):
        return "timing"
    if _OBSTACLE.search(question):
        return "obstacle"
    if _CAUSE.search(question):
        return "cause"
    if _ADVICE.search(question):
        return "advice"
    return "outcome"


#: Which of a card's roles answers each kind of question, best first.
_KIND_ROLES = {
    "outcome": ("outcome", "essence"),
    "advice": ("advice", "strength"),
    "cause": ("hidden", "past"),
    "timing": ("outcome", "essence"),
    "obstacle": ("obstacle", "hidden"),
}


def _where(draw: Draw, dc: DrawnCard) -> str:
    number, position = str(draw.cards.index(dc) + 1), escape(dc.position.name)
    return _text("answer.where", number=number, position=position)


def _card_answer(pen: _Pen, dc: DrawnCard, kind: str) -> str:
    """The card's own words for this kind of question, and its topic sentence if unused."""
    sentences = []
    for role in _KIND_ROLES[kind]:
        sentence = pen.role(dc, role, "answer")
        if sentence:
            sentences.append(sentence)
            break
    topical = pen.topical(dc)
    if topical:
        sentences.append(topical)
    return " ".join(_cap(s) for s in sentences)


def _open_answer(pen: _Pen, question: str | None) -> str:
    """The answer from the spread's focus cards, in the terms the question asks."""
    draw = pen.draw
    kind = question_kind(question)
    focus = _focus_cards(draw)
    main = focus[-1] if kind in ("outcome", "timing") else focus[0]
    if kind == "obstacle":  # the card in the obstacle's place, if the spread has one
        main = next((dc for dc in draw.cards if dc.position.role == "obstacle"), main)
    values = {"card_as_drawn": _name_o(main), "where": _where(draw, main)}
    lead = _say(draw, f"answer.open.{kind}", "open_lead", **values)
    return f"{lead} {_card_answer(pen, main, kind)}"


def _reflective_answer(pen: _Pen) -> str:
    """For a question that must get no verdict: the focus cards as themes to reflect on."""
    draw = pen.draw
    parts = [_say(draw, "answer.reflective.intro", "reflect")]
    for i, dc in enumerate(_focus_cards(draw)[:2]):
        path = "answer.reflective.lead" if i == 0 else "answer.reflective.further"
        values = {"card_as_drawn": _name_o(dc), "where": _where(draw, dc)}
        parts.append(_say(draw, path, f"reflect{i}", **values))
    parts.append(
        _say(draw, f"answer.reflective.close.{_focus_cards(draw)[0].orientation}", "reflect_close")
    )
    return " ".join(parts)


def _yes_no_answer(pen: _Pen, question: str) -> str:
    draw = pen.draw
    lean = yes_no_lean(draw)
    parts = [_say(draw, f"answer.yes_no.opening.{lean}", "yn_open")]
    if len(draw.cards) == 1:
        dc = draw.cards[0]
        leaning = _text(f"answer.yes_no.card_leaning.{dc.card.yes_no}")
        path = f"answer.yes_no.single_card.{dc.orientation}"
        parts.append(_say(draw, path, card=_name(dc), leaning=leaning))
    else:
        yes = [dc for dc in draw.cards if _card_lean(dc) > 0]
        no = [dc for dc in draw.cards if _card_lean(dc) < 0]
        support = [
            _text(f"answer.yes_no.{side}.{_plural(len(cards))}", names=_names(cards[:4]))
            for side, cards in (("cards_for_yes", yes), ("cards_for_no", no))
            if cards
        ]
        if support:
            parts.append(_cap("; ".join(support)) + ".")
    parts.append(_say(draw, f"answer.yes_no.closing.{lean}"))
    kind = question_kind(question)
    main = _focus_cards(draw)[-1 if kind == "outcome" else 0]
    card_answer = _card_answer(pen, main, "advice" if _ADVICE.search(question) else "outcome")
    return " ".join([*parts, card_answer] if card_answer else parts)


def _answer_section(pen: _Pen, question: str | None) -> str:
    draw = pen.draw
    if not question:
        header = _text("answer.no_question.header")
        return f"{header}\n{_open_answer(pen, None)}"
    header = _text("answer.question.header")
    intro = _say(draw, "answer.question.intro", question=_quoted(question))
    if not verdict_allowed(question):  # health, the law, a fear: reflect, never yes/no
        body = _reflective_answer(pen)
    elif is_yes_no_question(question):
        body = _yes_no_answer(pen, question)
    else:
        body = _open_answer(pen, question)
    return f"{header}\n{intro} {body}"


def _advice_section(pen: _Pen) -> str:
    """What the spread as a whole advises: the action card's advice, or the focus card's."""
    draw = pen.draw
    by_key = {dc.position.key: dc for dc in draw.cards}
    ranked = [by_key[k] for k in ("action", "next_step") if k in by_key] + _focus_cards(draw)
    ranked += [dc for dc in draw.cards if dc not in ranked]
    lines = [_text("advice.header")]
    wanted = 2 if len(draw.cards) >= 5 and not pen.reflective else 1
    given = 0
    for dc in ranked:
        advice = pen.role(dc, "advice", "advice")
        if not advice:
            continue
        path = f"advice.main.{dc.orientation}" if given == 0 else "advice.second"
        lines.append(_say(draw, path, f"advice{given}", card=_name(dc), advice=_cap(advice)))
        given += 1
        if given == wanted:
            break
    lines.append(_say(draw, "advice.closing", "closing"))
    return "\n".join(lines)


# --------------------------------------------------------------------------- the opening


def _opening(draw: Draw, question: str | None) -> str:
    spread = draw.spread
    n = len(draw.cards)
    asked = "question" if question else "no_question"
    stop = "" if question and question[-1] in ".?!…" else "."
    values = {"question": _quoted(question), "stop": stop} if question else {}
    if n > 1:
        values |= {"spread": escape(spread.title.removeprefix("The ")), "cards": _count(n, "cards")}
    path = f"opening.{asked}" if n > 1 else f"opening.single_card.{asked}"
    return _say(draw, path, "opening", **values)


# --------------------------------------------------------------------------- the caption


def essence(draw: Draw, question: str | None = None) -> str:
    """One plain line that sums the reading up (for the caption and previews)."""
    first = _focus_cards(draw)[0]
    kws = ", ".join(first.card.keywords(first.reversed)[:3])
    line = _text(f"caption.essence.{first.orientation}", card_name=first.card.name, keywords=kws)
    if question and is_yes_no_question(question) and verdict_allowed(question):
        lean = _cap(_text(f"caption.leaning.{yes_no_lean(draw)}"))
        line = _text("caption.essence_with_leaning", leaning=lean, essence=line)
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
            parts.append(_quoted(q))
        parts.append("\n".join(cards))
        parts.append(line)
        caption = "\n".join(parts)
        if telegram_length(caption) <= limit:
            return caption
    return "\n".join([title, "\n".join(bare)])[:limit]  # pragma: no cover - 13 cards fit easily


# --------------------------------------------------------------------------- entry point


def compose(
    draw: Draw, question: str | None = None, language: str = DEFAULT_LANGUAGE
) -> Interpretation:
    """Write the reading for ``draw`` and ``question`` (already cleaned; may be None) in
    ``language``."""
    with _writing(language):
        return _compose(localize(draw, language), question)


def _compose(draw: Draw, question: str | None) -> Interpretation:
    question = " ".join(question.split()) if question else None
    pen = _Pen(draw, question)
    sections = [f"<b>✨ {escape(draw.spread.title)}</b>", _opening(draw, question)]
    sections += [_position_section(pen, i, dc) for i, dc in enumerate(draw.cards, 1)]
    sections.append(_synthesis(pen))
    sections.append(_answer_section(pen, question))
    sections.append(_advice_section(pen))
    html_text = "\n\n".join(sections)
    return Interpretation(
        title=draw.spread.title,
        html=html_text,
        messages=split_html(html_text),
        caption=_caption(draw, question),
        author=AUTHOR,
    )


def card_page(draw: Draw, number: int, language: str = DEFAULT_LANGUAGE) -> str:
    """HTML: everything about card ``number`` (1-based) of ``draw``, for "More about card N".

    The reading gives each card a sentence or two; this is the card's whole
    text in its orientation, what it says in love and at work, and its advice.
    """
    with _writing(language):
        return _card_page(localize(draw, language), number)


def _card_page(draw: Draw, number: int) -> str:
    dc = draw.cards[number - 1]
    card, rev = dc.card, dc.reversed
    names = {"position": escape(dc.position.name), "card_name": escape(card.name)}
    lines = [_text(f"positions.header.{dc.orientation}", number=str(number), **names)]
    lines.append(f"<i>{escape(dc.position.question)}</i>")
    lines.append(_text("card_page.keywords", keywords=escape(", ".join(card.keywords(rev)))))
    lines.append(escape(card.meaning(rev)))
    lines.append(_text("card_page.love", text=escape(card.love(rev))))
    lines.append(_text("card_page.work", text=escape(card.career(rev))))
    advice = load_card_texts(language=_LANGUAGE.get()).of(card.key, rev).roles["advice"][0]
    lines.append(_text("card_page.advice", text=escape(_cap(advice))))
    return "\n\n".join(lines)
