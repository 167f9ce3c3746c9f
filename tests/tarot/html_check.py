"""A strict checker for Telegram HTML, independent of the code under test."""

from __future__ import annotations

import re
from html.parser import HTMLParser

ALLOWED = {"b", "i", "u", "s", "code", "blockquote"}


class _Stack(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED:
            self.errors.append(f"<{tag}>")
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"</{tag}> out of order")

    def handle_data(self, data):
        self.text.append(data)


def assert_valid_html(text: str) -> str:
    """Fail unless ``text`` has only allowed, balanced tags; return its plain text."""
    parser = _Stack()
    parser.feed(text)
    parser.close()
    assert not parser.errors, parser.errors
    assert not parser.stack, f"unclosed {parser.stack}"
    # outside the tags, no raw '<' or '>' and no '&' that does not start an entity
    outside = re.sub(r"</?[a-z]+>", "", text)
    assert "<" not in outside and ">" not in outside, "stray < or > in the text"
    assert not re.search(r"&(?!(?:lt|gt|amp|quot);)", outside), "bare & in the text"
    return "".join(parser.text)
