"""Telegram HTML helpers: escaping, checking and splitting."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tarotbot.tarot.telegram_text import (
    HtmlProblem,
    bold,
    check_html,
    escape,
    paragraphs_to_html,
    render_html,
    split_html,
    strip_html,
    telegram_length,
)
from tests.tarot.html_check import assert_valid_html


def test_escape_and_helpers():
    assert escape("<script>&") == "&lt;script&gt;&amp;"
    assert bold("a<b") == "<b>a&lt;b</b>"
    assert render_html("<b>{name}</b> {q}", name="Tom & Jerry", q="<i>") == (
        "<b>Tom &amp; Jerry</b> &lt;i&gt;"
    )
    assert strip_html("<b>a &amp; b</b>") == "a & b"
    assert paragraphs_to_html("one <x>\n\n\n two\nlines") == "one &lt;x&gt;\n\ntwo lines"


def test_telegram_length_counts_utf16():
    assert telegram_length("abc") == 3
    assert telegram_length("🔮") == 2


@pytest.mark.parametrize(
    "bad",
    ["<b>x", "<b><i>x</b></i>", "<script>x</script>", "a & b", "<a href='x'>y</a>", "x <br/> y"],
)
def test_check_html_refuses(bad):
    with pytest.raises(HtmlProblem):
        check_html(bad)


def test_check_html_accepts():
    check_html("<b>bold <i>both</i></b> &amp; <code>x&lt;y</code>\n<blockquote>q</blockquote>")
    with pytest.raises(HtmlProblem):
        check_html("x" * 10, limit=5)


def test_short_text_is_one_message():
    assert split_html("<b>hi</b>\n\nthere") == ("<b>hi</b>\n\nthere",)


def test_paragraphs_are_packed_and_never_split_when_they_fit():
    paragraphs = [f"<b>P{i}</b> " + "word " * 150 for i in range(12)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    messages = split_html(text, 4096)
    assert len(messages) > 1
    for message in messages:
        assert len(message) <= 4096
        assert_valid_html(message)
        for chunk in message.split("\n\n"):
            assert chunk in text
    assert "\n\n".join(messages) == text


def test_long_paragraph_reopens_tags():
    text = "<b>start <i>" + "lorem ipsum " * 600 + "</i> end</b>"
    messages = split_html(text, 500)
    assert len(messages) > 5
    for message in messages:
        assert len(message) <= 500
        assert_valid_html(message)
        assert message.startswith("<b>")
    assert messages[1].startswith("<b><i>")


def test_long_word_and_entities_are_not_broken():
    text = "&amp;" * 300 + "x" * 3000 + "🔮" * 500
    messages = split_html(text, 100)
    for message in messages:
        assert telegram_length(message) <= 100
        assert not re.search(r"&[a-z]*$", message), "an entity was cut"
        assert not re.match(r"^[a-z]*;", message)
    assert "".join(messages) == text


def test_blockquote_across_the_cut():
    text = "<blockquote>" + "quiet words " * 100 + "</blockquote>"
    for message in split_html(text, 200):
        assert message.startswith("<blockquote>") and message.endswith("</blockquote>")
        assert len(message) <= 200


def test_limit_too_small():
    with pytest.raises(ValueError):
        split_html("x", 10)


# ---------------------------------------------------------------- properties

TAGS = ["b", "i", "u", "s", "code", "blockquote"]
words = st.text(alphabet="abcxyz ¡é<>&\n🔮🌙", max_size=30).map(
    lambda t: t.replace("x", " ").replace("z", "\n\n")
)


@st.composite
def html_documents(draw, depth=0):
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        choice = draw(st.integers(0, 3 if depth < 2 else 0))
        if choice == 0:
            parts.append(html.escape(draw(words), quote=False))
        else:
            tag = draw(st.sampled_from(TAGS))
            parts.append(f"<{tag}>{draw(html_documents(depth=depth + 1))}</{tag}>")
    return "".join(parts)


def _visible(text: str) -> str:
    return "".join(strip_html(text).split())


@settings(max_examples=100, deadline=None)
@given(doc=html_documents(), limit=st.integers(64, 400), repeat=st.integers(1, 30))
def test_split_html_properties(doc, limit, repeat):
    text = "\n\n".join([doc] * repeat)
    messages = split_html(text, limit)
    for message in messages:
        assert telegram_length(message) <= limit
        assert_valid_html(message)
        check_html(message, limit)
        assert message == message.strip()
        assert _visible(message), "no empty messages"
    assert "".join(_visible(m) for m in messages) == _visible(text)


@settings(max_examples=100, deadline=None)
@given(doc=html_documents())
def test_split_html_is_identity_when_short(doc):
    text = doc.strip()
    if _visible(text) and telegram_length(text) <= 4096 and "\n\n" not in text:
        (message,) = split_html(text)
        assert _visible(message) == _visible(text)
        if not re.search(r"<([a-z]+)>\s*</\1>", text):  # empty elements are dropped
            assert message == text


@pytest.mark.parametrize(
    "text",
    [
        "<b><blockquote>&lt; </blockquote></b><b><blockquote>&lt;</blockquote></b>",
        "<code><blockquote>&lt;&lt;&lt;&lt;&lt;&lt;aa </blockquote><blockquote>&lt;</blockquote></code>",
        "<b>&lt; aaaa&amp;<blockquote>&lt;</blockquote></b><b><b>&lt;a</b></b> &lt;",
    ],
)
def test_found_by_hypothesis(text):
    """Tags closing right after a cut are not reopened; no chunk starts with a space."""
    messages = split_html(text, 64)
    for message in messages:
        assert telegram_length(message) <= 64
        assert_valid_html(message)
        assert message == message.strip()
    assert "".join("".join(strip_html(m).split()) for m in messages) == "".join(
        strip_html(text).split()
    )
