"""The language the bot is speaking right now, and its message catalogs (gettext, Babel).

Every user-facing text of the bot is an English message id in
:mod:`tarotbot.telegram.texts` or :mod:`tarotbot.telegram.keyboards`, marked
for extraction with :func:`N_` (or :class:`Plural` for counted words). The
catalogs in ``tarotbot/locale/<language>/LC_MESSAGES/tarotbot.po`` translate
them; ``scripts/translations.sh`` extracts, updates and compiles them with
Babel. Which language a text comes out in is the person's, set for the
handling of one update or one job with :func:`speaking`, so code that writes
a reply never passes the language around: a reply is translated when it is
rendered, in the language chosen at that moment.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext as gettext_module
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tarotbot.tarot.languages import DEFAULT_LANGUAGE, LANGUAGES

__all__ = [
    "DOMAIN",
    "LOCALE_DIR",
    "N_",
    "Plural",
    "current_language",
    "gettext",
    "ngettext",
    "speaking",
    "translations",
]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "tarotbot"

_LANGUAGE = contextvars.ContextVar("language", default=DEFAULT_LANGUAGE)


def N_(message: str) -> str:
    """Marks ``message`` for extraction; it is translated later, when rendered."""
    return message


@dataclass(frozen=True)
class Plural:
    """A message with a singular and a plural, chosen by the number in ``count``.

    The catalogs give each language its own CLDR forms (ru: 1 кредит, 2 кредита,
    5 кредитов).
    """

    singular: str
    plural: str
    count: str  # the name of the value that decides the form


@functools.cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The compiled catalog of ``language`` (English: the message ids themselves)."""
    if language == DEFAULT_LANGUAGE:
        return gettext_module.NullTranslations()
    return gettext_module.translation(DOMAIN, LOCALE_DIR, [language], fallback=True)


def current_language() -> str:
    return _LANGUAGE.get()


@contextlib.contextmanager
def speaking(language: str | None) -> Iterator[str]:
    """Speak ``language`` (one of :data:`~tarotbot.tarot.languages.LANGUAGES`; anything
    else: English) inside the block: one update, one job."""
    chosen = language if language in LANGUAGES else DEFAULT_LANGUAGE
    token = _LANGUAGE.set(chosen)
    try:
        yield chosen
    finally:
        _LANGUAGE.reset(token)


def gettext(message: str) -> str:
    """``message`` in the current language."""
    return translations(_LANGUAGE.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of ``singular``/``plural`` that goes with ``n``, in the current language."""
    return translations(_LANGUAGE.get()).ngettext(singular, plural, n)
