"""Telegram HTML: escaping, checking and splitting text for ``parse_mode="HTML"``.

Telegram accepts only a few tags and refuses a message whose tags are
unbalanced or unknown, or which is longer than 4096 characters (1024 for a
caption). Everything here is pure string work so readings can be produced,
tested and stored without a bot.

We use only ``<b> <i> <u> <s> <code> <blockquote>`` and the entities
``&lt; &gt; &amp;`` (what :func:`escape` produces). Any text that comes from a
person or from the card data goes through :func:`escape` (``html.escape``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from html.parser import HTMLParser

__all__ = [
    "ALLOWED_TAGS",
    "CAPTION_LIMIT",
    "MESSAGE_LIMIT",
    "HtmlProblem",
    "blockquote",
    "bold",
    "check_html",
    "code",
    "escape",
    "italic",
    "paragraphs_to_html",
    "render_html",
    "split_html",
    "strike",
    "strip_html",
    "telegram_length",
    "underline",
]

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
ALLOWED_TAGS = frozenset({"b", "i", "u", "s", "code", "blockquote"})


class HtmlProblem(ValueError):
    """Text that Telegram's HTML parse mode would refuse."""


def escape(text: object) -> str:
    """``text`` with ``& < >`` escaped: safe inside Telegram HTML."""
    return html.escape(str(text), quote=False)


def bold(text: object) -> str:
    return f"<b>{escape(text)}</b>"


def italic(text: object) -> str:
    return f"<i>{escape(text)}</i>"


def underline(text: object) -> str:
    return f"<u>{escape(text)}</u>"


def strike(text: object) -> str:
    return f"<s>{escape(text)}</s>"


def code(text: object) -> str:
    return f"<code>{escape(text)}</code>"


def blockquote(inner_html: str) -> str:
    """Wrap already-safe HTML in a quote block."""
    return f"<blockquote>{inner_html}</blockquote>"


def render_html(template: str, /, **values: object) -> str:
    """Fill a trusted HTML ``template`` with ``str.format`` fields, escaping every value.

    ``render_html("<b>{name}</b> asks {q}", name=card.name, q=question)``.
    """
    return template.format(**{name: escape(value) for name, value in values.items()})


def paragraphs_to_html(text: str) -> str:
    """Plain text (paragraphs separated by blank lines) as escaped HTML paragraphs."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    return "\n\n".join(escape(" ".join(b.split())) for b in blocks if b.strip())


def strip_html(text: str) -> str:
    """The plain text a person reads: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji may count 2)."""
    return len(text.encode("utf-16-le")) // 2


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}> is not allowed")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing <{tag}/> is not allowed")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> does not close the open tag")
        else:
            self.stack.pop()

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.problems.append(f"entity &{name}; is not supported")

    def handle_comment(self, data: str) -> None:
        self.problems.append("comments are not allowed")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("declarations are not allowed")

    def handle_pi(self, data: str) -> None:
        self.problems.append("processing instructions are not allowed")


def check_html(text: str, limit: int | None = None) -> None:
    """Raise :class:`HtmlProblem` unless Telegram would accept ``text`` as HTML.

    Checks the tags (allowed, balanced, properly nested), the entities, stray
    ``<``/``&`` and, if given, the length ``limit``.
    """
    if limit is not None and telegram_length(text) > limit:
        raise HtmlProblem(f"{telegram_length(text)} characters, over the limit of {limit}")
    if re.search(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", text):
        raise HtmlProblem("a bare & that is not an entity")
    if re.search(r"<(?!/?[a-z]+>)", text):
        raise HtmlProblem("a < that does not start a plain tag")
    checker = _Checker()
    checker.feed(text)
    checker.close()
    if checker.stack:
        checker.problems.append(f"unclosed tags: {', '.join(checker.stack)}")
    if checker.problems:
        raise HtmlProblem("; ".join(checker.problems))


# --------------------------------------------------------------------------- splitting

_TOKEN = re.compile(r"<[^>]*>|&[#0-9A-Za-z]+;|\s+|[^<&\s]+|[<&]")
_TAG = re.compile(r"<(/?)([a-z]+)[^>]*>")


def _top_level_paragraphs(text: str) -> list[str]:
    """Split at blank lines that lie outside every tag (a paragraph never cuts a tag)."""
    parts: list[str] = []
    depth = 0
    start = 0
    for match in re.finditer(r"<(/?)[a-z]+[^>]*>|\n\s*\n", text):
        token = match.group(0)
        if token.startswith("<"):
            depth += -1 if match.group(1) else 1
        elif depth == 0:
            parts.append(text[start : match.start()])
            start = match.end()
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _closing(stack: Iterable[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(list(stack)))


def _opening(stack: Iterable[tuple[str, str]]) -> str:
    return "".join(tag for _, tag in stack)


def _visible(tokens: Iterable[str]) -> bool:
    return any(not t.isspace() and not _TAG.fullmatch(t) for t in tokens)


def _last_cut(body: list[str]) -> int:
    """Index of the last whitespace token in ``body`` with visible text before it, or 0."""
    for k in range(len(body) - 1, 0, -1):
        if body[k].isspace():
            return k if _visible(body[:k]) else 0
    return 0


def _split_paragraph(text: str, limit: int) -> list[str]:
    """Cut one over-long paragraph at spaces, closing and reopening open tags.

    Tags and entities are atomic tokens. A cut falls on the last space that
    fits; failing that (one endless word), between tokens or characters.
    Every tag open at a cut is closed at the end of the chunk and reopened,
    as written, at the start of the next.
    """
    chunks: list[str] = []
    stack: tuple[tuple[str, str], ...] = ()  # open tags after the last body token
    start_stack: tuple[tuple[str, str], ...] = ()  # open tags at the chunk's start
    body: list[str] = []
    stacks: list[tuple[tuple[str, str], ...]] = []  # open tags after each body token
    body_len = 0

    def emit(count: int, stack_at_cut: tuple[tuple[str, str], ...]) -> None:
        nonlocal body, stacks, body_len, start_stack
        content = "".join(body[:count]).rstrip()
        chunks.append(_opening(start_stack) + content + _closing(stack_at_cut))
        rest, rest_stacks = body[count:], stacks[count:]
        reopened = stack_at_cut
        while rest:
            if rest[0].isspace():
                rest, rest_stacks = rest[1:], rest_stacks[1:]
            elif reopened and rest[0] == f"</{reopened[-1][0]}>":
                # a tag that closes right after the cut need not be reopened at all
                reopened = reopened[:-1]
                rest, rest_stacks = rest[1:], rest_stacks[1:]
            else:
                break
        body, stacks, start_stack = rest, rest_stacks, reopened
        body_len = sum(telegram_length(t) for t in body)

    for token in _TOKEN.findall(text):
        if not body and token.isspace():
            continue
        tag = _TAG.fullmatch(token)
        after = stack
        if tag and tag.group(1):
            if stack and stack[-1][0] == tag.group(2):
                after = stack[:-1]
        elif tag:
            after = (*stack, (tag.group(2), token))
        if not body and tag and tag.group(1) and start_stack and start_stack[-1][0] == tag.group(2):
            start_stack = stack = after  # closes a tag reopened for nothing: drop both
            continue
        while True:
            if not body and token.isspace():
                break  # a chunk never starts with whitespace
            used = telegram_length(_opening(start_stack)) + body_len
            if used + telegram_length(token) + telegram_length(_closing(after)) <= limit:
                body.append(token)
                stacks.append(after)
                body_len += telegram_length(token)
                break
            k = _last_cut(body)
            if k:
                emit(k, stacks[k - 1])
            elif _visible(body):
                emit(len(body), stack)
            elif not tag and not token.startswith("&") and not token.isspace():
                room = limit - used - telegram_length(_closing(stack))
                head, token = _cut_units(token, max(1, room))
                body.append(head)
                stacks.append(stack)
                body_len += telegram_length(head)
                emit(len(body), stack)
            else:  # a tag or entity with no room at all: the limit is absurdly small
                body.append(token)
                stacks.append(after)
                body_len += telegram_length(token)
                break
        stack = after
    if _visible(body):
        emit(len(body), stack)
    return chunks


def _cut_units(text: str, units: int) -> tuple[str, str]:
    """Split ``text`` after at most ``units`` UTF-16 units, never inside a character."""
    used = 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if used + width > units:
            return (text[:index] or text[:1]), (text[index:] if index else text[1:])
        used += width
    return text, ""


_EMPTY_ELEMENT = re.compile(r"<([a-z]+)(?:\s[^>]*)?>(\s*)</\1>")


def _drop_empty_elements(text: str) -> str:
    """Remove elements with nothing inside (``<b></b>``): they only cost length."""
    while True:
        shorter = _EMPTY_ELEMENT.sub(r"\2", text)
        if shorter == text:
            return text
        text = shorter


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> tuple[str, ...]:
    """Split Telegram HTML into messages of at most ``limit`` characters.

    Paragraphs (blank-line separated, outside tags) are packed greedily; a
    paragraph longer than ``limit`` is cut at spaces, with every tag open at
    the cut closed at the end of one message and reopened at the start of the
    next. Tags and entities are never broken. Lengths are counted as Telegram
    counts them (UTF-16 units). Empty elements are dropped. ``limit`` must
    leave room for the tags open at any cut, closed and reopened (64 is
    plenty for our markup, which nests at most two deep).
    """
    if limit < 32:
        raise ValueError("limit must be at least 32 characters")
    pieces: list[str] = []
    for paragraph in _top_level_paragraphs(_drop_empty_elements(text)):
        if not strip_html(paragraph).strip():
            continue  # nothing to read: Telegram refuses empty messages
        if telegram_length(paragraph) <= limit:
            pieces.append(paragraph)
        else:
            pieces.extend(_split_paragraph(paragraph, limit))
    messages: list[str] = []
    current = ""
    for piece in pieces:
        if not current:
            current = piece
        elif telegram_length(current) + 2 + telegram_length(piece) <= limit:
            current = f"{current}\n\n{piece}"
        else:
            messages.append(current)
            current = piece
    if current:
        messages.append(current)
    return tuple(messages)


def join_plain(lines: Iterable[str]) -> str:
    """Plain lines joined by newlines, skipping empty ones."""
    return "\n".join(line for line in lines if line)
