"""Telegram's text formatting: the HTML parse mode, entities and UTF-16 lengths.

The HTML parser follows tdlib's ``parse_html`` (what the Bot API runs): the
same allowed tags, the same attribute rules and the same error messages, with
byte offsets into the UTF-8 text. Lengths are counted the way Telegram counts
them, in UTF-16 code units of the *visible* text (after tags and entities are
removed), so "4096 characters" means what it means on Telegram. One deliberate
difference, ``strict_entities`` (on by default), is in docs/emulator.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from botapi_emulator.errors import bad_request

ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
SIMPLE_ENTITY_TYPES = {
    "i": "italic",
    "em": "italic",
    "b": "bold",
    "strong": "bold",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# The next markup: a plain start or end tag or a plain named entity (taken at
# once), or any other "<" or "&" (the careful path, with tdlib's errors).
MARKUP = re.compile(r"<(/?)([A-Za-z][A-Za-z-]*)>|&(lt|gt|amp|quot);|[<&]")
# Start tags that need no attribute (span does: class="tg-spoiler").
PLAIN_START_TAGS = ALLOWED_TAGS - {"span"}
SPACES = frozenset(" \t\r\n\v\0")
PARSE_MODES = {"html": "HTML", "markdown": "Markdown", "markdownv2": "MarkdownV2"}


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; the message is tdlib's wording."""


@dataclass
class FormattedText:
    """Visible text and its message entities (offsets in UTF-16 code units)."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    text_index: int
    expandable: bool = False


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: characters outside the BMP count twice."""
    return len(text.encode("utf-16-le")) // 2


def format_text(
    text: str, parse_mode: str | None, *, strict_entities: bool = True
) -> FormattedText:
    """Apply ``parse_mode`` to ``text``; raise the Bot API's 400 on bad markup.

    Only HTML is validated and turned into entities; Markdown and MarkdownV2
    are accepted and their text is kept as sent (the emulator does not check
    Markdown).
    """
    if not parse_mode:
        return FormattedText(text)
    mode = PARSE_MODES.get(parse_mode.lower())
    if mode is None:
        raise bad_request("unsupported parse_mode")
    if mode != "HTML":
        return FormattedText(text)
    try:
        return parse_html(text, strict_entities=strict_entities)
    except EntityParseError as exc:
        raise bad_request(f"can't parse entities: {exc}") from None


def parse_html(source: str, *, strict_entities: bool = True) -> FormattedText:
    """Parse Telegram HTML into visible text and entities, as tdlib does."""
    parser = _HtmlParser(source, strict_entities)
    return parser.run()


class _HtmlParser:
    """One pass over the source, keeping the stack of open tags."""

    def __init__(self, source: str, strict_entities: bool):
        self.src = source
        self.n = len(source)
        self.strict = strict_entities
        self.i = 0
        self.out: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []
        # Without characters beyond the BMP in the source, UTF-16 lengths of its
        # pieces are plain lengths (decoded numeric references are counted apart).
        self.wide = not source.isascii() and utf16_len(source) != len(source)

    def run(self) -> FormattedText:
        """Text runs, plain tags and plain entities at once; the rest one by one."""
        src, n, search = self.src, self.n, MARKUP.search
        while self.i < n:
            match = search(src, self.i)
            if match is None:
                self._emit(src[self.i :])
                break
            start = match.start()
            if start > self.i:
                self._emit(src[self.i : start])
                self.i = start
            name = match.group(2)
            if name is not None and self._plain_tag(name.lower(), bool(match.group(1))):
                self.i = match.end()
            elif match.group(3) is not None:
                self._emit(NAMED_ENTITIES[match.group(3)])
                self.i = match.end()
            elif src[start] == "&":
                self._text_entity()
            else:
                self._tag()
        if self.stack:
            raise EntityParseError(
                f"Can't find end tag corresponding to start tag {self.stack[-1].name}"
            )
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return FormattedText("".join(self.out), self.entities)

    # -- helpers -----------------------------------------------------------

    def _char(self, index: int) -> str:
        """The character at ``index``, or NUL past the end (tdlib reads a C string)."""
        return self.src[index] if index < self.n else "\0"

    def _byte_offset(self, index: int) -> int:
        return len(self.src[:index].encode("utf-8"))

    def _emit(self, text: str) -> None:
        self.out.append(text)
        wide = self.wide and not text.isascii()  # isascii() reads a flag: no scan
        self.utf16 += utf16_len(text) if wide else len(text)

    def _plain_tag(self, name: str, end: bool) -> bool:
        """``<b>`` or ``</b>`` without attributes or spaces: False if it needs the careful path.

        A start tag is taken if allowed and attribute-free; an end tag if it
        closes the innermost open tag. Anything else (and every error) goes
        through :meth:`_tag`, which words the error as tdlib does.
        """
        if not end:
            if name not in PLAIN_START_TAGS:
                return False
            self.stack.append(_OpenTag(name, "", self.utf16, len(self.out)))
            return True
        if not self.stack or self.stack[-1].name != name:
            return False
        open_tag = self.stack[-1]
        if self.utf16 > open_tag.utf16_offset:
            self._close_entity(open_tag)
        self.stack.pop()
        return True

    def _skip_spaces(self) -> None:
        while self.i < self.n and self.src[self.i] in SPACES:
            self.i += 1

    # -- entities ----------------------------------------------------------

    def _text_entity(self) -> None:
        decoded, end = decode_html_entity(self.src, self.i)
        if decoded is None:
            if self.strict:
                raise EntityParseError(
                    f"Unsupported HTML entity at byte offset {self._byte_offset(self.i)}: "
                    'escape "&" as "&amp;"'
                )
            self._emit("&")
            self.i += 1
            return
        self.out.append(decoded)  # a numeric reference may be beyond the BMP
        self.utf16 += utf16_len(decoded)
        self.i = end

    # -- tags --------------------------------------------------------------

    def _tag(self) -> None:
        begin = self.i
        self.i += 1
        if self._char(self.i) == "/":
            self._end_tag(begin)
        else:
            self._start_tag(begin)

    def _start_tag(self, begin: int) -> None:
        while self._char(self.i) not in SPACES and self._char(self.i) != ">":
            self.i += 1
        if self.i >= self.n:
            raise EntityParseError(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
        name = self.src[begin + 1 : self.i].lower()
        if name not in ALLOWED_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {self._byte_offset(begin)}'
            )
        argument, expandable = self._attributes(name, begin)
        if name == "span" and argument != "spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte_offset(begin)}'
            )
        self.stack.append(_OpenTag(name, argument, self.utf16, len(self.out), expandable))
        self.i += 1  # the closing '>'

    def _attributes(self, tag: str, begin: int) -> tuple[str, bool]:
        """Read attributes up to '>'; return the tag's argument and blockquote's flag."""
        argument = ""
        expandable = False
        where = f'the tag "{tag}" at byte offset {self._byte_offset(begin)}'
        while self._char(self.i) != ">":
            self._skip_spaces()
            if self.i >= self.n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {self._byte_offset(begin)}"
                )
            if self.src[self.i] == ">":
                break
            start = self.i
            while self._char(self.i) not in SPACES and self._char(self.i) not in "=>":
                self.i += 1
            attr = self.src[start : self.i].lower()
            if not attr:
                raise EntityParseError(f"Empty attribute name in {where}")
            self._skip_spaces()
            if self._char(self.i) != "=":
                if tag == "blockquote" and attr == "expandable":
                    expandable = True
                    continue
                raise EntityParseError(
                    f"Expected equal sign in declaration of an attribute of {where}"
                )
            self.i += 1
            self._skip_spaces()
            if self.i >= self.n:
                raise EntityParseError(f"Unclosed start tag {where}")
            value = self._attribute_value()
            if self.i >= self.n:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {self._byte_offset(begin)}"
                )
            argument = _tag_argument(tag, attr, value, argument)
        return argument, expandable

    def _attribute_value(self) -> str:
        quote = self.src[self.i]
        if quote not in "'\"":
            start = self.i
            while self.i < self.n and (
                (self.src[self.i].isascii() and self.src[self.i].isalnum())
                or self.src[self.i] in ".-"
            ):
                self.i += 1
            if self._char(self.i) not in SPACES and self._char(self.i) != ">":
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {self._byte_offset(start)}"
                )
            return self.src[start : self.i].lower()
        self.i += 1
        value: list[str] = []
        while self.i < self.n and self.src[self.i] != quote:
            if self.src[self.i] == "&":
                decoded, end = decode_html_entity(self.src, self.i)
                if decoded is not None:
                    value.append(decoded)
                    self.i = end
                    continue
            value.append(self.src[self.i])
            self.i += 1
        if self.i < self.n:
            self.i += 1
        return "".join(value)

    def _end_tag(self, begin: int) -> None:
        if not self.stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {self._byte_offset(begin)}")
        while self._char(self.i) not in SPACES and self._char(self.i) != ">":
            self.i += 1
        end_name = self.src[begin + 2 : self.i].lower()
        self._skip_spaces()
        if self._char(self.i) != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {self._byte_offset(begin)}")
        open_tag = self.stack[-1]
        if end_name and end_name != open_tag.name:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {self._byte_offset(begin)}, "
                f'expected "</{open_tag.name}>", found "</{end_name}>"'
            )
        if self.utf16 > open_tag.utf16_offset:
            self._close_entity(open_tag)
        self.stack.pop()
        self.i += 1

    def _close_entity(self, tag: _OpenTag) -> None:
        offset = tag.utf16_offset
        length = self.utf16 - offset
        entity: dict[str, Any] = {"offset": offset, "length": length}
        if tag.name in SIMPLE_ENTITY_TYPES:
            entity["type"] = SIMPLE_ENTITY_TYPES[tag.name]
        elif tag.name == "tg-emoji":
            if not tag.argument.isdigit() or int(tag.argument) == 0:
                raise EntityParseError("Invalid custom emoji identifier specified")
            entity.update(type="custom_emoji", custom_emoji_id=tag.argument)
        elif tag.name == "a":
            url = tag.argument or "".join(self.out[tag.text_index :])
            entity.update(type="text_link", url=url)
        elif tag.name == "blockquote":
            entity["type"] = "expandable_blockquote" if tag.expandable else "blockquote"
        elif self._merge_pre_code(tag, offset, length):
            return
        else:
            entity["type"] = tag.name
            if tag.name == "code" and tag.argument:
                entity["_language"] = tag.argument
        self.entities.append(entity)

    def _merge_pre_code(self, tag: _OpenTag, offset: int, length: int) -> bool:
        """``<pre><code class="language-x">`` is one ``pre`` entity with a language."""
        last = self.entities[-1] if self.entities else None
        if not last or last["offset"] != offset or last["length"] != length:
            return False
        if tag.name == "pre" and last["type"] == "code" and last.get("_language"):
            last["type"] = "pre"
            last["language"] = last.pop("_language")
            return True
        if tag.name == "code" and last["type"] == "pre" and tag.argument:
            last["language"] = tag.argument
            return True
        return False


def _tag_argument(tag: str, attr: str, value: str, current: str) -> str:
    """The one attribute each tag cares about, as tdlib reads it."""
    if tag == "a" and attr == "href":
        return value
    if tag == "code" and attr == "class" and value.startswith("language-"):
        return value[len("language-") :]
    if tag == "span" and attr == "class" and value.startswith("tg-"):
        return value[len("tg-") :]
    if tag == "tg-emoji" and attr == "emoji-id":
        return value
    return current


def decode_html_entity(src: str, pos: int) -> tuple[str | None, int]:
    """Decode the entity at ``src[pos] == '&'``: (character, end) or (None, pos).

    Supports what Telegram supports: ``&lt; &gt; &amp; &quot;`` and numeric
    references; the trailing ``;`` is optional, as in tdlib.
    """
    end = pos + 1
    if src[end : end + 1] == "#":
        end += 1
        base = 10
        if src[end : end + 1] == "x":
            base = 16
            end += 1
        digits_start = end
        allowed = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
        while end < len(src) and src[end] in allowed:
            end += 1
        digits = src[digits_start:end]
        code = int(digits, base) if digits else 0
        if code == 0 or code >= 0x10FFFF or end - pos >= 10 or 0xD800 <= code <= 0xDFFF:
            return None, pos
        char = chr(code)
    else:
        while end < len(src) and src[end].isascii() and src[end].isalpha():
            end += 1
        char = NAMED_ENTITIES.get(src[pos + 1 : end])
        if char is None:
            return None, pos
    if src[end : end + 1] == ";":
        end += 1
    return char, end


def public_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entities without the parser's private keys, as the Bot API returns them.

    The only private key is ``_language`` (a ``<code class>`` not merged into a
    ``<pre>``); without one the list is returned as it is.
    """
    if not any("_language" in e for e in entities):
        return entities
    return [{k: v for k, v in e.items() if not k.startswith("_")} for e in entities]


def check_length(text: str, limit: int, error: str) -> None:
    """Raise ``Bad Request: <error>`` when ``text`` is longer than ``limit`` UTF-16 units."""
    if utf16_len(text) > limit:
        raise bad_request(error)
