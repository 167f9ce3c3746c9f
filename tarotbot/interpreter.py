"""Who writes the reading: an LLM, if one is configured, or the built-in composer.

:func:`interpret` is the one entry point. With no ``llm_url`` it returns
:func:`tarotbot.tarot.compose.compose`. Otherwise it POSTs an
OpenAI-compatible chat-completions request (the prompt comes from the pure
:mod:`tarotbot.tarot.prompt`) and checks the reply: it must be non-empty text,
name every drawn card, stay within the spread's word budget, and give no
yes/no verdict where the safety screen forbids one (such questions are not
even sent; the check is the second lock). The reply is treated as
untrusted plain text: it is escaped and turned into HTML paragraphs, so it can
never inject markup. On any error, timeout or unusable reply the composer's
reading is used instead, so a reading never fails because of the LLM.

The caption always comes from the composer (it is a summary of the cards,
not prose). ``Interpretation.author`` records who wrote the text:
``"llm:<model>"`` or ``"composer"``. The API key is only ever placed in the
Authorization header; it is never logged.

This module lives outside ``tarotbot/tarot/`` because it does network I/O.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from tarotbot.tarot.compose import Interpretation, compose
from tarotbot.tarot.draw import Draw
from tarotbot.tarot.languages import localize
from tarotbot.tarot.phrasing import load_phrasing
from tarotbot.tarot.prompt import build_messages, max_reply_chars, word_budget
from tarotbot.tarot.safety import verdict_allowed
from tarotbot.tarot.telegram_text import escape, paragraphs_to_html, split_html

__all__ = ["UnusableReply", "interpret", "llm_interpretation"]

log = logging.getLogger(__name__)


class SettingsLike(Protocol):
    llm_url: str | None
    llm_model: str
    llm_api_key: Any  # an object with .reveal(), or None
    llm_timeout: float


class UnusableReply(Exception):
    """The LLM answered, but not with a reading we can show."""


def interpret(
    draw: Draw, question: str | None, settings: SettingsLike, language: str = "en"
) -> Interpretation:
    """The reading for ``draw`` in ``language``: from the LLM when configured and usable,
    else the composer."""
    composed = compose(draw, question, language)
    url = getattr(settings, "llm_url", None)
    if not url:
        return composed
    if not verdict_allowed(question):
        # health, pregnancy, a court case, a feared outcome: the composer's reflective
        # reading, which never answers yes or no; an LLM is not asked at all
        log.info("the safety screen allows no verdict for this question; using the composer")
        return composed
    model = getattr(settings, "llm_model", None) or "unknown"
    try:
        return llm_interpretation(draw, question, settings, composed, language)
    except requests.Timeout:
        log.warning("LLM at %s timed out; using the composer", _host(url))
    except requests.RequestException as exc:
        log.warning("LLM at %s failed (%s); using the composer", _host(url), type(exc).__name__)
    except UnusableReply as exc:
        log.warning("LLM %s gave an unusable reply (%s); using the composer", model, exc)
    except Exception as exc:  # a reading must never fail because of the LLM
        log.warning("LLM %s: unexpected %s; using the composer", model, type(exc).__name__)
    return composed


def _host(url: str) -> str:
    """Only the host of ``url``, for logs (no path, no query, no credentials)."""
    return urlsplit(url).hostname or "?"


def _request(draw: Draw, question: str | None, settings: SettingsLike, language: str) -> str:
    headers = {"Content-Type": "application/json"}
    key = getattr(settings, "llm_api_key", None)
    if key:
        secret = key.reveal() if hasattr(key, "reveal") else str(key)
        headers["Authorization"] = f"Bearer {secret}"
    payload = {
        "model": settings.llm_model,
        "messages": build_messages(draw, question, language),
        "temperature": 0.8,
    }
    response = requests.post(
        settings.llm_url, json=payload, headers=headers, timeout=float(settings.llm_timeout)
    )
    if response.status_code != 200:
        raise UnusableReply(f"HTTP {response.status_code}")
    try:
        data = response.json()
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise UnusableReply("not a chat-completions JSON reply") from None
    if not isinstance(content, str):
        raise UnusableReply("the message content is not text")
    return content


_MARKDOWN = re.compile(r"(\*\*|__|`+)|^\s*#+\s*|^\s*[-*•]\s+", re.MULTILINE)


_WORD = re.compile(r"[^\W_]+(?:[’'-][^\W_]+)*")
#: Wording that gives a verdict: never allowed where the safety screen forbids one.
_VERDICT = re.compile(
    r"\b(?:the answer is|leans? (?:towards? )?(?:yes|no)|(?:a|clear|firm|gentle) (?:yes|no)|"
    r"yes,? (?:he|she|they|you) (?:is|are|will)|no,? (?:he|she|they|you) (?:is|are|will)|"
    r"(?:he|she|they) (?:is|are) (?:definitely|certainly|probably) (?:cheating|lying)|"
    r"you (?:will|won't|will not) (?:recover|win|lose|get pregnant|be fine))\b",
    re.IGNORECASE,
)


def clean_reply(text: str, draw: Draw, question: str | None = None) -> str:
    """The reply as checked plain text, or :class:`UnusableReply` saying why not."""
    text = _MARKDOWN.sub("", text.replace("\r\n", "\n")).strip()
    if not text:
        raise UnusableReply("empty")
    if len(text) > max_reply_chars(draw):
        raise UnusableReply(f"{len(text)} characters, over {max_reply_chars(draw)}")
    words = len(_WORD.findall(text))
    if words > word_budget(draw):
        raise UnusableReply(f"{words} words, over the budget of {word_budget(draw)}")
    if not verdict_allowed(question) and _VERDICT.search(text):
        raise UnusableReply("gives a verdict the safety screen forbids")
    folded = _fold(text)
    missing = [dc.card.name for dc in draw.cards if _fold(dc.card.name) not in folded]
    if missing:
        raise UnusableReply(f"does not name {', '.join(missing)}")
    return text


def _fold(text: str) -> str:
    return " ".join(text.casefold().replace("’", "'").split())


def llm_interpretation(
    draw: Draw,
    question: str | None,
    settings: SettingsLike,
    composed: Interpretation | None = None,
    language: str = "en",
) -> Interpretation:
    """Ask the LLM; raise ``requests`` errors or :class:`UnusableReply` on failure."""
    composed = composed or compose(draw, question, language)
    shown = localize(draw, language)  # the cards' names the reply must use
    text = clean_reply(_request(draw, question, settings, language), shown, question)
    parts = [f"<b>✨ {escape(shown.spread.title)}</b>"]
    if question:
        asked = load_phrasing(language=language).say(
            "grammar.quoted_question", question=escape(question)
        )
        parts.append(load_phrasing(language=language).say("answer.question.intro", question=asked))
    parts.append(paragraphs_to_html(text))
    html_text = "\n\n".join(parts)
    return Interpretation(
        title=composed.title,
        html=html_text,
        messages=split_html(html_text),
        caption=composed.caption,
        author=f"llm:{settings.llm_model}",
    )
