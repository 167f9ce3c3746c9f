"""The content report: what the composer writes, measured over many readings.

Generates readings of every spread from fixed seeds and a fixed list of
questions, and measures what a paying user would notice: length (words per
reading), repetition (the share of long sentences that appear in more than one
reading of the same spread) and template slips (unfilled placeholders, stray
spacing, a sentence starting in lower case). ``python -m tarotbot
content-report`` prints it; the tests hold the composer to its targets.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tarotbot.tarot.compose import compose
from tarotbot.tarot.draw import draw
from tarotbot.tarot.spreads import SPREADS
from tarotbot.tarot.telegram_text import strip_html

__all__ = ["LENGTH_TARGETS", "QUESTIONS", "SpreadReport", "content_report", "problems", "sentences"]

#: Questions people ask, of every kind the composer distinguishes (None: no question).
QUESTIONS_EN: tuple[str | None, ...] = (
    None,
    "Will I get the job?",
    "What do I need to know about my relationship?",
    "Should I move to another city?",
    "Why do I keep falling out with my sister?",
    "When will I meet someone?",
    "How can I make my business grow?",
    "Is he thinking about me?",
    "What should I focus on this year?",
    "Will I pass my exams?",
    "How do I find my purpose?",
    "Should I ask for a raise?",
    "What is blocking me at work?",
    "Will we buy a house this year?",
    "Does she still love me?",
    "What can I do to feel less stressed?",
    "Is it time to change careers?",
    "Will my savings be enough?",
    "What does my spiritual path ask of me?",
    "Should I go back to university?",
    "How will the move affect my family?",
    "Can I trust my new business partner?",
    "What lesson is this breakup teaching me?",
    "Will my friend and I make up?",
    "What should I know about the month ahead?",
    "Is my husband cheating on me?",
    "Do I have a serious illness?",
    "Will I win my court case?",
    "How can I get on better with my colleagues?",
    "What is my next step?",
    "Should I lend my brother money?",
    "What do my dreams keep telling me?",
)
QUESTIONS_RU: tuple[str | None, ...] = (
    None,
    "Получу ли я эту работу?",
    "Что мне нужно знать о моих отношениях?",
    "Стоит ли мне переехать в другой город?",
    "Почему мы постоянно ссоримся с сестрой?",
    "Когда я встречу своего человека?",
    "Как мне развить своё дело?",
    "Думает ли он обо мне?",
    "На чём мне сосредоточиться в этом году?",
    "Сдам ли я экзамены?",
    "Как найти своё предназначение?",
    "Стоит ли просить повышения зарплаты?",
    "Что мешает мне на работе?",
    "Купим ли мы квартиру в этом году?",
    "Любит ли она меня до сих пор?",
    "Что мне сделать, чтобы меньше тревожиться?",
    "Не пора ли сменить профессию?",
    "Хватит ли мне накоплений?",
    "О чём говорит мой духовный путь?",
    "Стоит ли вернуться в университет?",
    "Как переезд скажется на моей семье?",
    "Можно ли доверять новому партнёру по бизнесу?",
    "Чему меня учит это расставание?",
    "Помиримся ли мы с подругой?",
    "Что мне знать о ближайшем месяце?",
    "Муж мне изменяет?",
    "Есть ли у меня серьёзная болезнь?",
    "Выиграю ли я суд?",
    "Как наладить отношения с коллегами?",
    "Каков мой следующий шаг?",
    "Стоит ли одолжить брату денег?",
    "О чём говорят мои сны?",
)
#: The questions of each language the report asks.
QUESTIONS = {"en": QUESTIONS_EN, "ru": QUESTIONS_RU}

#: Words per reading people should get, by spread ("about": a guide, not a wall).
LENGTH_TARGETS = {
    "single": (120, 200),
    "three": (250, 400),
    "celtic": (0, 700),
    "yearly_path": (0, 900),
}

LONG_SENTENCE = 8  # words: shorter sentences ("Be kind to yourself.") may well repeat
_WORD = re.compile(r"[^\W_]+(?:[’'-][^\W_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+|\n+")
_SLIPS = {
    "unfilled placeholder": re.compile(r"[{}]"),
    "empty value": re.compile(r"\bNone\b|\(\s*\)|“\s*”"),
    "space before punctuation": re.compile(r" [,.;:!?]"),
    "double space": re.compile(r"[^\s] {2,}[^\s]"),
    "doubled punctuation": re.compile(r"(?<!\.)\.\.(?!\.)|,,|;;|\.,|,\."),
    "doubled word": re.compile(r"\b([a-zа-яё]+) \1\b(?!-)", re.IGNORECASE),  # not "что что-то"
}


def sentences(text: str) -> list[str]:
    """The sentences of plain text (headers and list lines count as their own)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def words(text: str) -> int:
    return len(_WORD.findall(text))


def _normal(sentence: str) -> str:
    return " ".join(_WORD.findall(sentence.lower()))


def problems(text: str, question: str | None = None) -> list[str]:
    """Template slips in a reading's plain text (the question itself is not judged)."""
    if question:
        text = text.replace(question, "Q")
    found = [f"{name}: {m.group(0)!r}" for name, rx in _SLIPS.items() for m in rx.finditer(text)]
    for sentence in sentences(text):
        first = re.sub(r"^\d+\.\s+", "", sentence).lstrip("“\"'(«*–—-•✨ ")
        if first[:1].islower():
            found.append(f"starts in lower case: {sentence[:60]!r}")
    return found


@dataclass
class SpreadReport:
    """What the readings of one spread add up to."""

    spread: str
    readings: int = 0
    word_counts: list[int] = field(default_factory=list)
    long_sentences: int = 0  # distinct sentences of LONG_SENTENCE words or more
    repeated: int = 0  # of those, the ones in more than one reading
    problems: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # the most repeated sentences

    @property
    def repeated_share(self) -> float:
        return self.repeated / self.long_sentences if self.long_sentences else 0.0

    def as_dict(self) -> dict:
        low, high = LENGTH_TARGETS.get(self.spread, (0, None))
        return {
            "readings": self.readings,
            "words_median": statistics.median(self.word_counts) if self.word_counts else 0,
            "words_max": max(self.word_counts, default=0),
            "words_min": min(self.word_counts, default=0),
            "target": [low, high],
            "repeated_share": round(self.repeated_share, 4),
            "problems": len(self.problems),
        }


def _seed(spread: str, i: int) -> str:
    return hashlib.sha256(f"content-report|{spread}|{i}".encode()).hexdigest()[:32]


def _readings(spread: str, count: int, language: str = "en") -> Iterator[tuple[str | None, str]]:
    questions = QUESTIONS[language]
    offset = list(SPREADS).index(spread) * 7
    for i in range(count):
        question = questions[(i + offset) % len(questions)]
        reading = compose(draw(spread, _seed(spread, i)), question, language)
        yield question, strip_html(reading.html)


def spread_report(spread: str, count: int, language: str = "en") -> SpreadReport:
    """``count`` readings of ``spread`` in ``language``, measured."""
    report = SpreadReport(spread)
    seen: Counter[str] = Counter()
    for question, text in _readings(spread, count, language):
        report.readings += 1
        report.word_counts.append(words(text))
        report.problems += problems(text, question)
        quoted = _normal(question) if question else None
        long = {
            _normal(s)
            for s in sentences(text)
            if words(s) >= LONG_SENTENCE and not (quoted and quoted in _normal(s))
        }
        seen.update(long)
    report.long_sentences = len(seen)
    report.repeated = sum(1 for n in seen.values() if n > 1)
    report.examples = [f"{n}× {s}" for s, n in seen.most_common(5) if n > 1]
    return report


def content_report(
    count: int = 30, spreads: Iterable[str] | None = None, language: str = "en"
) -> list[SpreadReport]:
    """One :class:`SpreadReport` per spread, each over ``count`` readings in ``language``."""
    return [spread_report(name, count, language) for name in (spreads or SPREADS)]
