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

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tarotbot.tarot.deck import ELEMENTS, Card
from tarotbot.tarot.draw import Draw, DrawnCard
from tarotbot.tarot.phrasing import load_phrasing, plural_category
from tarotbot.tarot.safety import verdict_allowed
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


def _text(path: str, **values: str) -> str:
    """The one text at ``path`` in the phrasing data, filled in."""
    return load_phrasing().say(path, **values)


def _say(draw: Draw, path: str, salt: str | None = None, **values: str) -> str:
    """A sentence: one wording at ``path``, picked by the seed and ``salt`` (default ``path``)."""
    return _cap(load_phrasing().say(path, draw.seed, salt, **values))


def _number(n: int) -> str:
    return load_phrasing().number(n)


def _count(n: int, noun: str) -> str:
    return _text(f"grammar.counted.{noun}.{plural_category(n)}", number=_number(n))


def _and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    separator = _text("grammar.list_separator")
    return _text("grammar.list_last", items=separator.join(items[:-1]), last=items[-1])


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
    return _text("grammar.card_reversed", card=_name(dc)) if dc.reversed else _name(dc)


def _names(cards: Sequence[DrawnCard]) -> str:
    return _and([_name(dc) for dc in cards])


def _keywords(dc: DrawnCard) -> list[str]:
    return [escape(k) for k in dc.card.keywords(dc.reversed)]


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


def _time_kind(dc: DrawnCard, time_frame: str | None) -> tuple[str, dict[str, str]]:
    """The kind of lead (``positions.lead.<kind>``) and its ``when`` for a time spread."""
    key = dc.position.key
    if key in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
        return "day", {"when": escape(dc.position.name)}
    if key.startswith(("week_", "month_")):
        return key.split("_")[0], {"when": escape(ORDINALS[int(key.split("_")[1]) - 1])}
    if key in ("theme", "overview"):
        return "theme", {"when": escape(time_frame or "") or _text("positions.theme_when")}
    return "path", {}


def _fill(draw: Draw, path: str, salt: str, dc: DrawnCard, **extra: str) -> str:
    """A sentence about ``dc``: its name (with or without the orientation) and keywords."""
    keywords = {f"keyword{i}": kw for i, kw in enumerate(_keywords(dc)[:3], 1)}  # 3..6 in a card
    return _say(draw, path, salt, card=_name(dc), card_as_drawn=_name_o(dc), **keywords, **extra)


def _position_section(draw: Draw, index: int, dc: DrawnCard) -> str:
    """One position: header, its question, a connecting sentence and the card's text."""
    spread = draw.spread
    slot = f"pos{index}"
    names = {"position": escape(dc.position.name), "card_name": escape(dc.card.name)}
    header = _text(f"positions.header.{dc.orientation}", number=str(index), **names)
    question = f"<i>{escape(dc.position.question)}</i>"
    card = dc.card
    if spread.angle in ("love", "career"):
        angled = card.love if spread.angle == "love" else card.career
        lead = _fill(draw, f"positions.lead.{spread.angle}", slot, dc)
        body = escape(angled(dc.reversed))
        meaning = escape(_first_sentences(card.meaning(dc.reversed), 2))
        wider = _say(draw, "positions.wider_meaning", slot + "w", meaning=meaning)
        text = f"{lead} {body}\n{wider}"
    elif spread.angle == "time":
        kind, when = _time_kind(dc, spread.time_frame)
        lead = _fill(draw, f"positions.lead.{kind}", slot, dc, **when)
        text = f"{lead} {escape(card.meaning(dc.reversed))}"
    else:
        lead = _fill(draw, f"positions.lead.general.{dc.orientation}", slot, dc)
        text = f"{lead} {escape(card.meaning(dc.reversed))}"
    return f"{header}\n{question}\n{text}"


# --------------------------------------------------------------------------- the whole


def _arcana_paragraph(draw: Draw) -> str:
    cards = draw.cards
    majors = [dc for dc in cards if dc.card.is_major]
    n, m = len(cards), len(majors)
    if n == 1:
        kind = "single_major" if m else "single_minor"
        return _say(draw, f"synthesis.arcana.{kind}", card=_name(cards[0]))
    if m == 0:
        return _say(draw, "synthesis.arcana.none", "arcana0")
    counted = {"names": _names(majors), "major_cards": _count(m, "major_cards")}
    if m * 2 >= n:
        counted |= {"cards": _count(m, "cards"), "total": _number(n)}
        return _say(draw, "synthesis.arcana.most", "arcana_many", **counted)
    others = _text(f"synthesis.arcana.other_minors.{plural_category(n - m)}", number=_number(n - m))
    return _say(draw, f"synthesis.arcana.some.{plural_category(m)}", others=others, **counted)


def _element_paragraph(draw: Draw) -> str:
    cards = draw.cards
    if len(cards) == 1:
        e = cards[0].card.element
        meaning = _say(draw, f"symbolism.elements.{e}.meaning")
        return _say(draw, "synthesis.elements.single_card", element=_element(e), meaning=meaning)
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
                note = {"count": _number(suit_count), "suit": _text(f"symbolism.suits.{suit}")}
                suit_note = _text("synthesis.elements.suit_note", **note)
        meaning = _say(draw, f"symbolism.elements.{top}.meaning")
        counted = {"count": _number(top_count), "total": _number(len(cards))}
        counted |= {"element": _element(top), "meaning": meaning, "suit_note": suit_note}
        parts.append(_say(draw, "synthesis.elements.dominant", **counted))
    else:
        tied = [element for element, count in ranked if count == top_count]
        if len(tied) == 2:
            a, b = tied
            two = {"first": _element(a), "first_short": _element(a, "in_short")}
            two |= {"second": _element(b), "second_short": _element(b, "in_short")}
            parts.append(_say(draw, "synthesis.elements.two_lead", **two))
        else:
            mixed = {"elements": _and([_element(e) for e in tied])}
            parts.append(_say(draw, "synthesis.elements.mixed", "elements_mixed", **mixed))
    if len(cards) >= 6:
        missing = [e for e in ELEMENTS if e not in counts]
        parts.extend(_say(draw, f"symbolism.elements.{e}.missing") for e in missing[:2])
    return " ".join(parts)


def _reversal_paragraph(draw: Draw) -> str:
    if not draw.reversals_enabled:
        return _say(draw, "synthesis.reversals.turned_off")
    cards = draw.cards
    rev = [dc for dc in cards if dc.reversed]
    n, r = len(cards), len(rev)
    if n == 1:
        return _say(draw, f"synthesis.reversals.single_{cards[0].orientation}")
    if r == 0:
        return _say(draw, "synthesis.reversals.none", "rev0")
    if r == n:
        return _say(draw, "synthesis.reversals.all")
    if r * 2 > n:
        counted = {"cards": _count(r, "cards"), "total": _number(n), "names": _names(rev)}
        return _say(draw, "synthesis.reversals.most", **counted)
    counted = {"reversed_cards": _count(r, "reversed_cards"), "names": _names(rev)}
    return _say(draw, f"synthesis.reversals.some.{plural_category(r)}", **counted)


def _ranks_paragraph(draw: Draw) -> str | None:
    ranks = Counter(dc.card.rank for dc in draw.cards if dc.card.rank)
    lines = []
    for rank, count in ranks.most_common():
        if count < 2:
            break
        cards = [dc for dc in draw.cards if dc.card.rank == rank]
        values = {"rank": _text(f"symbolism.ranks.{rank}.plural"), "names": _names(cards)}
        values |= {"count": _number(count), "meaning": _text(f"symbolism.ranks.{rank}.meaning")}
        lines.append(_say(draw, "synthesis.repeated_rank", **values))
    return " ".join(lines) if lines else None


def _special_paragraph(draw: Draw) -> str | None:
    """What one particular spread shows beyond the general patterns."""
    spread = draw.spread
    by_key = {dc.position.key: dc for dc in draw.cards}
    if spread.name == "relationship":
        you, them = by_key["you"], by_key["them"]
        a, b = you.card.element, them.card.element
        if a == b:
            how = _text("synthesis.relationship.same_element", element=_element(a))
        else:
            how = _text(f"symbolism.element_pairs.{'+'.join(sorted((a, b)))}")
        pair = {"you": _name(you), "them": _name(them)}
        return _say(draw, "synthesis.relationship.between", how=how, **pair)
    if spread.name == "week_ahead":
        bright = [dc for dc in draw.cards if not dc.reversed and dc.card.yes_no == "yes"]
        heavy = [dc for dc in draw.cards if dc.reversed or dc.card.yes_no == "no"]
        parts = []
        if bright:
            dc = next((d for d in bright if d.card.is_major), bright[0])
            day = escape(dc.position.name)
            parts.append(_say(draw, "synthesis.week_ahead.brightest_day", day=day, card=_name(dc)))
        gentle = [d for d in heavy if not bright or d is not dc]
        if gentle:
            dc2 = gentle[0]
            gentle_day = {"day": escape(dc2.position.name), "card_as_drawn": _name_o(dc2)}
            parts.append(_say(draw, "synthesis.week_ahead.gentle_day", **gentle_day))
        return " ".join(parts) or None
    if spread.name == "yearly_path":
        turning = [dc for dc in draw.cards if dc.card.is_major and dc.position.key != "overview"]
        if turning:
            path = "synthesis.yearly_path.turning_point"
            months = [(escape(dc.position.name.lower()), _name(dc)) for dc in turning[:4]]
            marks = [_text(path, month=month, card=card) for month, card in months]
            return _say(draw, "synthesis.yearly_path.turning_points", months=_and(marks))
        return _say(draw, "synthesis.yearly_path.no_turning_points")
    if spread.name == "celtic":
        root, crown = _name_o(by_key["foundation"]), _name_o(by_key["crown"])
        return _say(draw, "synthesis.celtic.root_and_crown", root=root, crown=crown)
    return None


# --------------------------------------------------------------------------- the answer


def _printed_kind(angle: str) -> str:
    """Which of a card's texts the position sections already showed."""
    return {"love": "love", "career": "career"}.get(angle, "meaning")


def _answer_text(
    draw: Draw, dc: DrawnCard, topic: str | None, slot: str, gloss: str = "answer.gloss"
) -> str:
    """HTML: the card's text for the question's topic, unless the reading already showed it.

    Repeating a paragraph word for word would read like a machine; in that case
    (and for questions without a topic) a short gloss on the keywords is used.
    """
    card: Card = dc.card
    if topic == "love" and _printed_kind(draw.spread.angle) != "love":
        return escape(card.love(dc.reversed))
    if topic == "career" and _printed_kind(draw.spread.angle) != "career":
        return escape(card.career(dc.reversed))
    return _fill(draw, f"{gloss}.{dc.orientation}", slot, dc)


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
    support = [
        _text(f"answer.yes_no.{side}.{plural_category(len(cards))}", names=_names(cards[:4]))
        for side, cards in (("cards_for_yes", yes), ("cards_for_no", no))
        if cards
    ]
    support_text = _cap("; ".join(support)) + "." if support else ""
    if len(draw.cards) == 1:
        support_text = ""
    parts = [_say(draw, f"answer.yes_no.opening.{lean}", "yn_open")]
    if len(draw.cards) == 1:
        dc = draw.cards[0]
        leaning, path = dc.card.yes_no, f"answer.yes_no.single_card.{dc.orientation}"
        leaning = _text(f"answer.yes_no.card_leaning.{leaning}")
        parts.append(_say(draw, path, card=_name(dc), leaning=leaning))
    elif support_text:
        parts.append(support_text)
    parts.append(_say(draw, f"answer.yes_no.closing.{lean}"))
    return " ".join(parts)


def _named_at(draw: Draw, dc: DrawnCard, keywords: int) -> dict[str, str]:
    """The card as drawn, ``in position 7 (Where it can go)`` and its first keywords."""
    number, position = str(draw.cards.index(dc) + 1), escape(dc.position.name)
    where = _text("answer.where", number=number, position=position)
    keywords_ = _and(_keywords(dc)[:keywords])
    return {"card_as_drawn": _name_o(dc), "where": where, "keywords": keywords_}


def _open_answer(draw: Draw, question: str | None, reflective: bool = False) -> str:
    """The answer from the spread's central cards.

    ``reflective`` (a question that must get no verdict): the cards are named as
    themes to reflect on, never as "the answer", and never with a topic's text.
    """
    topic = None if reflective else question_topic(question)
    focus = _focus_cards(draw)
    first = focus[0]
    if reflective:
        lead_path, further_path, gloss = (
            "answer.reflective.lead",
            "answer.reflective.further",
            "answer.reflective.gloss",
        )
    else:
        lead_path = "answer.open.lead." + ("question" if question else "no_question")
        further_path, gloss = "answer.open.further", "answer.gloss"
    lead = _say(draw, lead_path, **_named_at(draw, first, 3))
    parts = [f"{lead} {_answer_text(draw, first, topic, 'gloss_first', gloss)}"]
    if len(focus) > 1:
        last = focus[-1]
        further = _say(draw, further_path, "open_last", **_named_at(draw, last, 2))
        gloss_last = (
            "" if reflective else " " + _answer_text(draw, last, topic, "gloss_last", gloss)
        )
        parts.append(further + gloss_last)
    way = _text(f"symbolism.elements.{_dominant_element(draw)}.way_forward")
    parts.append(_say(draw, "answer.open.way_forward", "open_close", way=way))
    return " ".join(parts)


def _answer_section(draw: Draw, question: str | None) -> str:
    if question:
        header = _text("answer.question.header")
        intro = _say(draw, "answer.question.intro", question=_quoted(question))
        if not verdict_allowed(question):  # health, the law, a fear: reflect, never yes/no
            reflect = _say(draw, "answer.reflective.intro", "reflect")
            body = f"{reflect} {_open_answer(draw, question, reflective=True)}"
        elif is_yes_no_question(question):
            body = _yes_no_answer(draw, yes_no_lean(draw))
            if len(draw.cards) > 1:
                body += " " + _open_answer(draw, question)
        else:
            body = _open_answer(draw, question)
        return f"{header}\n{intro}\n{body}"
    header = _text("answer.no_question.header")
    body = _say(draw, "answer.no_question.intro", "noq")
    return f"{header}\n{body} {_open_answer(draw, None)}"


def _advice_section(draw: Draw) -> str:
    by_key = {dc.position.key: dc for dc in draw.cards}
    main = by_key.get("action") or _focus_cards(draw)[0]
    lines = [_text("advice.header")]
    advice = escape(main.card.advice)
    lines.append(_say(draw, f"advice.main.{main.orientation}", card=_name(main), advice=advice))
    if len(draw.cards) >= 5:
        others = [dc for dc in _focus_cards(draw) + list(draw.cards) if dc is not main]
        second = others[0]
        advice = escape(second.card.advice)
        lines.append(_say(draw, "advice.second", card=_name(second), advice=advice))
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
    text = _say(draw, path, "opening", **values)
    if spread.time_frame and n > 1:
        text += " " + _say(draw, "opening.time_frame", time_frame=escape(spread.time_frame))
    return text


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
    header = _text("synthesis.header." + ("single_card" if len(draw.cards) == 1 else "spread"))
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
