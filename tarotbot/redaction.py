"""Keeping the bot token out of every line we print.

The token travels in every Bot API URL (``/bot<token>/method``), so any
library that logs a URL or raises with one (urllib3 at DEBUG, requests'
connection errors, pyTelegramBotAPI's tracebacks) could print it.
:func:`redact` replaces it; :class:`RedactingFormatter` applies that to every
log line and traceback the process writes, and :func:`redacted_traceback`
to a crash report.
"""

from __future__ import annotations

import logging
import re
import traceback

# A Telegram bot token: the bot's numeric id, a colon, a long URL-safe secret.
_TOKEN_PATTERN = re.compile(r"(bot)?(\d+):[A-Za-z0-9_-]{20,}")


# A URL's query string: pyTelegramBotAPI sends parameters (message texts, names)
# there, and connection errors quote the URL whole.
_QUERY_PATTERN = re.compile(r"\?[A-Za-z_][A-Za-z0-9_]*=[^\s'\")]*")


def redact(text: object, token: str | None = None) -> str:
    """``text`` with any bot token replaced by ``<digits>:***`` and URL query strings cut."""
    out = str(text)
    if token:
        out = out.replace(token, token.split(":", 1)[0] + ":***")
    out = _QUERY_PATTERN.sub("?…", out)
    return _TOKEN_PATTERN.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}:***", out)


def describe(exc: BaseException, token: str | None = None) -> str:
    """A one-line, token-free description of ``exc`` for logs and job results."""
    text = " ".join(redact(exc, token).split())
    return f"{type(exc).__name__}: {text[:300]}"


class RedactingFormatter(logging.Formatter):
    """One line per event (a PaaS log splits lines apart), never holding a token.

    A traceback stays in the line, its line breaks shown as `` ⏎ ``.
    """

    def __init__(self, fmt: str | None = None, token: str | None = None):
        super().__init__(fmt)
        self.token = token

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.token).rstrip("\n").replace("\n", " ⏎ ")


def redacted_traceback(exc: BaseException, token: str | None = None) -> str:
    """The formatted traceback of ``exc``, token-free."""
    return redact("".join(traceback.format_exception(exc)), token)
