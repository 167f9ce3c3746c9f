"""Questions that need real help first: self-harm, medical and legal emergencies.

A tarot bot must not answer "I want to end my life" with a card. Before a
reading, :func:`assess_question` looks for a few clear phrasings (English and
common Russian ones) and returns a :class:`SafetyNote`:

- ``self_harm``: a caring note with ways to reach help now; ``proceed`` is
  False, so no reading is drawn and nothing is charged;
- ``medical`` / ``legal``: a caring note pointing to a doctor or emergency
  services, or to a lawyer or the police; ``proceed`` is True, the reading
  follows the note.

The patterns are phrases, not single words, to keep silly false positives
away ("will my career die down?", "this job is killing me", "a stroke of
luck"). It is a safety net, not a diagnosis: when in doubt it errs towards
showing the note, which costs the person nothing.

:func:`clean_question` normalises what a person typed before anything else
sees it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tarotbot.tarot.errors import QuestionTooLong

__all__ = ["QuestionTooLong", "SafetyNote", "assess_question", "clean_question"]

SELF_HARM = "self_harm"
MEDICAL = "medical"
LEGAL = "legal"


@dataclass(frozen=True)
class SafetyNote:
    """What to tell the person first; ``proceed`` says whether a reading may follow."""

    category: str
    html: str
    proceed: bool


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


_NOT = r"(?<!not )(?<!n't )(?<!never )"

_SELF_HARM = _rx(
    r"\bkill(?:ing)?\s+my\s*self\b(?!\s+laughing)",
    r"\bsuicid(?:e|al)\b(?!\s+squad)",
    r"\b(?:end|ending|take|taking)\s+my\s+(?:own\s+)?life\b",
    r"\bend\s+it\s+all\b",
    _NOT + r"\b(?:want|wanna|ready|wish)\s+(?:to\s+)?die\b",
    r"\bwish\s+i\s+(?:was|were)\s+dead\b",
    r"\bbetter\s+off\s+dead\b",
    r"\b(?:don'?t|do\s+not|no\s+longer)\s+want\s+to\s+(?:live|be\s+alive|exist)\b",
    r"\b(?:no|any|what'?s\s+the|what\s+is\s+the)\s+(?:reason|point)\s+(?:to|in|of)\s+"
    r"(?:live|living|go(?:ing)?\s+on)\b",
    r"\bnot\s+worth\s+living\b",
    r"\bself[-\s]?harm(?:ing)?\b",
    r"\b(?:cut|cutting|hurt|hurting|harm|harming)\s+my\s*self\b",
    r"\bover\s*dose\s+on\s+purpose\b",
    # Russian
    r"покончить\s+с\s+собой",
    r"убить\s+себя",
    r"(?<!не\s)хочу\s+умереть",
    r"не\s+хочу\s+(?:больше\s+)?жить",
    r"суицид",
    r"самоубийств",
    r"свести\s+счёты\s+с\s+жизнью|свести\s+счеты\s+с\s+жизнью",
    r"порезать\s+себя|режу\s+себя|причинить\s+себе\s+вред",
)

_MEDICAL = _rx(
    r"\bchest\s+pains?\b",
    r"\bheart\s+attack\b",
    r"\b(?:can'?t|cannot|can\s+not|struggling\s+to|unable\s+to)\s+breathe?\b",
    r"\b(?:trouble|difficulty|problems?)\s+breathing\b",
    r"\bover\s*dos(?:e|ed|ing)\b",
    r"\btook\s+(?:too\s+many|a\s+lot\s+of|a\s+bottle\s+of)\s+(?:pills|tablets)\b",
    r"\b(?:having|had|signs\s+of)\s+a\s+stroke\b",
    r"\b(?:having|had)\s+a\s+seizure\b",
    r"\b(?:is|went|fell|found|lying|lies|was)\s+unconscious\b",
    r"\bwon'?t\s+stop\s+bleeding\b|\bbleeding\s+(?:heavily|badly|a\s+lot)\b",
    r"\banaphyla\w*\b|\bsevere\s+allergic\s+reaction\b",
    r"\b(?:i\s+was|i\s+am|i'?m|got|been)\s+poisoned\b",
    r"\bpassed\s+out\b",
    # Russian
    r"бол(?:ь|ит)\s+в\s+груди|болит\s+сердце",
    r"не\s+могу\s+дышать|задыхаюсь",
    r"передозировк",
    r"инфаркт|инсульт",
    r"отравил(?:ся|ась)|меня\s+отравили",
    r"потерял(?:а)?\s+сознание",
)

_LEGAL = _rx(
    r"\b(?:been|got|get|getting|was|were|am|is|are|be|being)\s+arrested\b",
    r"\barrested\s+(?:me|my|him|her|us)\b",
    r"\bpolice\s+(?:are|is)\s+(?:at|outside)\s+my\b",
    r"\bbeing\s+threatened\b",
    r"\bthreaten(?:s|ed|ing)?\s+(?:to\s+(?:kill|hurt|harm|beat|shoot|stab)\b|me\b"
    r"|my\s+(?:life|kids|children|family)\b)",
    r"\bdomestic\s+(?:violence|abuse)\b",
    r"\b(?:he|she|they|my\s+\w+)\s+(?:hits|beats|chokes|choked|strangles|strangled|slaps|"
    r"punches|punched|kicks|kicked)\s+me\b(?!\s+(?:up|to|at)\b)",
    r"\b(?:being|am|i'?m)\s+(?:stalked|blackmailed|extorted)\b|\bblackmail(?:ing)?\s+me\b",
    r"\bstalking\s+me\b",
    r"\b(?:was|been|got|i'?m\s+being)\s+(?:assaulted|attacked|raped|kidnapped)\b",
    # Russian
    r"меня\s+(?:арестовали|задержали|избили|шантажируют)",
    r"угрожа(?:ет|ют)\s+(?:мне|убить)|мне\s+угрожа",
    r"домашнее\s+насилие",
    r"(?:он|она|муж|жена)\s+(?:бь[её]т|избивает)\s+меня",
    r"шантаж",
)

_HELP_EN = (
    "🕯 <b>Before any cards: you matter.</b>\n"
    "What you wrote sounds like you are carrying something very heavy, and you deserve "
    "support right now, from a real person, not from a deck of cards. I won’t draw a "
    "reading for this, and nothing has been charged.\n\n"
    "• If you might act on these thoughts or are in danger, please call your local "
    "emergency number now: <b>112</b> (Europe and many other countries) or <b>911</b> "
    "(USA and Canada).\n"
    "• To talk to someone today, free and confidential, find a helpline in your country at "
    "<b>findahelpline.com</b>.\n"
    "• If you can, tell someone near you how you are feeling, a friend, a family member or "
    "a doctor, and don’t stay alone with this.\n\n"
    "You reached out, and that took strength. I’m glad you’re here."
)
_HELP_RU = (
    "\n\nЕсли вам сейчас очень тяжело, позвоните по номеру <b>112</b> или найдите бесплатную "
    "линию поддержки на <b>findahelpline.com</b>. Вы заслуживаете помощи прямо сейчас."
)
_MEDICAL_NOTE = (
    "🩺 <b>First, please look after your health.</b>\n"
    "What you describe may need a doctor urgently. If it is happening now, please call "
    "emergency services (<b>112</b> in Europe, <b>911</b> in the USA and Canada) or ask "
    "someone nearby to help you get care. The cards can wait; you come first.\n"
    "Your reading follows below, as a companion, never a substitute for medical help."
)
_LEGAL_NOTE = (
    "⚖️ <b>First, your safety.</b>\n"
    "What you describe sounds serious. If you are in danger right now, please call the "
    "police or emergency services (<b>112</b> in Europe, <b>911</b> in the USA and Canada). "
    "For legal trouble, a lawyer or a free legal-aid service can tell you your rights; for "
    "violence at home, a domestic-abuse helpline (see <b>findahelpline.com</b>) can help you "
    "plan safely.\n"
    "Your reading follows below: take what helps, and let real people help you too."
)
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    return " ".join(text.split())


def assess_question(text: str | None) -> SafetyNote | None:
    """A :class:`SafetyNote` if ``text`` describes a crisis, else None.

    Self-harm outranks a medical emergency, which outranks a legal one.
    """
    if not text:
        return None
    normal = _normal(text)
    if _SELF_HARM.search(normal):
        note = _HELP_EN + (_HELP_RU if _CYRILLIC.search(normal) else "")
        return SafetyNote(SELF_HARM, note, proceed=False)
    if _MEDICAL.search(normal):
        return SafetyNote(MEDICAL, _MEDICAL_NOTE, proceed=True)
    if _LEGAL.search(normal):
        return SafetyNote(LEGAL, _LEGAL_NOTE, proceed=True)
    return None


_BIDI_CONTROLS = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0xFEFF]
)


def clean_question(text: str | None, limit: int = 500) -> str:
    """``text`` made safe to store and show: one line, no control characters.

    Control characters are removed (newlines and tabs become spaces), as are
    invisible direction overrides; zero-width joiners stay, for emoji. Runs of
    whitespace collapse to one space. Raises :class:`QuestionTooLong` when the
    result is longer than ``limit`` characters. ``None`` gives ``""``.
    """
    if not text:
        return ""
    chars = []
    for char in text:
        if char in "\n\r\t\v\f":
            chars.append(" ")
        elif unicodedata.category(char) == "Cc":
            continue
        else:
            chars.append(char)
    cleaned = " ".join("".join(chars).translate(_BIDI_CONTROLS).split())
    if len(cleaned) > limit:
        raise QuestionTooLong(len(cleaned), limit)
    return cleaned
