"""The cached, banded picture is the picture drawn the plain way, pixel for pixel.

:func:`_reference` draws a picture as the renderer did before its caches:
one canvas, the sky, title and legend drawn on it, each face pasted through
its alpha, the badges, notes and question drawn in place. The renderer pastes
cached stages, headers, face tiles and sprites into a band of rows, sets the
question from cached glyphs, and for a JPEG encodes only that band: the tests
check both come out the same (PNG pixels, JPEG bytes), from any thread.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageDraw

from tarotbot.tarot import render
from tarotbot.tarot.draw import draw
from tarotbot.tarot.errors import DeckError
from tarotbot.tarot.languages import localize, localized_deck, plural_category
from tarotbot.tarot.render import card_face, render_spread
from tarotbot.tarot.spreads import CARD_ASPECT, SPREADS

QUESTIONS = [
    None,
    "What does the week hold for me, number 8000001?",
    "Что меня ждёт? ЙЁ Å gjpq_(){}|",  # tall and deep letters: the question's rows hold them
    "Will I " + "really " * 30 + "find my way?",  # two lines, cut
    "Is the office a good fit, or should I fly? Ю",  # ligatures; two scripts: drawn by Pillow
    "Will the offer reflect my skills, if I stay?",  # ligatures, one script: set glyph by glyph
]


def _languages() -> list[str]:
    try:
        localized_deck("ru")
    except DeckError:
        return ["en"]
    return ["en", "ru"]


def _reference(result, title=None, question=None, date=None, brand=None, language="en"):
    """The picture drawn the plain way (see the module notes), as an RGB image."""
    result = localize(result, language)
    spread = result.spread
    layout = render._layout(spread)
    w = layout.card_w
    heading = render.printable(title or "") or render.printable(spread.title)
    asked = render.plain_question(question)
    canvas = render._background(layout.width, layout.height)
    pen = ImageDraw.Draw(canvas)
    # title and the line under it
    shift = 0 if asked else (render.QUESTION_Y + render.QUESTION_LINE - render.SUB_Y) // 2
    lines, size = render._fit_lines(heading, 46, layout.width - 2 * render.PAD - 60, 1)
    heading = lines[0] if len(lines) == 1 else heading
    title_y = render.PAD + render.TITLE_Y + shift
    gold, face = render.GOLD, render.font(size)
    pen.text((layout.width / 2, title_y), heading, font=face, fill=gold, anchor="mm")
    half = face.getlength(heading) / 2
    for side in (-1, 1):
        render._diamond(pen, layout.width / 2 + side * (half + 24), title_y, 7)
    count = len(spread.positions)
    cards = render._label(language, f"cards.{plural_category(count, language)}", number=str(count))
    sub = [render.picture_date(date, language), cards]
    if spread.time_frame and spread.title.lower().removeprefix("the ") not in (
        spread.time_frame.lower()
    ):
        sub.append(render.printable(spread.time_frame))
    sub.append(render.printable(brand or ""))
    sub_text = render._separator().join(part for part in sub if part)
    sub_lines, sub_size = render._fit_lines(sub_text, 22, layout.width - 2 * render.PAD, 1)
    pen.text(
        (layout.width / 2, render.PAD + render.SUB_Y + shift),
        sub_lines[0] if len(sub_lines) == 1 else sub_text,
        font=render.font(sub_size),
        fill=render.MUTED,
        anchor="mm",
    )
    # shadows and legend
    left, top, min_x, min_y = render._origin(spread, layout)
    for position in spread.positions:
        if not position.rotated:
            x0, y0 = render._corner(position, layout, left, top, min_x, min_y)
            shadow = render._shadow(w, round(w * CARD_ASPECT))
            canvas.paste((0, 0, 0), (x0 - 12, y0 - 12), shadow)
    bottom = max(p.box()[3] for p in spread.positions)
    legend_top = top + (bottom - min_y) * w + 30
    lx = max(render.PAD, (layout.width - layout.legend_cols * layout.legend_col_w) / 2)
    face = render.font(render.LEGEND_FONT)
    for index, item in enumerate(render._legend_items(spread)):
        col, row = divmod(index, layout.legend_rows)
        x, y = lx + col * layout.legend_col_w, legend_top + row * render.LEGEND_LINE
        number, _, name = item.partition("  ")
        pen.text((x, y), number, font=face, fill=gold)
        pen.text((x + 34, y), name, font=face, fill=render.MUTED)
    # the question
    if asked:
        face = render.font(render.QUESTION_FONT)
        lines = render._quoted(asked, face, layout.width - 2 * render.PAD - 40, language)
        for i, line in enumerate(lines):
            y = render.PAD + render.QUESTION_Y + (i + (2 - len(lines)) / 2) * render.QUESTION_LINE
            ink = render.QUESTION_INK
            pen.text((layout.width / 2, y), line, font=face, fill=ink, anchor="mm")
    # the faces, then their numbers and notes
    placed = []
    for i, dc in enumerate(result.cards):
        x0, y0 = render._corner(dc.position, layout, left, top, min_x, min_y)
        note_at_top = False
        face = card_face(dc.card, dc.reversed, w, language)
        if dc.position.rotated:
            crossed = render._crossed(spread, i)
            if crossed is not None:
                down = result.cards[crossed].reversed
                y0 += round(render.CROSSING_SHIFT * w) * (1 if down else -1)
                note_at_top = down
            canvas.paste((0, 0, 0), (x0 - 12, y0 - 12), render._turned_shadow(w))
            face = face.rotate(90, expand=True)
        canvas.paste(face, (x0, y0), face)
        placed.append((i + 1, dc, note_at_top, x0, y0, x0 + face.width, y0 + face.height))
    r, pill = max(13, w * 0.1), max(11, round(w * 0.06))
    for i, dc, note_at_top, x0, y0, x1, y1 in placed:
        render._badge(pen, x0 + r * 0.55, y0 + r * 0.55, i, r)
        if dc.reversed:
            note = render._label(language, "reversed")
            render._pill(pen, (x0 + x1) / 2, y0 if note_at_top else y1, note, pill)
    return canvas


def _decoded(data: bytes) -> bytes:
    return Image.open(io.BytesIO(data)).convert("RGB").tobytes()


def _plain_jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=render.JPEG_QUALITY, subsampling="4:2:0")
    return out.getvalue()


def _check(result, **header):
    """PNG pixels and JPEG bytes as :func:`_reference`'s; the JPEG decodes as a plain one."""
    expected = _reference(result, **header)
    png = render_spread(result, **header)
    assert _decoded(png) == expected.tobytes()
    jpeg = render_spread(result, image_format="jpeg", **header)
    assert jpeg == render.encode_jpeg(expected)
    # restart markers change no pixel: it decodes as the JPEG without them
    assert _decoded(jpeg) == _decoded(_plain_jpeg(expected))


@pytest.mark.parametrize("language", _languages())
@pytest.mark.parametrize("name", sorted(SPREADS))
def test_every_spread_is_drawn_as_the_plain_way_draws_it(deck, name, language):
    for i, question in enumerate(QUESTIONS[:2] if name != "three" else QUESTIONS):
        result = draw(name, f"{i:02x}" * 16, 0.5, deck=deck)
        when = dt.datetime(2026, 11, 30, 21, 0)
        _check(result, question=question, date=when, brand="TarotBot", language=language)


def _celtic(deck, first_reversed: bool, crossing_reversed: bool):
    for i in range(500):
        result = draw("celtic", f"{i:032x}", 0.5, deck=deck)
        if (result.cards[0].reversed, result.cards[1].reversed) == (
            first_reversed,
            crossing_reversed,
        ):
            return result
    raise AssertionError("no such draw")


@pytest.mark.parametrize("first_reversed", [False, True])
@pytest.mark.parametrize("crossing_reversed", [False, True])
def test_the_crossing_card_and_its_shadow(deck, first_reversed, crossing_reversed):
    result = _celtic(deck, first_reversed, crossing_reversed)
    _check(result, question=QUESTIONS[2], date="30 Nov 2026", brand="@Bot", title="Anna’s")


@pytest.mark.parametrize("probability", [0.0, 1.0], ids=["upright", "reversed"])
def test_all_upright_and_all_reversed(deck, probability):
    for name in ("single", "three", "yearly_path"):
        _check(draw(name, "ab" * 16, probability, deck=deck), question=QUESTIONS[3])


def _whole(tile: render._Tile) -> Image.Image:
    face = Image.new("RGBA", (tile.width, tile.height))
    face.paste(tile.head, (0, 0))
    if tile.across:
        face.paste(tile.middle, (0, tile.first))
        face.paste(tile.tail, (0, tile.end))
    else:
        face.paste(tile.middle, (tile.first, 0))
        face.paste(tile.tail, (tile.end, 0))
    return face


@pytest.mark.parametrize("width", [155, 300])
def test_tiles_are_the_faces_cut_at_their_corners(deck, width):
    cards = deck.cards if width == 155 else deck.cards[::9]
    for card in cards:
        for reversed in (False, True):
            for turned in (False, True):
                tile = render._tile(card, reversed, width, "en", turned)
                face = card_face(card, reversed, width)
                if turned:
                    face = face.rotate(90, expand=True)
                assert _whole(tile).tobytes() == face.tobytes(), (card.name, reversed, turned)
                assert tile.middle.getchannel("A").getextrema() == (255, 255)
                assert 0 < tile.first < 0.1 * min(face.size)  # just the rounded corners
                assert tile.end > (face.height if tile.across else face.width) * 0.9


def test_a_mark_that_would_blend_is_drawn_in_place(deck, monkeypatch):
    """A note whose letters would blend with what is under them is no sprite: drawn as before."""

    def bare_note(pen, cx, cy, text, size):  # no pill under the letters
        pen.text((cx, cy), text, font=render.font(size), fill=render.GOLD, anchor="mm")

    render._sprite.cache_clear()
    monkeypatch.setattr(render, "_pill", bare_note)
    try:
        assert render._Mark("pill", "REVERSED", 18, 10.0, 10.0).sprite() is None
        assert render._Mark("badge", "3", 30.0, 10.0, 10.0).sprite() is not None
        _check(draw("three", "ab" * 16, 1.0, deck=deck), question=QUESTIONS[1])
    finally:
        monkeypatch.undo()
        render._sprite.cache_clear()


def test_jpeg_rows_split_and_join_back(deck):
    result = draw("celtic", "5eed" * 8, 0.5, deck=deck)
    data = render_spread(result, image_format="jpeg", question="Why?")
    head, rows = render._jpeg_rows(data)
    assert len(rows) == math.ceil(render.canvas_size(result.spread)[1] / render.MCU)
    assert render._joined(head, rows) == data
    assert b"\xff\xdd" in head  # the restart interval is set
    assert b"\xff\xc0" in head and b"\xff\xc2" not in head  # baseline, not progressive


def test_several_threads_render_at_once(deck):
    names = ["three", "celtic", "single", "yearly_path", "relationship", "three"]
    draws = [draw(name, f"{i:032x}", 0.5, deck=deck) for i, name in enumerate(names * 2)]
    header = {"date": "30 Nov 2026", "brand": "TarotBot"}

    def both(job):
        i, result = job
        question = QUESTIONS[i % len(QUESTIONS)]
        return (
            render_spread(result, image_format="jpeg", question=question, **header),
            render_spread(result, question=question, **header),
        )

    expected = [both(job) for job in enumerate(draws)]
    render._cache_clear()  # the threads fill the caches together
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(both, [*enumerate(draws)] * 2)) == expected * 2


def test_warm_faces_warms_what_a_reading_needs(deck):
    render._cache_clear()
    assert render.warm_faces(["single", "three"]) == len(deck)  # both lay cards 300 px wide
    warm = (render._upright_tile, render._stage, render._stage_jpeg, render._sprite)
    before = [cached.cache_info() for cached in warm]
    for name in ("three", "single"):
        for i in range(4):
            result = draw(name, f"{i:032x}", 0.5, deck=deck)
            render_spread(result, image_format="jpeg", question="Why?", date="1 Dec 2026")
    after = [cached.cache_info() for cached in warm]
    assert [info.misses for info in after] == [info.misses for info in before]
    assert after[0].hits > before[0].hits


# --------------------------------------------------------------------------- setting a line

INK, PAPER = (232, 224, 246), (20, 16, 36)


def _both_ways(text: str, xy=(70, 40), size=(140, 80)) -> tuple[bytes, bytes | None]:
    """``text`` drawn by ``ImageDraw.text`` and by ``_set_line`` (``None``: it declined)."""
    face = render.font(render.QUESTION_FONT)
    expected, got = Image.new("RGB", size, PAPER), Image.new("RGB", size, PAPER)
    ImageDraw.Draw(expected).text(xy, text, font=face, fill=INK, anchor="mm")
    done = render._set_line(ImageDraw.Draw(got), xy, text, face, INK)
    if not done:
        assert got.tobytes() == Image.new("RGB", size, PAPER).tobytes(), "declined, drew nothing"
    return expected.tobytes(), got.tobytes() if done else None


def test_set_line_draws_pairs_as_pillow_does():
    """A fifth of all pairs of settable characters (and the ligatures), pixel for pixel."""
    chars = sorted(render._SETTABLE)
    pairs = [a + b for a in chars for b in chars if (ord(a) * 7 + ord(b)) % 5 == 0]
    pairs += ["ffi", "ffl", "fi", "fl", "fff", "fffi", "ffli", "fifl", "f f", "ff"]
    pairs += [f"{a}fi{b}" for a in "«“ AоT" for b in "».,ey"]
    for text in pairs:
        expected, got = _both_ways(text)
        assert got == expected, repr(text)


def test_set_line_draws_lines_as_pillow_does():
    import random

    rng = random.Random(5)
    chars = sorted(render._SETTABLE)
    words = [
        "What",
        "does",
        "the",
        "week",
        "hold",
        "for",
        "me,",
        "my",
        "love",
        "life",
        "job",
        "career",
        "office",
        "offline",
        "fluffiest",
        "affliction",
        "final",
        "flow",
        "Tower",
        "Yoga",
        "AVATAR",
        "Anna",
        "8000001",
        "«да»",
        "—",
        "…",
        "Что",
        "меня",
        "ждёт",
        "в",
        "любви,",
        "работе",
        "и",
        "деньгах?",
        "Йога",
        "Ёлка",
    ]
    declined = 0
    for i in range(400):
        if i % 2:
            text = "“" + " ".join(rng.choice(words) for _ in range(rng.randint(1, 9))) + "?”"
        else:
            text = "".join(rng.choice(chars) for _ in range(rng.randint(1, 45)))
        xy = (rng.choice([536.5, 448.5, 360.0]), rng.choice([144.0, 159.5, 31.0, 47.5]))
        expected, got = _both_ways(text, xy, (1100, 200))
        if got is None:
            declined += 1
            continue
        assert got == expected, repr(text)
    assert declined < 100  # only lines mixing scripts (or in none: digits and marks alike)


def test_set_line_declines_what_it_cannot_set():
    assert _both_ways("Café")[1] is None  # é is not among the settable characters
    assert _both_ways("любви Tower")[1] is None  # two scripts: " T" kerns, but not across them
    expected, got = _both_ways("Anna Что")  # no kerning lost: set (or not), the same pixels
    assert got in (None, expected)
    expected, got = _both_ways("Что меня ждёт?", (200, 40), (400, 80))
    assert got == expected


def test_a_jpeg_without_a_marker_per_row_is_refused(deck, monkeypatch):
    """Were the encoder to drop the restart markers, the rows could not be joined: an error."""

    def unmarked(image, quality=render.JPEG_QUALITY):
        return _plain_jpeg(image.convert("RGB"))

    monkeypatch.setattr(render, "encode_jpeg", unmarked)
    render._stage_jpeg.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="not one per row"):
            render_spread(draw("single", "ab" * 16, deck=deck), image_format="jpeg")
    finally:
        monkeypatch.undo()
        render._stage_jpeg.cache_clear()
