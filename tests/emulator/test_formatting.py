"""The HTML parse mode: Telegram's tags, entities in UTF-16 offsets, tdlib's error wording."""

from __future__ import annotations

import pytest

from botapi_emulator.errors import ApiError
from botapi_emulator.formatting import (
    EntityParseError,
    format_text,
    parse_html,
    utf16_len,
)


def test_every_allowed_tag_becomes_its_entity():
    source = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>"
        '<strike>t</strike><del>d</del><span class="tg-spoiler">p</span><tg-spoiler>q</tg-spoiler>'
        '<a href="https://example.org/x?a=1&amp;b=2">a</a><code>c</code><pre>p</pre>'
        "<blockquote>q</blockquote><blockquote expandable>x</blockquote>"
        '<tg-emoji emoji-id="5368324170671202286">\N{THUMBS UP SIGN}</tg-emoji>'
    )
    parsed = parse_html(source)
    types = [entity["type"] for entity in parsed.entities]
    assert types == [
        "bold",
        "bold",
        "italic",
        "italic",
        "underline",
        "underline",
        "strikethrough",
        "strikethrough",
        "strikethrough",
        "spoiler",
        "spoiler",
        "text_link",
        "code",
        "pre",
        "blockquote",
        "expandable_blockquote",
        "custom_emoji",
    ]
    assert parsed.entities[11]["url"] == "https://example.org/x?a=1&b=2"
    assert parsed.text == "bsieunstdpqacpqx\N{THUMBS UP SIGN}"


def test_offsets_count_utf16_code_units():
    parsed = parse_html("\N{CRYSTAL BALL} <b>The Star</b>")
    assert parsed.entities == [{"type": "bold", "offset": 3, "length": 8}]
    assert utf16_len("\N{CRYSTAL BALL}") == 2


def test_pre_with_code_language_is_one_pre_entity():
    parsed = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert parsed.entities == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]


def test_entities_are_decoded():
    parsed = parse_html("&lt;b&gt; &amp; &quot;q&quot; &#65;&#x42; &lt")
    assert parsed.text == '<b> & "q" AB <'


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("ok <br>", 'Unsupported start tag "br" at byte offset 3'),
        ("<b>bold", "Can't find end tag corresponding to start tag b"),
        ("</b>", "Unexpected end tag at byte offset 0"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        (
            '<a href="x" title>y</a>',
            'Expected equal sign in declaration of an attribute of the tag "a"',
        ),
        ("é <x>", 'Unsupported start tag "x" at byte offset 3'),
    ],
)
def test_malformed_html_is_refused_with_tdlib_wording(source, message):
    with pytest.raises(EntityParseError) as caught:
        parse_html(source)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("source", ["Tom & Jerry", "a &nbsp; b", "&#0;", "x &foo; y"])
def test_unescaped_ampersand_is_refused_by_default(source):
    with pytest.raises(ApiError) as caught:
        format_text(source, "HTML")
    assert caught.value.error_code == 400
    assert caught.value.description.startswith("Bad Request: can't parse entities: ")


def test_unescaped_ampersand_is_kept_in_lenient_mode():
    assert format_text("Tom & Jerry", "HTML", strict_entities=False).text == "Tom & Jerry"


def test_parse_modes():
    assert format_text("<b>x</b>", None).text == "<b>x</b>"
    assert format_text("*x*", "MarkdownV2").text == "*x*"
    assert format_text("<b>x</b>", "html").text == "x"
    with pytest.raises(ApiError, match="unsupported parse_mode"):
        format_text("x", "BBCode")
