"""The spread picture: the cards laid out as the spread prescribes, as PNG or JPEG.

Each card gets a designed face (no artwork needed): a frame in its element's
colours (fire warm reds and oranges, water blues, air pale yellow and silver,
earth greens and browns, the Major Arcana deep violet and gold), its numeral
at the top, a middle that tells the card at a glance, and its name at the
bottom. The middle is drawn with plain shapes: each trump its own symbol (the
Magician's infinity sign, the Hermit's lantern, the Tower struck by
lightning, ...), an Ace one large emblem of its suit (wand, cup, sword,
pentacle), Two to Ten that many pips in the playing-card arrangement, and a
court card its figure's emblem (Page a scroll, Knight a plumed helmet, Queen
a tiara, King a crown) over its suit's.
Reversed cards are turned 180°; the Celtic Cross's crossing card lies across
card 1, turned 90° and moved about a quarter of a card off its centre, away from
card 1's name, so both names stay readable. Numbered badges match a legend
of the positions under the cards, all on a dark, starry background. A header
on top makes the picture stand on its own when shared: the spread's title,
the date, the number of cards and the bot's name, and the question in at
most two lines (cut with "…").

Speed: a picture is put together from parts cached per process
(:func:`functools.lru_cache`): each face as laid, cut for pasting without
blending but at its rounded corners (:class:`_Tile`), each spread's stage
(sky, shadows, legend) and header (title and date line, per day), the number
badges and REVERSED notes (:class:`_Sprite`), and the question's glyphs
(:func:`_set_line`). As a JPEG it is joined from 16x16 blocks coded apart
(the JPEG has a restart marker after every block, :mod:`._jpeg`): the
stage's and header's blocks are coded once, so are the blocks inside each
face (:func:`_face_codes`) and those around a card at each place of a spread,
with its rounded corners, number and note (:func:`_edge_codes`). A reading
draws and encodes only the blocks of its question, and of what overlaps (the
Celtic Cross's crossing card and the card it crosses) (:func:`_spliced`).
For that, cards lie on the grid of blocks where the layout allows, moved at
most 8 px (:func:`_snap`). The picture is the same, pixel for pixel (PNG) and
byte for byte (JPEG), as everything drawn on one canvas and encoded at once
(the tests check it); if the encoder ever codes blocks otherwise, the picture
is encoded whole (logged once). A warm three-card JPEG with a question takes
about 1 ms (more than half of it the question's), a Celtic Cross about 3; a
PNG mostly its encoding (Pillow's, at zlib level 1).
Photos for Telegram are JPEG (``image_format="jpeg"``): Telegram turns every
photo into a JPEG of its own, so a lossless upload buys nothing the person
sees, and a JPEG takes a tenth of the time. The caches are safe from several
threads: a part is made at most a few times over, and never changed once
made.

Memory: a face is 0.1-0.6 MB, a stage 2-5 MB, a face's coded blocks 5-19 KB,
a card's coded edges 4-11 KB; the caches are bounded (160 upright faces, 64
reversed or turned, 5 blanks, 18 stages, 32 headers, :data:`FACE_CODES`
faces' blocks, :data:`EDGE_CODES` cards' edges), and card widths come in four
sizes (:data:`CARD_WIDTHS`) shared by all spreads. A worker warmed for
one-card and three-card readings (:func:`warm_faces`) holds about 70 MB of
them per language, the coded blocks about 9 MB of that, and the reversed
faces it turned on the way (at most 64, up to 37 MB, as readings fill them).

Language: the picture is drawn in the reading's language (:func:`render_spread`'s
``language``): the spread's and cards' names come from the localized draw, the
other words (REVERSED, "3 cards", months, labels) from the phrasing data's
``picture.json``.

Fonts: Roboto (Latin, Cyrillic, Greek), installed with the code by the
``font-roboto`` package, so no system font is needed on any host. Characters
it lacks lose their accents or go; in a question a run of letters from a
script it lacks becomes "…" (a question mostly in such a script is left out),
emoji and control characters go (:func:`plain_question`). Text is never
markup, and whatever it holds, the picture keeps its size.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import itertools
import logging
import math
import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from tarotbot.tarot import _jpeg
from tarotbot.tarot.deck import Card, Deck
from tarotbot.tarot.draw import Draw, DrawnCard
from tarotbot.tarot.languages import (
    DEFAULT_LANGUAGE,
    localize,
    localized_deck,
    localized_spread,
    plural_category,
)
from tarotbot.tarot.phrasing import load_phrasing
from tarotbot.tarot.spreads import CARD_ASPECT, Position, Spread, get_spread

log = logging.getLogger(__name__)

__all__ = [
    "IMAGE_FORMATS",
    "MAX_SIDE",
    "canvas_size",
    "card_face",
    "encode_jpeg",
    "encode_png",
    "render_spread",
    "warm_faces",
]

#: What :func:`render_spread` can produce.
IMAGE_FORMATS = ("png", "jpeg")
#: JPEG quality for photos: indistinguishable from the PNG at 2x zoom; chroma
#: is subsampled 4:2:0 as Telegram's own photos are.
JPEG_QUALITY = 90
#: The picture's longest side never exceeds this many pixels.
MAX_SIDE = 1600
#: Nor does its area: PNG encoding time grows with the pixel count (about
#: 30 ms for 1.3 megapixels on a small machine), and Telegram scales photos
#: down to 1280 px (2560 for HD) anyway. (1.4 rather than 1.3 since the
#: header holds the question: the Celtic Cross keeps its 155 px cards.)
MAX_PIXELS = 1_400_000
#: Card width bounds, in pixels.
MAX_CARD_W = 300
#: Card widths are rounded down to one of these, so spreads share cached faces.
CARD_WIDTHS = (300, 240, 200, 155)
MIN_CANVAS_W = 720
PAD = 44  # outer margin, px
HEADER_H = 160  # title, date and question band, px
LEGEND_FONT = 22
LEGEND_LINE = 32
#: How far the Celtic Cross's crossing card moves off the centre of the card it
#: crosses, in card widths, so that card's name stays in view (the crossing card
#: still covers its middle).
CROSSING_SHIFT = 0.27
SUPERSAMPLE = 2  # faces are drawn this many times larger, then scaled down (anti-aliasing)

BACKGROUND_TOP = (14, 12, 28)
BACKGROUND_BOTTOM = (36, 26, 58)
GOLD = (226, 190, 110)
MUTED = (176, 168, 200)
QUESTION_INK = (232, 224, 246)
QUESTION_FONT = 25
QUESTION_LINE = 31


@dataclass(frozen=True)
class Palette:
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    accent: tuple[int, int, int]
    ink: tuple[int, int, int]  # text colour


PALETTES = {
    "major": Palette((74, 36, 122), (28, 12, 58), (232, 196, 104), (250, 238, 206)),
    "fire": Palette((176, 44, 30), (236, 128, 44), (255, 214, 150), (255, 246, 228)),
    "water": Palette((22, 56, 122), (48, 128, 186), (176, 222, 255), (240, 248, 255)),
    "air": Palette((242, 232, 176), (196, 202, 216), (104, 108, 138), (44, 44, 70)),
    "earth": Palette((40, 92, 52), (118, 84, 46), (222, 202, 132), (248, 242, 222)),
}


# --------------------------------------------------------------------------- text


#: Roboto Regular, from the font-roboto package (Latin, Cyrillic and Greek).
FONT_FILE = str(files("font_roboto") / "files" / "Roboto-Regular.ttf")


def font(size: int) -> ImageFont.FreeTypeFont:
    """Roboto at ``size`` px (installed with the code: no system font needed)."""
    return _font(max(6, int(size)))


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_FILE, size)


_REPLACE = {"—": "-", "–": "-", "“": '"', "”": '"', "‘": "'", "…": "...", "·": "-", "’": "'"}


def printable(text: str) -> str:
    """``text`` reduced to what the font can draw.

    Characters the font has stay (Latin, Cyrillic, Greek, typographic
    quotes and dashes); others lose their accents or, failing that, go, as
    do control characters and emoji; whitespace runs become one space.
    """
    out = []
    for char in text:
        if char.isspace():
            char = " "
        elif not (" " <= char <= "~") and not (char.isprintable() and _has_glyph(char)):
            char = _REPLACE.get(char, char)
            char = "".join(c for c in unicodedata.normalize("NFKD", char) if " " <= c <= "~")
        out.append(char)
    return " ".join("".join(out).split())


@functools.lru_cache(maxsize=4096)
def _has_glyph(char: str) -> bool:
    """Whether the font draws ``char`` itself rather than its missing-glyph box."""
    face = font(40)
    missing = face.getmask("\ue000")  # a private-use character: never in a font
    mask = face.getmask(char)
    return mask.size != missing.size or bytes(mask) != bytes(missing)


def _glyph(char: str, fallback: str) -> str:
    return char if _has_glyph(char) else fallback


#: At most this many characters of a question are looked at (two lines hold fewer).
QUESTION_CHARS = 400
_LOST = "\x00"  # marks where letters the font lacks were


def plain_question(text: str | None) -> str:
    """A question as the picture shows it: plain text the font can draw, or ``""``.

    Nothing in it is markup. Control and formatting characters (direction
    marks among them) and emoji go; accents are dropped; a run of letters in
    a script the font lacks becomes one "…". A question most of whose letters
    the font lacks gives ``""``: the picture then shows none, rather than a
    row of ellipses.
    """
    parts: list[str] = []
    kept = lost = 0
    for char in (text or "")[:QUESTION_CHARS]:
        plain, letters = _plain_char(char)
        parts.append(plain)
        if plain == _LOST:
            lost += 1
        else:
            kept += letters
    if lost > kept:
        return ""
    joined = " ".join("".join(parts).split())
    joined = re.sub(f"{_LOST}[{_LOST} ]*{_LOST}|{_LOST}", _LOST, joined)
    return joined.replace(_LOST, _glyph("…", "...")).strip()


@functools.lru_cache(maxsize=4096)
def _plain_char(char: str) -> tuple[str, int]:
    """``char`` as :func:`plain_question` keeps it, and how many letters and digits that is.

    :data:`_LOST` for a letter or digit the font lacks, ``""`` for what goes.
    """
    plain = " " if char.isspace() else printable(char)
    if plain:
        return plain, sum(c.isalnum() for c in plain)
    if unicodedata.category(char)[0] in "LN":  # a letter or digit the font lacks
        return _LOST, 0
    return "", 0


def _quoted(
    text: str, face: ImageFont.FreeTypeFont, width: float, language: str = DEFAULT_LANGUAGE
) -> list[str]:
    """``text`` in the language's quotation marks, in at most two lines no wider than ``width``."""
    opening = _glyph(_label(language, "quote_open"), '"')
    closing = _glyph(_label(language, "quote_close"), '"')
    lines = _shorten(text, face, width - _length(face, opening + closing), 2)
    lines[0] = opening + lines[0]
    lines[-1] = lines[-1] + closing
    return lines


def _label(language: str, path: str, **values: str) -> str:
    """A word of the picture (``picture.<path>`` in the phrasing data) in ``language``."""
    return load_phrasing(language=language).say(f"picture.{path}", **values)


def picture_date(when: str | dt.date | None, language: str = DEFAULT_LANGUAGE) -> str:
    """``when`` as the header shows it: "30 Nov 2026" (a datetime in UTC; naive is UTC)."""
    if when is None:
        return ""
    if isinstance(when, str):
        return printable(when)
    if isinstance(when, dt.datetime) and when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return f"{when.day} {_label(language, f'months.{when.month}')} {when.year}"


def _wrap(text: str, face: ImageFont.FreeTypeFont, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and face.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


@functools.lru_cache(maxsize=1024)
def _advance(size: int, char: str) -> float:
    return font(size).getlength(char)


def _cut(text: str, face: ImageFont.FreeTypeFont, width: float) -> int:
    """How many leading characters of ``text`` fit in ``width`` (at least one).

    Adds up each character's advance (cached) rather than measuring ever
    longer prefixes; 2% is kept spare for kerning.
    """
    total = 0.0
    for i, char in enumerate(text):
        total += _advance(int(face.size), char)
        if total > width * 0.98:
            return max(1, i)
    return len(text)


@functools.lru_cache(maxsize=4096)
def _length(face: ImageFont.FreeTypeFont, word: str) -> float:
    """``face.getlength(word)``, remembered: questions share many words."""
    return face.getlength(word)


def _shorten(text: str, face: ImageFont.FreeTypeFont, width: float, max_lines: int) -> list[str]:
    """``text`` in at most ``max_lines`` lines no wider than ``width``, ending in "…" if cut.

    Words too long for a line are broken; the text is cut at a word when
    that loses little, else mid-word. Each word is measured once (a line's
    width is its words' and spaces' widths added up), and no more of the
    text than the lines need.
    """
    space = _length(face, " ")
    lines: list[str] = []
    used = 0.0  # the last line's width

    def measure(word: str) -> float:  # a long word is only measured if it may fit
        if len(word) > 40:
            return math.inf if _cut(word, face, width) < len(word) else face.getlength(word)
        return _length(face, word)

    for word in text.split():
        size = measure(word)
        if lines and used + space + size <= width:
            lines[-1] += " " + word
            used += space + size
            continue
        while size > width and len(lines) <= max_lines:  # a word longer than a line
            n = _cut(word, face, width)
            lines.append(word[:n])
            word = word[n:]
            size = measure(word)
        lines.append(word)
        used = size
        if len(lines) > max_lines:
            break
    if len(lines) <= max_lines:
        return lines
    dots = _glyph("…", "...")
    last = lines[max_lines - 1]
    room = width - face.getlength(dots)
    if face.getlength(last) > room:
        n = _cut(last, face, room)
        space_at = last.rfind(" ", 0, n + 1)
        last = last[:space_at] if space_at > n * 0.7 else last[:n]
    return [*lines[: max_lines - 1], last.rstrip(" ,;:-") + dots]


def _fit_lines(text: str, size: int, width: float, max_lines: int) -> tuple[list[str], int]:
    """Wrap ``text`` into at most ``max_lines`` lines no wider than ``width``, shrinking the font."""
    while size > 8:
        face = font(size)
        lines = _wrap(text, face, width)
        if len(lines) <= max_lines and all(face.getlength(line) <= width for line in lines):
            return lines, size
        size -= 1
    return _wrap(text, font(size), width), size


# --------------------------------------------------------------------------- emblems

Colour = tuple[int, int, int]


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    """``a`` blended towards ``b`` by ``t`` (0..1): no alpha, which would punch holes in a face."""
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _star(cx: float, cy: float, r_out: float, r_in: float, points: int, turn: float = -90):
    coords = []
    for i in range(points * 2):
        r = r_out if i % 2 == 0 else r_in
        a = math.radians(turn + i * 180 / points)
        coords.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return coords


def _disc(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: Colour) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)


def _ring(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, ink: Colour, width: int):
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=ink, width=width)


def _crescent(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, ink: Colour, turn: float):
    """A crescent moon of radius ``r``, its hollow facing the direction ``turn`` (degrees)."""
    size = math.ceil(2 * r) + 2
    mask = Image.new("L", (size, size), 0)
    pen = ImageDraw.Draw(mask)
    pen.ellipse((1, 1, size - 2, size - 2), fill=255)
    dx, dy = math.cos(math.radians(turn)) * r * 0.5, math.sin(math.radians(turn)) * r * 0.5
    c = size / 2
    r2 = r * 0.84
    pen.ellipse((c + dx - r2, c + dy - r2, c + dx + r2, c + dy + r2), fill=0)
    draw.bitmap((round(cx - c), round(cy - c)), mask, fill=ink)


def _heart(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: Colour) -> None:
    """A heart about ``2r`` wide, centred on (cx, cy)."""
    lobe = r * 0.54
    for side in (-1, 1):
        _disc(draw, cx + side * r * 0.46, cy - r * 0.28, lobe, fill)
    draw.polygon(
        [(cx - r * 0.98, cy - r * 0.12), (cx + r * 0.98, cy - r * 0.12), (cx, cy + r * 0.95)],
        fill=fill,
    )


def _lemniscate(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, a: float, ink: Colour, width: int
) -> None:
    """The infinity sign, ``2a`` wide."""
    pts = []
    for i in range(65):
        t = 2 * math.pi * i / 64
        d = 1 + math.sin(t) ** 2
        pts.append((cx + a * math.cos(t) / d, cy + a * math.sin(t) * math.cos(t) / d * 1.25))
    draw.line(pts, fill=ink, width=width, joint="curve")


def _leaf(cx: float, cy: float, length: float, width: float, angle: float) -> list:
    """A pointed leaf (lens) ``length`` long along ``angle`` degrees, as polygon points."""
    ca, sa = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    pts = []
    for i in range(13):
        t = math.pi * i / 12
        along, across = -math.cos(t) * length / 2, math.sin(t) * width / 2
        pts.append((along, across))
    pts += [(x, -y) for x, y in reversed(pts[1:-1])]
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in pts]


def _cup(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: Colour) -> None:
    """A goblet ``s`` tall centred on (cx, cy)."""
    draw.chord((cx - s * 0.34, cy - s * 0.62, cx + s * 0.34, cy + s * 0.1), 0, 180, fill=ink)
    draw.rectangle((cx - s * 0.34, cy - s * 0.3, cx + s * 0.34, cy - s * 0.24), fill=ink)
    draw.rectangle((cx - s * 0.05, cy + s * 0.08, cx + s * 0.05, cy + s * 0.36), fill=ink)
    draw.polygon(
        [
            (cx - s * 0.07, cy + s * 0.34),
            (cx + s * 0.07, cy + s * 0.34),
            (cx + s * 0.26, cy + s * 0.48),
            (cx - s * 0.26, cy + s * 0.48),
        ],
        fill=ink,
    )


def _emblem(draw: ImageDraw.ImageDraw, group: str, cx: float, cy: float, s: float, pal: Palette):
    """The suit's emblem, ``s`` px tall, centred on (cx, cy).

    Small emblems (pips) are drawn bolder so they stay legible on the
    smallest cards.
    """
    ink = pal.accent
    line = max(2, round(s * (0.075 if s < 120 else 0.045)))
    if group == "wands":
        draw.rounded_rectangle(
            (cx - s * 0.07, cy - s * 0.48, cx + s * 0.07, cy + s * 0.5), radius=s * 0.06, fill=ink
        )
        for i, dy in enumerate((-0.3, -0.05, 0.2)):
            side = -1 if i % 2 else 1
            draw.polygon(
                _leaf(cx + side * s * 0.2, cy + dy * s, s * 0.26, s * 0.12, -side * 20), fill=ink
            )
        _disc(draw, cx, cy - s * 0.49, s * 0.1, ink)
    elif group == "cups":
        _cup(draw, cx, cy, s, ink)
    elif group == "swords":
        draw.polygon(
            [
                (cx, cy - s * 0.56),
                (cx + s * 0.08, cy - s * 0.42),
                (cx + s * 0.08, cy + s * 0.2),
                (cx - s * 0.08, cy + s * 0.2),
                (cx - s * 0.08, cy - s * 0.42),
            ],
            fill=ink,
        )
        if s >= 120:
            draw.line(
                (cx, cy - s * 0.4, cx, cy + s * 0.16), fill=pal.bottom, width=max(1, line // 2)
            )
        draw.rounded_rectangle(
            (cx - s * 0.26, cy + s * 0.2, cx + s * 0.26, cy + s * 0.28), radius=s * 0.03, fill=ink
        )
        draw.rectangle((cx - s * 0.05, cy + s * 0.27, cx + s * 0.05, cy + s * 0.44), fill=ink)
        _disc(draw, cx, cy + s * 0.49, s * 0.075, ink)
    else:  # pentacles
        r = s * 0.42
        _ring(draw, cx, cy, r, ink, line)
        if s >= 120:
            _ring(draw, cx, cy, r * 0.86, ink, max(1, line // 2))
        pts = _star(cx, cy, r * 0.78, r * 0.78, 5)[::2]
        pentagram = [pts[i % 5] for i in (0, 2, 4, 1, 3, 0)]
        draw.line(pentagram, fill=ink, width=line, joint="curve")


# Pip positions for 2..10 as (x, y) in -1..1 of the pip area: the
# playing-card arrangement (two columns of rows, the rest down the middle).
_COLUMNS = ((-1, -1), (1, -1), (-1, 1), (1, 1))
_PIPS: dict[int, tuple[tuple[float, float], ...]] = {
    2: ((0, -1), (0, 1)),
    3: ((0, -1), (0, 0), (0, 1)),
    4: _COLUMNS,
    5: (*_COLUMNS, (0, 0)),
    6: tuple((x, y) for y in (-1, 0, 1) for x in (-1, 1)),
    7: (*((x, y) for y in (-1, 0, 1) for x in (-1, 1)), (0, -0.5)),
    8: (*((x, y) for y in (-1, 0, 1) for x in (-1, 1)), (0, -0.5), (0, 0.5)),
    9: (*((x, y) for y in (-1, -1 / 3, 1 / 3, 1) for x in (-1, 1)), (0, 0)),
    10: (*((x, y) for y in (-1, -1 / 3, 1 / 3, 1) for x in (-1, 1)), (0, -2 / 3), (0, 2 / 3)),
}
#: Pip height as a share of the pip area's height, by count.
_PIP_SIZE = {2: 0.36, 3: 0.3, 4: 0.36, 5: 0.3, 6: 0.28, 7: 0.27, 8: 0.25, 9: 0.225, 10: 0.215}


def _pips(draw, suit: str, count: int, box: tuple[float, float, float, float], pal: Palette):
    """``count`` pips of ``suit`` in the rectangle ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    size = (y1 - y0) * _PIP_SIZE[count]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w = min((x1 - x0) / 2 - size * 0.42, size * 1.1)
    if suit in ("wands", "swords"):  # tall and thin: smaller, so the rows stay apart
        size *= 0.86
    half_h = (y1 - y0 - size) / 2
    for x, y in _PIPS[count]:
        _emblem(draw, suit, cx + x * half_w, cy + y * half_h, size, pal)


def _ace(draw, suit: str, cx: float, cy: float, s: float, pal: Palette) -> None:
    """One large emblem in a burst of rays."""
    faint = _mix(pal.accent, pal.top, 0.55)
    for i in range(16):
        a = math.radians(i * 22.5 + 11.25)
        r0, r1 = s * 0.5, s * (0.7 if i % 2 else 0.62)
        draw.line(
            (
                cx + r0 * math.cos(a),
                cy + r0 * math.sin(a),
                cx + r1 * math.cos(a),
                cy + r1 * math.sin(a),
            ),
            fill=faint,
            width=max(2, round(s * 0.03)),
        )
    _emblem(draw, suit, cx, cy, s * 0.95, pal)


def _court(draw, rank: str, suit: str, cx: float, cy: float, s: float, pal: Palette) -> None:
    """A court card: its figure's emblem over the suit's, with its letter."""
    ink, hi = pal.accent, pal.ink
    line = max(3, round(s * 0.05))
    fy = cy - s * 0.3  # the figure's emblem, above the suit
    if rank == "king":  # a tall crown with three points and jewels
        w2, top, band = s * 0.34, fy - s * 0.2, fy + s * 0.12
        draw.polygon(
            [
                (cx - w2, band),
                (cx - w2, top),
                (cx - w2 * 0.5, fy - s * 0.04),
                (cx, top - s * 0.06),
                (cx + w2 * 0.5, fy - s * 0.04),
                (cx + w2, top),
                (cx + w2, band),
            ],
            fill=ink,
        )
        draw.rectangle((cx - w2 * 1.06, band, cx + w2 * 1.06, band + s * 0.07), fill=ink)
        for x in (-w2, 0, w2):
            _disc(draw, cx + x, (top - s * 0.06 if x == 0 else top) - s * 0.01, s * 0.045, hi)
        _disc(draw, cx, fy + s * 0.03, s * 0.04, hi)
    elif rank == "queen":  # a low tiara: an arc of balls over a band
        w2 = s * 0.3
        draw.chord((cx - w2, fy - s * 0.16, cx + w2, fy + s * 0.24), 180, 360, fill=ink)
        draw.rectangle((cx - w2, fy + s * 0.03, cx + w2, fy + s * 0.1), fill=ink)
        for i in range(5):
            a = math.radians(180 + 22.5 + i * 33.75)
            _disc(
                draw,
                cx + w2 * 1.05 * math.cos(a),
                fy + s * 0.04 + s * 0.22 * math.sin(a),
                s * 0.04,
                hi,
            )
        _heart(draw, cx, fy - s * 0.02, s * 0.06, hi)
    elif rank == "knight":  # a helmet with a plume
        w2 = s * 0.22
        draw.chord((cx - w2, fy - s * 0.2, cx + w2, fy + s * 0.24), 180, 360, fill=ink)
        draw.rectangle((cx - w2, fy + s * 0.02, cx + w2, fy + s * 0.14), fill=ink)
        draw.rectangle(
            (cx - w2 * 0.75, fy - s * 0.02, cx + w2 * 0.75, fy + s * 0.02), fill=pal.bottom
        )
        draw.polygon(_leaf(cx + s * 0.2, fy - s * 0.2, s * 0.34, s * 0.1, -30), fill=hi)
    else:  # page: a messenger's scroll
        w2 = s * 0.26
        draw.rectangle((cx - w2, fy - s * 0.1, cx + w2, fy + s * 0.1), fill=ink)
        for side in (-1, 1):
            _disc(draw, cx + side * w2, fy, s * 0.1, hi)
            _disc(draw, cx + side * w2, fy, s * 0.04, ink)
        for dy in (-0.04, 0.02):
            draw.line(
                (cx - w2 * 0.6, fy + dy * s, cx + w2 * 0.6, fy + dy * s),
                fill=pal.bottom,
                width=line // 2,
            )
    _emblem(draw, suit, cx, cy + s * 0.22, s * 0.58, pal)


# --------------------------------------------------------------------------- major arcana
#
# One symbol per trump, each drawn in a box of half-size ``r`` around (cx, cy)
# in gold (``a``) and cream (``b``), with the card's dark colour (``d``) for
# cut-outs. Simple shapes, distinct at a glance even on the smallest cards.


def _fool(draw, cx, cy, r, a, b, d, lw):  # a bundle on a stick at a cliff's edge, under the sun
    x, y = cx + r * 0.58, cy - r * 0.62
    for i in range(8):
        t = math.radians(i * 45 + 22.5)
        c, s = math.cos(t), math.sin(t)
        draw.line(
            (x + r * 0.28 * c, y + r * 0.28 * s, x + r * 0.4 * c, y + r * 0.4 * s), fill=b, width=lw
        )
    _disc(draw, x, y, r * 0.2, b)
    draw.polygon(
        [
            (cx - r, cy + r),
            (cx - r, cy + r * 0.42),
            (cx + r * 0.2, cy + r * 0.42),
            (cx + r * 0.42, cy + r),
        ],
        fill=a,
    )
    tx, ty = cx - r * 0.14, cy - r * 0.48  # the stick's tip, the bundle hanging from it
    draw.line(
        (cx - r * 0.62, cy + r * 0.42, tx + r * 0.08, ty - r * 0.1), fill=a, width=round(lw * 1.2)
    )
    for side in (-1, 1):  # the knot's two ears
        draw.polygon(
            [
                (tx, ty + r * 0.08),
                (tx + side * r * 0.2, ty - r * 0.04),
                (tx + side * r * 0.12, ty + r * 0.16),
            ],
            fill=b,
        )
    _disc(draw, tx, ty + r * 0.36, r * 0.24, b)
    draw.polygon(
        [
            (tx - r * 0.07, ty + r * 0.06),
            (tx + r * 0.07, ty + r * 0.06),
            (tx + r * 0.16, ty + r * 0.2),
            (tx - r * 0.16, ty + r * 0.2),
        ],
        fill=b,
    )


def _magician(draw, cx, cy, r, a, b, d, lw):  # the infinity sign over a raised wand
    _lemniscate(draw, cx, cy - r * 0.5, r * 0.75, b, round(lw * 1.2))
    draw.line((cx, cy - r * 0.05, cx, cy + r * 0.85), fill=a, width=round(lw * 1.6))
    for y in (cy - r * 0.05, cy + r * 0.85):
        _disc(draw, cx, y, lw * 1.4, a)
    draw.line((cx - r * 0.7, cy + r * 0.98, cx + r * 0.7, cy + r * 0.98), fill=a, width=lw)


def _priestess(draw, cx, cy, r, a, b, d, lw):  # a crescent moon between two pillars
    for side, fill in ((-1, a), (1, b)):
        x = cx + side * r * 0.72
        draw.rectangle((x - r * 0.14, cy - r * 0.78, x + r * 0.14, cy + r * 0.95), fill=fill)
        draw.rectangle((x - r * 0.22, cy - r * 0.95, x + r * 0.22, cy - r * 0.78), fill=fill)
        draw.rectangle((x - r * 0.22, cy + r * 0.85, x + r * 0.22, cy + r), fill=fill)
    _crescent(draw, cx, cy, r * 0.38, b, 0)


def _empress(draw, cx, cy, r, a, b, d, lw):  # the sign of Venus
    _ring(draw, cx, cy - r * 0.35, r * 0.5, a, round(lw * 1.5))
    draw.line((cx, cy + r * 0.12, cx, cy + r), fill=a, width=round(lw * 1.5))
    draw.line(
        (cx - r * 0.38, cy + r * 0.58, cx + r * 0.38, cy + r * 0.58), fill=a, width=round(lw * 1.5)
    )
    _disc(draw, cx, cy - r * 0.35, r * 0.14, b)


def _emperor(draw, cx, cy, r, a, b, d, lw):  # the ram's horns of Aries over a square throne
    draw.rectangle((cx - r * 0.62, cy + r * 0.2, cx + r * 0.62, cy + r), fill=a)
    draw.rectangle((cx - r * 0.38, cy + r * 0.4, cx + r * 0.38, cy + r * 0.8), outline=d, width=lw)
    w, y = round(lw * 1.4), cy - r * 0.55
    for side in (-1, 1):
        hx = cx + side * r * 0.3
        box = (hx - r * 0.3, y - r * 0.3, hx + r * 0.3, y + r * 0.3)
        if side < 0:
            draw.arc(box, 140, 360, fill=b, width=w)
        else:
            draw.arc(box, 180, 360, fill=b, width=w)
            draw.arc(box, 0, 40, fill=b, width=w)
    draw.line((cx, y, cx, cy + r * 0.2), fill=b, width=w)


def _hierophant(draw, cx, cy, r, a, b, d, lw):  # the triple cross
    w = round(lw * 1.5)
    draw.line((cx, cy - r * 0.95, cx, cy + r), fill=a, width=w)
    for y, half in ((-0.62, 0.26), (-0.26, 0.42), (0.1, 0.58)):
        draw.line((cx - r * half, cy + r * y, cx + r * half, cy + r * y), fill=a, width=w)
    _disc(draw, cx, cy - r * 0.95, w * 0.8, b)


def _lovers(draw, cx, cy, r, a, b, d, lw):  # two hearts
    _heart(draw, cx - r * 0.32, cy + r * 0.12, r * 0.55, a)
    _heart(draw, cx + r * 0.32, cy - r * 0.12, r * 0.55, b)


def _chariot(draw, cx, cy, r, a, b, d, lw):  # a starry canopy over a car on two wheels
    draw.chord((cx - r * 0.8, cy - r * 0.95, cx + r * 0.8, cy - r * 0.25), 180, 360, fill=b)
    for x in (-0.25, 0.25):
        draw.polygon(_star(cx + r * x, cy - r * 0.75, r * 0.12, r * 0.05, 4), fill=d)
    for side in (-1, 1):
        draw.line(
            (cx + side * r * 0.6, cy - r * 0.6, cx + side * r * 0.6, cy - r * 0.1), fill=b, width=lw
        )
    draw.rectangle((cx - r * 0.75, cy - r * 0.15, cx + r * 0.75, cy + r * 0.45), fill=a)
    for side in (-1, 1):
        x, y = cx + side * r * 0.48, cy + r * 0.62
        _disc(draw, x, y, r * 0.34, d)
        _ring(draw, x, y, r * 0.3, b, lw)
        draw.line((x - r * 0.3, y, x + r * 0.3, y), fill=b, width=max(1, lw // 2))
        draw.line((x, y - r * 0.3, x, y + r * 0.3), fill=b, width=max(1, lw // 2))


def _strength(draw, cx, cy, r, a, b, d, lw):  # the infinity sign over a lion's maned head
    _lemniscate(draw, cx, cy - r * 0.75, r * 0.48, b, lw)
    y = cy + r * 0.3
    for i in range(12):
        t = math.radians(i * 30)
        _disc(draw, cx + r * 0.5 * math.cos(t), y + r * 0.5 * math.sin(t), r * 0.2, a)
    _disc(draw, cx, y, r * 0.46, a)
    _disc(draw, cx, y + r * 0.04, r * 0.32, b)
    for side in (-1, 1):
        _disc(draw, cx + side * r * 0.12, y - r * 0.06, r * 0.05, d)
    draw.polygon(
        [(cx - r * 0.08, y + r * 0.1), (cx + r * 0.08, y + r * 0.1), (cx, y + r * 0.2)], fill=d
    )


def _hermit(draw, cx, cy, r, a, b, d, lw):  # a lantern with a star inside
    draw.arc((cx - r * 0.2, cy - r * 0.98, cx + r * 0.2, cy - r * 0.58), 180, 360, fill=a, width=lw)
    draw.polygon(
        [
            (cx - r * 0.35, cy - r * 0.6),
            (cx + r * 0.35, cy - r * 0.6),
            (cx + r * 0.2, cy - r * 0.45),
            (cx - r * 0.2, cy - r * 0.45),
        ],
        fill=a,
    )
    hexagon = _star(cx, cy + r * 0.12, r * 0.56, r * 0.56, 3, turn=0)
    draw.polygon(hexagon, fill=a)
    draw.polygon(_star(cx, cy + r * 0.12, r * 0.42, r * 0.42, 3, turn=0), fill=d)
    draw.polygon(_star(cx, cy + r * 0.12, r * 0.36, r * 0.15, 6), fill=b)
    draw.polygon(
        [
            (cx - r * 0.2, cy + r * 0.72),
            (cx + r * 0.2, cy + r * 0.72),
            (cx + r * 0.35, cy + r * 0.9),
            (cx - r * 0.35, cy + r * 0.9),
        ],
        fill=a,
    )


def _wheel(draw, cx, cy, r, a, b, d, lw):  # an eight-spoked wheel
    w = round(lw * 1.3)
    for i in range(8):
        t = math.radians(i * 45)
        draw.line(
            (cx, cy, cx + r * 0.9 * math.cos(t), cy + r * 0.9 * math.sin(t)), fill=a, width=lw
        )
        _disc(draw, cx + r * 0.98 * math.cos(t), cy + r * 0.98 * math.sin(t), lw * 1.1, b)
    _ring(draw, cx, cy, r * 0.86, a, w)
    _disc(draw, cx, cy, r * 0.24, b)
    _disc(draw, cx, cy, r * 0.1, d)


def _justice(draw, cx, cy, r, a, b, d, lw):  # the scales
    w = round(lw * 1.3)
    draw.line((cx, cy - r * 0.7, cx, cy + r * 0.85), fill=a, width=w)
    draw.polygon(
        [
            (cx - r * 0.4, cy + r),
            (cx + r * 0.4, cy + r),
            (cx + r * 0.12, cy + r * 0.8),
            (cx - r * 0.12, cy + r * 0.8),
        ],
        fill=a,
    )
    draw.line((cx - r * 0.82, cy - r * 0.6, cx + r * 0.82, cy - r * 0.6), fill=a, width=w)
    _disc(draw, cx, cy - r * 0.78, lw * 1.5, b)
    for side in (-1, 1):
        x = cx + side * r * 0.62
        for dx in (-0.32, 0.32):
            draw.line((x, cy - r * 0.6, x + dx * r, cy + r * 0.12), fill=b, width=max(1, lw // 2))
        draw.chord((x - r * 0.36, cy - r * 0.12, x + r * 0.36, cy + r * 0.36), 0, 180, fill=b)


def _hanged(draw, cx, cy, r, a, b, d, lw):  # a haloed figure hanging by one foot from a living tau
    w = round(lw * 1.4)
    draw.line((cx, cy - r * 0.9, cx, cy + r), fill=a, width=w)
    draw.line((cx - r * 0.75, cy - r * 0.9, cx + r * 0.75, cy - r * 0.9), fill=a, width=w)
    for side in (-1, 1):
        draw.polygon(
            _leaf(cx + side * r * 0.78, cy - r * 1.0, r * 0.3, r * 0.12, -side * 40), fill=a
        )
    hip, neck = cy - r * 0.1, cy + r * 0.4
    draw.line((cx, cy - r * 0.9, cx, hip), fill=b, width=w)  # the straight leg
    draw.line(
        (cx, cy - r * 0.42, cx + r * 0.32, cy - r * 0.3, cx, hip), fill=b, width=w, joint="curve"
    )
    draw.polygon(
        [(cx - r * 0.16, hip), (cx + r * 0.16, hip), (cx + r * 0.2, neck), (cx - r * 0.2, neck)],
        fill=b,
    )
    _ring(draw, cx, neck + r * 0.26, r * 0.3, b, max(1, lw // 2))
    _disc(draw, cx, neck + r * 0.22, r * 0.17, b)


def _death(draw, cx, cy, r, a, b, d, lw):  # a dark banner bearing a white rose
    draw.line((cx - r * 0.72, cy - r, cx - r * 0.72, cy + r), fill=a, width=round(lw * 1.3))
    _disc(draw, cx - r * 0.72, cy - r, lw * 1.3, a)
    flag = [
        (cx - r * 0.72, cy - r * 0.85),
        (cx + r * 0.85, cy - r * 0.85),
        (cx + r * 0.62, cy - r * 0.2),
        (cx + r * 0.85, cy + r * 0.45),
        (cx - r * 0.72, cy + r * 0.45),
    ]
    draw.polygon(flag, fill=_mix(d, (0, 0, 0), 0.55), outline=a, width=lw)
    x, y = cx + r * 0.02, cy - r * 0.2
    for i in range(5):
        t = math.radians(-90 + i * 72)
        _disc(draw, x + r * 0.2 * math.cos(t), y + r * 0.2 * math.sin(t), r * 0.17, b)
    _disc(draw, x, y, r * 0.12, a)


def _temperance(draw, cx, cy, r, a, b, d, lw):  # water poured from one cup into another
    _cup(draw, cx - r * 0.48, cy - r * 0.4, r * 0.95, a)
    _cup(draw, cx + r * 0.48, cy + r * 0.45, r * 0.95, a)
    x0, y0 = cx - r * 0.16, cy - r * 0.68  # the higher cup's rim, to the lower one's
    x1, y1 = cx + r * 0.46, cy + r * 0.05
    qx, qy = cx + r * 0.4, cy - r * 0.85
    pts = [
        (
            (1 - t) ** 2 * x0 + 2 * (1 - t) * t * qx + t * t * x1,
            (1 - t) ** 2 * y0 + 2 * (1 - t) * t * qy + t * t * y1,
        )
        for t in (i / 16 for i in range(17))
    ]
    draw.line(pts, fill=b, width=round(lw * 1.2), joint="curve")


def _devil(draw, cx, cy, r, a, b, d, lw):  # two horns over two hanging chains
    for side in (-1, 1):
        base, ctrl, tip = (
            (cx + side * r * 0.2, cy - r * 0.3),
            (cx + side * r * 0.85, cy - r * 0.35),
            (cx + side * r * 0.7, cy - r),
        )
        outer, inner = [], []
        for i in range(13):
            t = i / 12
            x = (1 - t) ** 2 * base[0] + 2 * (1 - t) * t * ctrl[0] + t * t * tip[0]
            y = (1 - t) ** 2 * base[1] + 2 * (1 - t) * t * ctrl[1] + t * t * tip[1]
            half = r * 0.13 * (1 - t)
            outer.append((x + side * half, y + half * 0.4))
            inner.append((x - side * half, y - half * 0.4))
        draw.polygon(outer + inner[::-1], fill=a)
    draw.rectangle((cx - r * 0.75, cy - r * 0.3, cx + r * 0.75, cy - r * 0.16), fill=a)
    for side in (-1, 1):
        x = cx + side * r * 0.45
        for i in range(3):
            y = cy - r * 0.1 + i * r * 0.36
            if i % 2 == 0:
                draw.ellipse((x - r * 0.14, y, x + r * 0.14, y + r * 0.44), outline=b, width=lw)
            else:
                draw.line((x, y - r * 0.02, x, y + r * 0.46), fill=b, width=round(lw * 1.2))


def _tower(draw, cx, cy, r, a, b, d, lw):  # a tower struck by lightning
    draw.polygon(
        [
            (cx - r * 0.4, cy - r * 0.45),
            (cx + r * 0.4, cy - r * 0.45),
            (cx + r * 0.52, cy + r),
            (cx - r * 0.52, cy + r),
        ],
        fill=a,
    )
    for i in range(3):
        x = cx - r * 0.4 + i * r * 0.32
        draw.rectangle((x, cy - r * 0.62, x + r * 0.16, cy - r * 0.44), fill=a)
    draw.rectangle((cx - r * 0.08, cy - r * 0.2, cx + r * 0.08, cy + r * 0.05), fill=d)
    draw.chord((cx - r * 0.18, cy + r * 0.55, cx + r * 0.18, cy + r * 1.1), 180, 360, fill=d)
    draw.polygon(
        [
            (cx + r * 0.95, cy - r),
            (cx + r * 0.35, cy - r * 0.65),
            (cx + r * 0.62, cy - r * 0.6),
            (cx + r * 0.2, cy - r * 0.15),
            (cx + r * 0.5, cy - r * 0.72),
            (cx + r * 0.25, cy - r * 0.75),
            (cx + r * 0.7, cy - r),
        ],
        fill=b,
    )


def _star_card(draw, cx, cy, r, a, b, d, lw):  # a great eight-pointed star among seven small
    draw.polygon(_star(cx, cy + r * 0.1, r * 0.62, r * 0.22, 8), fill=b)
    for i in range(7):
        t = math.radians(-90 - 135 + i * 45)
        x, y = cx + r * 0.86 * math.cos(t), cy + r * 0.1 + r * 0.86 * math.sin(t) * 1.0
        draw.polygon(_star(x, y, r * 0.17, r * 0.07, 8), fill=a)


def _moon(draw, cx, cy, r, a, b, d, lw):  # a crescent shedding drops
    _crescent(draw, cx, cy - r * 0.3, r * 0.62, a, -35)
    for x, y in ((-0.5, 0.55), (0, 0.75), (0.5, 0.55)):
        px, py = cx + r * x, cy + r * y
        _disc(draw, px, py, r * 0.11, b)
        draw.polygon(
            [(px - r * 0.1, py - r * 0.04), (px + r * 0.1, py - r * 0.04), (px, py - r * 0.28)],
            fill=b,
        )


def _sun(draw, cx, cy, r, a, b, d, lw):  # a full sun: long and short rays around a bright disc
    draw.polygon(_star(cx, cy, r, r * 0.5, 8), fill=a)
    draw.polygon(_star(cx, cy, r * 0.75, r * 0.45, 8, turn=-90 + 22.5), fill=a)
    _disc(draw, cx, cy, r * 0.5, b)
    _ring(draw, cx, cy, r * 0.36, a, max(1, lw // 2))


def _judgement(draw, cx, cy, r, a, b, d, lw):  # a trumpet with its cross banner, sounding
    t = math.radians(35)
    ux, uy = math.cos(t), math.sin(t)  # along the trumpet
    nx, ny = -uy, ux  # across it

    def at(along: float, across: float) -> tuple[float, float]:
        return (cx + r * (along * ux + across * nx), cy + r * (along * uy + across * ny))

    draw.polygon(
        [
            at(-1.05, -0.05),
            at(0.3, -0.07),
            at(0.75, -0.35),
            at(0.75, 0.35),
            at(0.3, 0.07),
            at(-1.05, 0.05),
        ],
        fill=a,
    )
    draw.line((*at(-1.05, 0), *at(0.3, 0)), fill=a, width=lw)
    fx, fy = at(-0.35, 0.05)
    flag = (fx - r * 0.3, fy + r * 0.02, fx + r * 0.26, fy + r * 0.55)
    draw.rectangle(flag, fill=b)
    mx, my = (flag[0] + flag[2]) / 2, (flag[1] + flag[3]) / 2
    draw.line((mx, flag[1] + r * 0.06, mx, flag[3] - r * 0.06), fill=d, width=max(1, lw // 2))
    draw.line((flag[0] + r * 0.06, my, flag[2] - r * 0.06, my), fill=d, width=max(1, lw // 2))
    bx, by = at(0.78, 0)
    for k in (0.3, 0.5):
        draw.arc(
            (bx - r * k, by - r * k, bx + r * k, by + r * k),
            -40 + 35,
            40 + 35,
            fill=b,
            width=max(1, lw // 2),
        )


def _world(draw, cx, cy, r, a, b, d, lw):  # a laurel wreath tied with ribbons
    rx, ry = r * 0.58, r * 0.9
    for i in range(20):
        t = math.radians(i * 18 + 9)
        if abs(math.sin(t)) > 0.93:  # leave room for the ribbons top and bottom
            continue
        x, y = cx + rx * math.cos(t), cy + ry * math.sin(t)
        tangent = math.degrees(math.atan2(ry * math.cos(t), -rx * math.sin(t)))
        draw.polygon(_leaf(x, y, r * 0.32, r * 0.13, tangent + 25), fill=a)
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), outline=a, width=max(1, lw // 2))
    for y in (cy - ry, cy + ry):
        draw.polygon(
            [
                (cx - r * 0.2, y - r * 0.11),
                (cx + r * 0.2, y + r * 0.11),
                (cx + r * 0.2, y - r * 0.11),
                (cx - r * 0.2, y + r * 0.11),
            ],
            fill=b,
        )
    for x in (-0.82, 0.82):  # the four living creatures in the corners
        for y in (-0.9, 0.9):
            _disc(draw, cx + r * x, cy + r * y, r * 0.09, b)


_MAJOR_SYMBOLS = (
    _fool,
    _magician,
    _priestess,
    _empress,
    _emperor,
    _hierophant,
    _lovers,
    _chariot,
    _strength,
    _hermit,
    _wheel,
    _justice,
    _hanged,
    _death,
    _temperance,
    _devil,
    _tower,
    _star_card,
    _moon,
    _sun,
    _judgement,
    _world,
)


def _major(draw: ImageDraw.ImageDraw, number: int, cx: float, cy: float, s: float, pal: Palette):
    """Trump ``number``'s symbol, about ``s`` px across, centred on (cx, cy)."""
    lw = max(3, round(s * 0.045))
    _MAJOR_SYMBOLS[number](draw, cx, cy, s * 0.46, pal.accent, pal.ink, pal.bottom, lw)


# --------------------------------------------------------------------------- faces


def _gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]):
    """A vertical gradient image (fast: a 256-px ramp, stretched)."""
    mask = Image.linear_gradient("L").resize((1, 256)).resize(size, Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)


@functools.lru_cache(maxsize=5)  # one card width's five palettes: only new faces need them
def _blank(group: str, width: int) -> Image.Image:
    """A card without its particulars, supersampled: gradient, frames, rounded corners."""
    k = SUPERSAMPLE
    w, h = width * k, round(width * CARD_ASPECT) * k
    pal = PALETTES[group]
    face = _gradient((w, h), pal.top, pal.bottom).convert("RGBA")
    draw = ImageDraw.Draw(face)
    radius = w * 0.07
    border = max(2, round(w * 0.022))
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=radius, outline=pal.accent, width=border)
    inset = w * 0.055
    draw.rounded_rectangle(
        (inset, inset, w - 1 - inset, h - 1 - inset),
        radius=radius * 0.6,
        outline=pal.accent,
        width=max(1, border // 2),
    )
    draw.line((w * 0.3, h * 0.155, w * 0.7, h * 0.155), fill=pal.accent, width=max(1, border // 2))
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, w - 1, h - 1), radius=radius, fill=255)
    face.putalpha(mask)
    return face


def _numeral(card: Card, language: str) -> str:
    """What the card shows at the top: a Roman numeral, or its rank's word (Ace, Queen…)."""
    if card.rank in ("ace", "page", "knight", "queen", "king"):
        return _label(language, f"ranks.{card.rank}")
    return card.numeral


@functools.lru_cache(maxsize=2)
def _upright_face(card: Card, width: int, language: str = DEFAULT_LANGUAGE) -> Image.Image:
    """The card's upright face, ``width`` px wide (drawn twice as large, then reduced).

    The middle tells the card at a glance: each trump its own symbol, an Ace
    one large emblem, Two to Ten that many pips, a court card its figure's
    emblem (crown, tiara, helmet, scroll) over its suit's. Hardly cached: the
    picture keeps its faces cut for pasting (:func:`_tile`).
    """
    group = "major" if card.is_major else card.element
    pal = PALETTES[group]
    face = _blank(group, width).copy()
    w, h = face.size
    draw = ImageDraw.Draw(face)
    numeral = _numeral(card, language)
    draw.text((w / 2, h * 0.1), numeral, font=font(round(w * 0.12)), fill=pal.ink, anchor="mm")
    # the middle, and the element under it when there is room; small cards get larger names
    small = width < 200
    cx, cy = w / 2, h * (0.41 if small else 0.42)
    if card.is_major:
        _major(draw, card.number, cx, cy, w * (0.66 if small else 0.6), pal)
    elif card.number == 1:
        _ace(draw, card.group, cx, cy, w * (0.52 if small else 0.5), pal)
    elif card.number <= 10:
        top, bottom = h * (0.19 if small else 0.2), h * (0.635 if small else 0.625)
        _pips(draw, card.group, card.number, (w * 0.16, top, w * 0.84, bottom), pal)
    else:
        _court(draw, card.rank or "", card.group, cx, cy, w * (0.62 if small else 0.58), pal)
    if not small:
        label = _label(language, "major_arcana" if card.is_major else f"elements.{card.element}")
        draw.text(
            (w / 2, h * 0.665), label, font=font(round(w * 0.06)), fill=pal.accent, anchor="mm"
        )
    # name, at most three lines
    lines, size = _fit_lines(
        printable(card.name), round(w * (0.15 if small else 0.115)), w * 0.84, 3
    )
    name_font = font(size)
    line_h = size * 1.12
    y0 = h * (0.8 if small else 0.82) - line_h * (len(lines) - 1) / 2
    for i, line in enumerate(lines):
        draw.text((w / 2, y0 + i * line_h), line, font=name_font, fill=pal.ink, anchor="mm")
    return face.reduce(SUPERSAMPLE)


def warm_faces(spread_names: Iterable[str], languages: Iterable[str] = (DEFAULT_LANGUAGE,)) -> int:
    """Draw every upright face at the card widths of ``spread_names`` now; return how many.

    A worker calls this before taking jobs so its first readings do not each
    pay a few milliseconds per new face (and forked work horses inherit the
    faces). Each spread's stage (sky, shadows, legend) is made and coded too,
    its number badges and REVERSED notes drawn, and every face, upright and
    reversed, coded in the blocks where the spread lays it (:func:`_face_codes`:
    one place on the grid for the one-card and three-card spreads), and its
    edges at each place (:func:`_edge_codes`). Bounded by the caches: at most
    160 upright faces stay (:func:`_tile`), :data:`FACE_CODES` faces' codes and
    :data:`EDGE_CODES` cards' edges (warmed only as far as they hold).
    """
    languages = tuple(languages)
    spreads = [get_spread(name) for name in spread_names]
    widths = sorted({_layout(spread).card_w for spread in spreads})
    count = 0
    places: dict[tuple[str, int, bool, int, int], None] = {}  # in order, once each
    for language in languages:
        deck = localized_deck(language)
        for width in widths:
            for card in deck:
                _tile(card, False, width, language, False)
                count += 1
        _warm_setting(language)
        for spread in spreads:
            _stage_coded(localized_spread(spread.name, language), language)
            for reversed in (False, True):  # the marks, on a draw of the deck's first cards
                cards = tuple(
                    DrawnCard(p, c, reversed) for p, c in zip(spread.positions, deck, strict=False)
                )
                sample = localize(Draw(spread, "0" * 32, True, 0.5, cards), language)
                for laid in _lay(sample, _layout(sample.spread), language):
                    for mark in laid.marks:
                        mark.sprite()
                    place = (language, laid.card_w, laid.turned, laid.x % MCU, laid.y % MCU)
                    places[place] = None
    room = FACE_CODES
    for language, width, turned, x, y in places:
        deck = localized_deck(language)
        if room < 2 * len(deck):
            break
        room -= 2 * len(deck)
        for reversed in (False, True):
            for card in deck:
                _face_codes(card, reversed, width, language, turned, x, y)
    room = EDGE_CODES
    for language in languages:
        deck = localized_deck(language)
        for spread in spreads:
            room -= _warm_edges(spread, deck, language, room)
    return count


def _warm_edges(spread: Spread, deck: Deck, language: str, room: int) -> int:
    """Every card's edges coded at each of ``spread``'s places, upright and reversed, where
    nothing else draws on them (:func:`_edge_codes`), if ``room`` holds them; how many.

    Card by card (laid at every place at once), so that each face is turned once."""

    def lay(card: Card, reversed: bool) -> tuple[Spread, list[_Laid]]:
        cards = tuple(DrawnCard(p, card, reversed) for p in spread.positions)
        drawn = localize(Draw(spread, "0" * 32, True, 0.5, cards), language)
        return drawn.spread, _lay(drawn, _layout(drawn.spread), language)

    alone: dict[bool, list[int]] = {}
    for reversed in (False, True):  # which places' edges only their card draws on
        localized, laid = lay(deck.cards[0], reversed)
        parts = _Parts.of((localized, "", "", "", False, language), [], laid)
        owned, marks = _owned(parts), iter(parts.marks)
        alone[reversed] = []
        for i, (card, around) in enumerate(parts.cards):
            own = [box for _, box in itertools.islice(marks, len(card.marks))]
            if _alone(i, _card_blocks(card, around, own)[2], owned):
                alone[reversed].append(i)
    count = len(deck) * (len(alone[False]) + len(alone[True]))
    if count > room:
        return 0
    for card in deck.cards:
        for reversed in (False, True):
            localized, laid = lay(card, reversed)
            for i in alone[reversed]:
                c = laid[i]
                _edge_codes(localized, language, c.face, c.x, c.y, c.marks)
    return count


#: The letters of a language a question's pairs are mostly made of (warmed).
_LETTERS = {"ru": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"}


def _warm_setting(language: str) -> None:
    """The question's glyphs and its language's common pairs measured (:func:`_set_line`)."""
    face = font(QUESTION_FONT)
    for unit in sorted(_SETTABLE | _LIGATURES):
        _coverage(face, unit)
    lower = _LETTERS.get(language, "abcdefghijklmnopqrstuvwxyz")
    upper, marks = lower.upper(), " ,.?!-“”«»"
    pairs = [a + b for a in lower + marks for b in lower + marks]
    pairs += [a + b for a in upper for b in lower] + [a + b for a in marks for b in upper]
    for pair in pairs:
        _length64(face, pair)
    for unit in _SETTABLE:
        _length64(face, unit)


@functools.lru_cache(maxsize=64)
def card_face(
    card: Card, reversed: bool, width: int, language: str = DEFAULT_LANGUAGE
) -> Image.Image:
    """The card's face as an RGBA image ``width`` px wide, turned 180° when reversed.

    Cached per (card, orientation, width, language); the reversed face is the
    upright one turned. Treat the result as read-only. (The picture pastes
    the same faces from :func:`_tile`'s cache.)
    """
    face = _upright_face(card, width, language)
    return face.rotate(180) if reversed else face


@dataclass(frozen=True)
class _Tile:
    """A face cut in three for pasting: the two edges with its rounded corners go
    through their alpha, the opaque middle between them is copied as it is.

    Upright or reversed, a face is cut across (into rows); on its side (the
    Celtic Cross's crossing card) along (into columns).
    """

    head: Image.Image  # RGBA: the top rows, or the left columns
    middle: Image.Image  # RGBA, opaque from edge to edge
    tail: Image.Image  # RGBA: the bottom rows, or the right columns
    across: bool

    @property
    def width(self) -> int:
        return (
            self.middle.width
            if self.across
            else self.head.width + self.middle.width + self.tail.width
        )

    @property
    def height(self) -> int:
        return (
            self.head.height + self.middle.height + self.tail.height
            if self.across
            else self.middle.height
        )

    @property
    def first(self) -> int:
        """Where the middle starts: its first row (across) or column."""
        return self.head.height if self.across else self.head.width

    @property
    def end(self) -> int:
        """Where the middle ends."""
        return self.first + (self.middle.height if self.across else self.middle.width)

    @classmethod
    def cut(cls, face: Image.Image) -> _Tile:
        """``face`` (upright) cut across, above and below the rows with see-through pixels."""
        w, h = face.size
        see_through = face.getchannel("A").point([255] * 255 + [0])
        upper = see_through.crop((0, 0, w, h // 2)).getbbox()
        lower = see_through.crop((0, h // 2, w, h)).getbbox()
        first = upper[3] if upper else 0
        end = h // 2 + lower[1] if lower else h
        parts = [
            face.crop((0, top, w, bottom)) for top, bottom in ((0, first), (first, end), (end, h))
        ]
        return cls(*parts, across=True)

    def turned(self, turn: Image.Transpose) -> _Tile:
        """The tile of the face turned 90°, 180° or 270° (its parts turned, exactly)."""
        head, middle, tail = (part.transpose(turn) for part in (self.head, self.middle, self.tail))
        if turn is Image.Transpose.ROTATE_180:
            return _Tile(tail, middle, head, self.across)
        if turn is Image.Transpose.ROTATE_90:  # counter-clockwise: the top goes to the left
            return _Tile(head, middle, tail, not self.across)
        return _Tile(tail, middle, head, not self.across)  # clockwise: the top goes right


@functools.lru_cache(maxsize=160)
def _upright_tile(card: Card, width: int, language: str) -> _Tile:
    return _Tile.cut(_upright_face(card, width, language))


@functools.lru_cache(maxsize=64)
def _turned_tile(card: Card, reversed: bool, width: int, language: str, turned: bool) -> _Tile:
    if turned:  # on its side (the Celtic Cross's crossing card): 90°, or 270° when reversed
        turn = Image.Transpose.ROTATE_270 if reversed else Image.Transpose.ROTATE_90
    else:
        turn = Image.Transpose.ROTATE_180
    return _upright_tile(card, width, language).turned(turn)


def _tile(card: Card, reversed: bool, width: int, language: str, turned: bool) -> _Tile:
    """The card's face as it is laid, cut for pasting (:class:`_Tile`).

    Cached: 160 upright faces, 64 reversed or turned ones (made from the
    upright one in a fraction of a millisecond); the pixels are
    :func:`card_face`'s, turned 90° more for the crossing card.
    """
    if reversed or turned:
        return _turned_tile(card, reversed, width, language, turned)
    return _upright_tile(card, width, language)


@functools.lru_cache(maxsize=32)
def _shadow(width: int, height: int) -> Image.Image:
    """A soft dark rounded rectangle to lift cards off the background."""
    pad = 12
    img = Image.new("L", (width + 2 * pad, height + 2 * pad), 0)
    ImageDraw.Draw(img).rounded_rectangle(
        (pad, pad + 4, pad + width, pad + height + 4), radius=width * 0.07, fill=150
    )
    return img.filter(ImageFilter.GaussianBlur(6))


@functools.lru_cache(maxsize=32)
def _turned_shadow(width: int) -> Image.Image:
    return _shadow(width, round(width * CARD_ASPECT)).rotate(90, expand=True)


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    card_w: int
    width: int
    height: int
    legend_rows: int
    legend_cols: int
    legend_col_w: int
    #: How far each card is moved onto the 16-px grid of JPEG blocks (:func:`_snap`),
    #: by its slot (x, y, rotated): the same in every language.
    moves: tuple[tuple[tuple[float, float, bool], tuple[int, int]], ...] = ()


def _legend_items(spread: Spread) -> list[str]:
    return [f"{i}  {printable(p.name)}" for i, p in enumerate(spread.positions, 1)]


def _legend_grid(spread: Spread, width: int) -> tuple[int, int, int]:
    """(rows, cols, column width) for the legend across ``width`` px."""
    face = font(LEGEND_FONT)
    col_w = int(max(face.getlength(item) for item in _legend_items(spread)) + 40)
    cols = max(1, min(len(spread.positions), (width - 2 * PAD) // col_w, 4))
    rows = math.ceil(len(spread.positions) / cols)
    return rows, cols, col_w


@functools.lru_cache(maxsize=32)
def _layout(spread: Spread) -> Layout:
    """Card width and canvas size: the largest cards that keep the canvas in bounds.

    Bounds: :data:`MAX_SIDE` px on the long side and :data:`MAX_PIXELS` in all
    (PNG encoding time grows with the pixel count).
    """
    units_w, units_h = spread.size
    legend_rows = 4

    def canvas(card_w: int, rows: int) -> tuple[int, int]:
        width = max(MIN_CANVAS_W, math.ceil(units_w * card_w) + 2 * PAD)
        height = HEADER_H + math.ceil(units_h * card_w) + rows * LEGEND_LINE + 36 + 2 * PAD
        return width, height

    card_w = MAX_CARD_W
    for _ in range(3):  # the legend's height depends on the width, which depends on the cards
        legend_h = legend_rows * LEGEND_LINE + 36
        free_h = MAX_SIDE - 2 * PAD - HEADER_H - legend_h
        card_w = int(min(MAX_CARD_W, (MAX_SIDE - 2 * PAD) / units_w, free_h / units_h))
        while card_w > 60 and math.prod(canvas(card_w, legend_rows)) > MAX_PIXELS:
            card_w -= 2
        card_w = max([w for w in CARD_WIDTHS if w <= card_w] or [card_w])
        legend_rows, cols, col_w = _legend_grid(spread, canvas(card_w, legend_rows)[0])
    width, height = canvas(card_w, legend_rows)
    layout = Layout(card_w, width, height, legend_rows, cols, col_w)
    return dataclasses.replace(layout, moves=_snap(spread, layout))


#: How far :func:`_snap` may move a card, px.
SNAP_MOST = 8


def _snap(
    spread: Spread, layout: Layout
) -> tuple[tuple[tuple[float, float, bool], tuple[int, int]], ...]:
    """How far to move each card so that the most corners lie on the 16-px grid of JPEG
    blocks: a card there is coded once for all the places such a card goes, and a card
    off it once for each place it has in its blocks (:func:`_face_codes`).

    The layout stays as designed: across, then down, all cards shift
    together, then each column's (row's) position may go to the nearest grid
    line; no card moves more than :data:`SNAP_MOST` px or into the header, the
    gaps between the cards of a row (column) that were even stay even, and no
    distance between neighbouring columns (rows) of cards changes by more than
    :data:`SNAP_MOST` px. Among equals, the least move. (The crossing card moves
    with the card it crosses, then onto the grid: :func:`_crossing`.)
    """
    left, top, min_x, min_y = _origin(spread, layout)
    laid = [p for p in spread.positions if not p.rotated]
    corner = [_designed(p, layout, left, top, min_x, min_y) for p in laid]
    x0s, y0s = [x for x, _ in corner], [y for _, y in corner]
    ys = _snap_axis(y0s, x0s, top, [True] * len(laid))  # down, then across, then down again:
    xs = _snap_axis(x0s, y0s, None, [y % MCU == 0 for y in ys])  # cards on the grid both ways
    ys = _snap_axis(y0s, x0s, top, [x % MCU == 0 for x in xs])
    moves = {p: (x - x0, y - y0) for p, (x0, y0), x, y in zip(laid, corner, xs, ys, strict=True)}
    for i, p in enumerate(spread.positions):  # a crossing card moves with the card it crosses
        crossed = _crossed(spread, i) if p.rotated else None
        if crossed is not None:
            moves[p] = moves.get(spread.positions[crossed], (0, 0))
    return tuple(((p.x, p.y, p.rotated), moves.get(p, (0, 0))) for p in spread.positions)


def _snap_axis(
    values: list[int], lines: list[int], least: float | None, counted: list[bool]
) -> list[int]:
    """The cards' corners along one axis (``values``) moved onto the grid as :func:`_snap`
    says; ``lines``: their other coordinate (cards sharing it share a row or column);
    ``least``: the smallest allowed; ``counted``: the cards whose other coordinate is on
    the grid (the most of them on it this way too first)."""
    distinct = sorted(set(values))
    rows: dict[int, list[int]] = {}
    for value, line in zip(values, lines, strict=True):
        rows.setdefault(line, []).append(value)
    sequences = [sorted(set(row)) for row in rows.values() if len(set(row)) > 1]
    best, chosen = None, values
    for shift in range(-SNAP_MOST, SNAP_MOST + 1):
        options = []
        for v in distinct:
            grid = round((v + shift) / MCU) * MCU
            options.append([v + shift] + ([grid] if abs(grid - v) <= SNAP_MOST else []))
        for choice in itertools.product(*options):
            new = dict(zip(distinct, choice, strict=True))
            if least is not None and min(choice) < least:
                continue
            if not all(_still_even(seq, [new[v] for v in seq]) for seq in sequences):
                continue
            # neighbouring columns of different rows: a pixel more (their rounding)
            if any(
                abs((b - a) - (d - c)) > SNAP_MOST + 1
                for (a, b), (c, d) in zip(
                    itertools.pairwise(choice), itertools.pairwise(distinct), strict=True
                )
            ):
                continue
            on_grid = [new[v] % MCU == 0 for v in values]
            both = sum(1 for on, other in zip(on_grid, counted, strict=True) if on and other)
            moved = [abs(new[v] - v) for v in values]
            key = (-both, -sum(on_grid), max(moved), sum(moved))
            if best is None or key < best:
                best, chosen = key, [new[v] for v in values]
    if best is None or best[1] == 0:
        return values  # nothing goes onto the grid: nothing moves
    return chosen


def _still_even(before: list[int], after: list[int]) -> bool:
    """Whether a row's corners moved from ``before`` to ``after`` keep its spacing: in
    order, even gaps (to a pixel) still even, and no gap changed by more than
    :data:`SNAP_MOST` px."""
    gaps = [b - a for a, b in itertools.pairwise(before)]
    new = [b - a for a, b in itertools.pairwise(after)]
    if any(g <= 0 or abs(g - o) > SNAP_MOST for g, o in zip(new, gaps, strict=True)):
        return False
    return all(
        abs(new[i] - new[j]) <= 1
        for i in range(len(gaps))
        for j in range(i)
        if abs(gaps[i] - gaps[j]) <= 1
    )


def _designed(
    position: Position, layout: Layout, left: float, top: float, min_x: float, min_y: float
) -> tuple[int, int]:
    """The canvas pixel of ``position``'s top left corner as the spread designs it."""
    bx0, by0, _, _ = position.box()
    return round(left + (bx0 - min_x) * layout.card_w), round(top + (by0 - min_y) * layout.card_w)


def canvas_size(spread: Spread) -> tuple[int, int]:
    """The picture's (width, height) in px for ``spread``."""
    layout = _layout(spread)
    return layout.width, layout.height


def _background(width: int, height: int) -> Image.Image:
    img = _gradient((width, height), BACKGROUND_TOP, BACKGROUND_BOTTOM)
    draw = ImageDraw.Draw(img)
    rng = random.Random(1909)  # fixed: the same sky every time
    for _ in range(width * height // 9000):
        x, y = rng.randrange(width), rng.randrange(height)
        shade = rng.randrange(70, 200)
        r = rng.choice((0, 0, 0, 1))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(shade, shade, min(255, shade + 30)))
    return img


def _badge(draw: ImageDraw.ImageDraw, cx: float, cy: float, number: int, r: float) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(20, 16, 36), outline=GOLD, width=2)
    draw.text((cx, cy), str(number), font=font(round(r * 1.15)), fill=GOLD, anchor="mm")


def _pill(draw: ImageDraw.ImageDraw, cx: float, cy: float, text: str, size: int) -> None:
    face = font(size)
    half = face.getlength(text) / 2 + size * 0.6
    draw.rounded_rectangle(
        (cx - half, cy - size * 0.75, cx + half, cy + size * 0.75),
        radius=size * 0.75,
        fill=(20, 16, 36),
        outline=GOLD,
        width=1,
    )
    draw.text((cx, cy), text, font=face, fill=GOLD, anchor="mm")


def _diamond(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float) -> None:
    draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=GOLD)


def _origin(spread: Spread, layout: Layout) -> tuple[float, float, float, float]:
    """(left, top) of the layout on the canvas, and the boxes' minimum x and y (card widths)."""
    boxes = [p.box() for p in spread.positions]
    min_x, min_y = min(b[0] for b in boxes), min(b[1] for b in boxes)
    span_w = (max(b[2] for b in boxes) - min_x) * layout.card_w
    return (layout.width - span_w) / 2, PAD + HEADER_H, min_x, min_y


def _corner(
    position: Position, layout: Layout, left: float, top: float, min_x: float, min_y: float
) -> tuple[int, int]:
    """The canvas pixel of ``position``'s top left corner, as the spread lays it.

    Moved onto the grid of JPEG blocks as far as the layout allows (:func:`_snap`).
    """
    x, y = _designed(position, layout, left, top, min_x, min_y)
    slot = (position.x, position.y, position.rotated)
    for at, (dx, dy) in layout.moves:
        if at == slot:
            return x + dx, y + dy
    return x, y


def _legend_top(spread: Spread, layout: Layout) -> float:
    """Where the legend starts: 30 px under the lowest card (as moved onto the grid)."""
    left, top, min_x, min_y = _origin(spread, layout)
    bottom = max(p.box()[3] for p in spread.positions)
    moved = max(
        _corner(p, layout, left, top, min_x, min_y)[1]
        - _designed(p, layout, left, top, min_x, min_y)[1]
        for p in spread.positions
        if p.box()[3] == bottom
    )
    return top + (bottom - min_y) * layout.card_w + 30 + moved


def _crossing(x: int, y: int, width: int, down: bool) -> tuple[int, int]:
    """The crossing card's corner: from (x, y), where it would lie dead on the card it
    crosses, moved :data:`CROSSING_SHIFT` card widths down (or up) off its name, then
    onto the nearest corner of the grid of JPEG blocks that moves it no less far."""
    y += round(CROSSING_SHIFT * width) * (1 if down else -1)
    gx = round(x / MCU) * MCU
    gy = (y + MCU - 1) // MCU * MCU if down else y // MCU * MCU
    if abs(gy - y) > SNAP_MOST:
        gy = round(y / MCU) * MCU
    return gx, gy


def _crossed(spread: Spread, index: int) -> int | None:
    """Which card the rotated card at ``index`` lies across: the one sharing its centre."""
    position = spread.positions[index]
    for i, other in enumerate(spread.positions):
        if not other.rotated and (other.x, other.y) == (position.x, position.y):
            return i
    return None


#: Vertical centres in the header, px below :data:`PAD`: title, the line under
#: it, the question's two lines. Without a question, title and line move
#: down to the middle of the band.
TITLE_Y, SUB_Y, QUESTION_Y = 16, 60, 100


def _separator() -> str:
    return f"  {_glyph('·', '-')}  "


# --------------------------------------------------------------------------- setting a line
#
# Pillow lays out and hints every glyph of a line three times each time it
# draws it: most of the time a question takes. :func:`_set_line` draws the
# same pixels from glyphs Pillow drew once (cached), placed exactly where
# Pillow's layout puts them: a glyph's advance is the pair it starts with
# less the pair's second glyph (kerning is by pairs), rounded to whole
# pixels as Pillow rounds, and the glyphs' coverage is combined as Pillow
# combines it. Roboto's layout allows it: its only substitutions for these
# characters are the Latin ligatures ffi, ffl, fi, fl (set as one glyph) and
# its only positioning is kerning by pairs (GPOS "kern", pair adjustments;
# "mark"/"mkmk" place combining marks, which are not among them). The tests
# check pairs of :data:`_SETTABLE` characters and many lines against
# ``ImageDraw.text``, pixel for pixel; a line whose advances do not add up to
# Pillow's own length for it (text mixing scripts: HarfBuzz does not kern
# between them) or with other characters is left to ``ImageDraw.text``.

#: Characters :func:`_set_line` sets: ASCII, Cyrillic, typographic quotes and dashes.
_SETTABLE = frozenset(
    [chr(c) for c in range(0x20, 0x7F)]
    + [chr(c) for c in range(0x410, 0x450)]
    + list("Ёё“”„«»‘’–—…·")
)
#: What the font draws as one glyph (its ligatures, Latin "liga"), set as one.
_LIGATURES = frozenset({"ffi", "ffl", "fi", "fl"})


def _pixel(v: int) -> int:
    """FreeType's 1/64-px length rounded to whole pixels (as Pillow's ``PIXEL``)."""
    return (v + 32) >> 6


def _c_round(v: float) -> int:
    """C's ``round``: halves away from zero."""
    return math.floor(v + 0.5) if v >= 0 else -math.floor(0.5 - v)


@functools.lru_cache(maxsize=16384)
def _length64(face: ImageFont.FreeTypeFont, text: str) -> int:
    """``text``'s advance in 1/64 px as Pillow lays it out."""
    return round(face.getlength(text) * 64)


@functools.lru_cache(maxsize=1024)
def _coverage(face: ImageFont.FreeTypeFont, text: str) -> tuple[Image.Image | None, int, int]:
    """``text`` (a character or ligature) as Pillow draws it with its pen on the baseline
    at (0, 0): its coverage (``None`` if blank) and where its top left goes."""
    mask, (dx, dy) = face.getmask2(text, "L", anchor="ls")
    if not mask.size[0] or not mask.size[1]:
        return None, dx, dy
    return Image.frombytes("L", mask.size, bytes(mask)), dx, dy


@functools.lru_cache(maxsize=16)
def _middle_to_baseline(face: ImageFont.FreeTypeFont) -> int:
    """How far below a line's middle (anchor "m") its baseline is, px."""
    return face.getmask2("H", "L", anchor="mm")[1][1] - face.getmask2("H", "L", anchor="ls")[1][1]


def _set_line(
    pen: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, face, fill: Colour
) -> bool:
    """``pen.text(xy, text, font=face, fill=fill, anchor="mm")``'s pixels from cached glyphs.

    ``False`` (nothing drawn) for a line it cannot set exactly so.
    """
    got = _line_coverage(xy, text, face)
    if got is None:
        return False
    coverage, x0, y0 = got
    if coverage is not None:
        pen.bitmap((x0, y0), coverage, fill=fill)
    return True


def _line_coverage(
    xy: tuple[float, float], text: str, face
) -> tuple[Image.Image | None, int, int] | None:
    """What :func:`_set_line` draws: the line's coverage (``None`` if blank) and where its
    top left goes; ``None`` for a line it cannot set exactly as Pillow draws it."""
    if not _SETTABLE.issuperset(text):
        return None
    units: list[str] = []  # characters, and ligatures (the longest first, as the font has them)
    at = 0
    while at < len(text):
        size = 3 if text[at : at + 3] in _LIGATURES else 2 if text[at : at + 2] in _LIGATURES else 1
        units.append(text[at : at + size])
        at += size
    pens, total = [], 0
    for unit, after in zip(units, [*units[1:], ""], strict=True):
        pens.append(total)  # the unit's advance: with the kerning of the pair it starts
        total += _length64(face, unit + after) - _length64(face, after)
    if total != round(face.getlength(text) * 64):  # (kerning across scripts: none)
        return None
    x, y = xy
    left = int(x) - _pixel(total // 2)
    shift = _c_round(math.modf(x)[0] * 64)
    baseline = int(y) + _middle_to_baseline(face) - _pixel(-_c_round(math.modf(y)[0] * 64))
    placed = []
    for unit, at in zip(units, pens, strict=True):
        glyph, dx, dy = _coverage(face, unit)
        if glyph is not None:
            placed.append((glyph, left + _pixel(shift + at) + dx, baseline + dy))
    if not placed:
        return None, 0, 0
    x0 = min(gx for _, gx, _ in placed)
    y0 = min(gy for _, _, gy in placed)
    x1 = max(gx + glyph.width for glyph, gx, _ in placed)
    y1 = max(gy + glyph.height for glyph, _, gy in placed)
    coverage = Image.new("L", (x1 - x0, y1 - y0))
    for glyph, gx, gy in placed:  # combined as Pillow combines overlapping glyphs
        coverage.paste(255, (gx - x0, gy - y0), glyph)
    return coverage, x0, y0


# --------------------------------------------------------------------------- composing
#
# A picture is put together from three parts. The stage (sky, the cards'
# shadows, the legend) is the same for every reading of a spread in a
# language; the header (the stage's top rows with the title and the date
# line) the same for every reading of a day; both are cached. A reading draws
# its own parts (question, faces, numbers and notes) over them.
#
# As a JPEG, a picture is coded in blocks of 16x16 px (MCUs) with a restart
# marker after each, so every block's code stands alone (:mod:`._jpeg`). The
# stage's and the header's blocks are coded once (cached), and so are the
# blocks a face covers edge to edge where it is laid (its place in the blocks:
# most cards lie on the grid, :func:`_snap`), and the blocks around a card at
# a spread's place: its edges with their rounded corners, its number and note
# over the stage, where nothing else of a reading draws. A reading draws and
# encodes only its question's blocks and those where parts overlap (the
# crossing card): rectangles drawn straight from the stage, header and parts,
# packed into one small picture and encoded together. Then all the blocks'
# codes are joined in order. The bytes are those of the whole picture encoded
# at once (see the tests).

#: JPEG codes a 4:2:0 picture in blocks (MCUs) of 16 x 16 px.
MCU = _jpeg.MCU
#: Rows above this are the header's: nothing of the cards reaches them (a
#: card's shadow starts 12 px above it).
HEAD_ROWS = (PAD + HEADER_H - 12) // MCU * MCU


@functools.lru_cache(maxsize=18)
def _stage(spread: Spread, language: str) -> Image.Image:
    """What every reading of ``spread`` shares: the sky, the cards' shadows, the legend."""
    layout = _layout(spread)
    w = layout.card_w
    canvas = _background(layout.width, layout.height)
    pen = ImageDraw.Draw(canvas)
    # shadows under the cards (a crossing card's is cast as it is laid: it moves)
    left, top, min_x, min_y = _origin(spread, layout)
    for position in spread.positions:
        if not position.rotated:
            x0, y0 = _corner(position, layout, left, top, min_x, min_y)
            canvas.paste((0, 0, 0), (x0 - 12, y0 - 12), _shadow(w, round(w * CARD_ASPECT)))
    # legend
    legend_top = _legend_top(spread, layout)
    grid_w = layout.legend_cols * layout.legend_col_w
    lx = max(PAD, (layout.width - grid_w) / 2)
    face = font(LEGEND_FONT)
    for index, item in enumerate(_legend_items(spread)):
        col, row = divmod(index, layout.legend_rows)
        x = lx + col * layout.legend_col_w
        y = legend_top + row * LEGEND_LINE
        number, _, name = item.partition("  ")
        pen.text((x, y), number, font=face, fill=GOLD)
        pen.text((x + 34, y), name, font=face, fill=MUTED)
    return canvas


@functools.lru_cache(maxsize=32)
def _header(
    spread: Spread, heading: str, date: str, brand: str, room: bool, language: str
) -> Image.Image:
    """The picture's top :data:`HEAD_ROWS` rows: the stage's sky with the title and date line.

    ``room``: leave the header's lower part free for a question; without one,
    title and date sit in the middle of the header.
    """
    layout = _layout(spread)
    canvas = _stage(spread, language).crop((0, 0, layout.width, HEAD_ROWS))
    pen = ImageDraw.Draw(canvas)
    # title
    shift = 0 if room else (QUESTION_Y + QUESTION_LINE - SUB_Y) // 2
    lines, size = _fit_lines(heading, 46, layout.width - 2 * PAD - 60, 1)
    heading = lines[0] if len(lines) == 1 else heading
    title_y = PAD + TITLE_Y + shift
    pen.text((layout.width / 2, title_y), heading, font=font(size), fill=GOLD, anchor="mm")
    half = font(size).getlength(heading) / 2
    for side in (-1, 1):
        _diamond(pen, layout.width / 2 + side * (half + 24), title_y, 7)
    # the line under it: date, cards, time frame, the bot's name
    count = len(spread.positions)
    cards = _label(language, f"cards.{plural_category(count, language)}", number=str(count))
    sub = [date, cards]
    title_words = spread.title.lower().removeprefix("the ")
    if spread.time_frame and title_words not in spread.time_frame.lower():
        sub.append(printable(spread.time_frame))
    sub.append(brand)
    sub_text = _separator().join(part for part in sub if part)
    sub_lines, sub_size = _fit_lines(sub_text, 22, layout.width - 2 * PAD, 1)
    pen.text(
        (layout.width / 2, PAD + SUB_Y + shift),
        sub_lines[0] if len(sub_lines) == 1 else sub_text,
        font=font(sub_size),
        fill=MUTED,
        anchor="mm",
    )
    return canvas


def _place(band: Image.Image, tile: _Tile, x: int, y: int) -> None:
    """The face pasted at (x, y) over what is there: as a paste through its alpha, only faster.

    Only its edges with the rounded corners are blended; the rest is copied.
    A part that falls outside ``band`` is left out (Pillow clips the others).
    """
    if tile.across:
        parts = ((tile.head, x, y), (tile.middle, x, y + tile.first), (tile.tail, x, y + tile.end))
    else:
        parts = ((tile.head, x, y), (tile.middle, x + tile.first, y), (tile.tail, x + tile.end, y))
    for part, px, py in parts:
        if px < band.width and py < band.height and px + part.width > 0 and py + part.height > 0:
            band.paste(part, (px, py), None if part is tile.middle else part)


@functools.lru_cache(maxsize=8)
def _shadow_strips(
    width: int, size: tuple[int, int], first: int, end: int, across: bool
) -> tuple[tuple[Image.Image, int, int], ...]:
    """The crossing card's shadow less what its face will cover: (mask, dx, dy) strips.

    ``first``/``end``: the face's rows (``across``) or columns between which
    it is opaque from edge to edge; its shadow there is hidden under it.
    """
    shadow = _turned_shadow(width)
    sw, sh = shadow.size
    w, h = size
    if across:
        boxes = (
            (0, 0, sw, 12 + first),
            (0, 12 + end, sw, sh),
            (0, 12 + first, 12, 12 + end),
            (12 + w, 12 + first, sw, 12 + end),
        )
    else:
        boxes = (
            (0, 0, 12 + first, sh),
            (12 + end, 0, sw, sh),
            (12 + first, 0, 12 + end, 12),
            (12 + first, 12 + h, 12 + end, sh),
        )
    strips = []
    for box in boxes:
        if box[2] > box[0] and box[3] > box[1]:
            strip = shadow.crop(box)
            if strip.getbbox():
                strips.append((strip, box[0], box[1]))
    return tuple(strips)


def _cast_shadow(band: Image.Image, laid: _Laid, x: int, y: int) -> None:
    """The crossing card's shadow on ``band`` (the card at (x, y) on it), where its face
    will not cover it."""
    tile = laid.tile
    size = (tile.width, tile.height)
    for strip, dx, dy in _shadow_strips(laid.card_w, size, tile.first, tile.end, tile.across):
        band.paste((0, 0, 0), (x - 12 + dx, y - 12 + dy), strip)


Box = tuple[int, int, int, int]  # (left, top, right, bottom), px or blocks


def _meets(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@dataclass(frozen=True)
class _Sprite:
    """A number badge or a REVERSED note, drawn once: pasted through ``mask`` it is opaque."""

    image: Image.Image
    mask: Image.Image
    left: int  # the sprite's top left, from the even pixel at or before its centre
    top: int
    box: Box  # what it draws, from its top left


@functools.lru_cache(maxsize=256)
def _sprite(kind: str, text: str, size: float, fx: float, fy: float) -> _Sprite | None:
    """A badge (``size`` its radius) or note (``size`` its font) centred ``fx``, ``fy`` px past
    an even pixel; ``None`` if part of it would blend with what is under it (it is then
    drawn in place).

    Drawn ``fx``, ``fy`` past an even pixel, it is the same, pixel for pixel, wherever it
    goes by whole even pixels (ImageDraw's rounding is the same there).
    """
    half_w, half_h = _mark_half(kind, text, size)
    mx, my = 2 * math.ceil(half_w / 2), 2 * math.ceil(half_h / 2)

    def paint(background: Colour) -> Image.Image:
        image = Image.new("RGB", (2 * mx + 2, 2 * my + 2), background)
        pen = ImageDraw.Draw(image)
        if kind == "badge":
            _badge(pen, mx + fx, my + fy, int(text), size)
        else:
            _pill(pen, mx + fx, my + fy, text, int(size))
        return image

    bands = ImageChops.difference(paint((0, 0, 0)), paint((255, 255, 255))).split()
    most = ImageChops.lighter(ImageChops.lighter(bands[0], bands[1]), bands[2])
    least = ImageChops.darker(ImageChops.darker(bands[0], bands[1]), bands[2])
    if any(most.histogram()[1:255]) or ImageChops.difference(most, least).getbbox():
        return None  # some pixel is part drawing, part background
    mask = most.point(lambda v: 255 - v)
    return _Sprite(paint((0, 0, 0)), mask, -mx, -my, mask.getbbox() or (0, 0, 0, 0))


def _mark_half(kind: str, text: str, size: float) -> tuple[float, float]:
    """Half the width and height a badge or note may draw on, with a margin."""
    if kind == "badge":
        return size + 3, size + 3
    return font(size).getlength(text) / 2 + size * 0.6 + 3, size * 0.75 + 3


@dataclass(frozen=True)
class _Mark:
    """A card's number badge or its REVERSED note, centred on (cx, cy)."""

    kind: str
    text: str
    size: float
    cx: float
    cy: float

    def sprite(self) -> _Sprite | None:
        return _sprite(self.kind, self.text, self.size, self.cx % 2, self.cy % 2)

    def box(self) -> Box:
        """The picture's pixels it draws on (at most)."""
        sprite = self.sprite()
        if sprite is not None:
            left = round(self.cx - self.cx % 2) + sprite.left
            top = round(self.cy - self.cy % 2) + sprite.top
            x0, y0, x1, y1 = sprite.box
            return left + x0, top + y0, left + x1, top + y1
        half_w, half_h = _mark_half(self.kind, self.text, self.size)
        return (
            math.floor(self.cx - half_w),
            math.floor(self.cy - half_h),
            math.ceil(self.cx + half_w),
            math.ceil(self.cy + half_h),
        )

    def draw(self, band: Image.Image, pen: ImageDraw.ImageDraw, x: int, y: int) -> None:
        """On ``band``, whose top left is the picture's pixel (x, y) (even numbers)."""
        sprite = self.sprite()
        if sprite is None:
            if self.kind == "badge":
                _badge(pen, self.cx - x, self.cy - y, int(self.text), self.size)
            else:
                _pill(pen, self.cx - x, self.cy - y, self.text, int(self.size))
            return
        left = round(self.cx - self.cx % 2) + sprite.left - x
        top = round(self.cy - self.cy % 2) + sprite.top - y
        band.paste(sprite.image, (left, top), sprite.mask)


@dataclass(frozen=True)
class _Laid:
    """A card as laid: its face, where it goes, its badge and note."""

    tile: _Tile
    x: int
    y: int
    card_w: int
    turned: bool  # the crossing card, whose shadow is cast as it is laid
    marks: tuple[_Mark, ...]
    face: tuple[Card, bool, int, str, bool]  # what :func:`_tile` made ``tile`` of

    @property
    def box(self) -> Box:
        """The picture's pixels it draws on: its face, and its shadow if it casts one."""
        box = (self.x, self.y, self.x + self.tile.width, self.y + self.tile.height)
        if self.turned:
            sw, sh = _turned_shadow(self.card_w).size
            box = _union(box, (self.x - 12, self.y - 12, self.x - 12 + sw, self.y - 12 + sh))
        return box


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _lay(draw: Draw, layout: Layout, language: str) -> list[_Laid]:
    """The cards of ``draw`` as they go on the picture."""
    spread = draw.spread
    w = layout.card_w
    left, top, min_x, min_y = _origin(spread, layout)
    r = max(13, w * 0.1)
    pill = max(11, round(w * 0.06))
    laid = []
    for i, dc in enumerate(draw.cards):
        x0, y0 = _corner(dc.position, layout, left, top, min_x, min_y)
        note_at_top = False  # where a REVERSED note goes: normally the card's bottom edge
        if dc.position.rotated:
            # the crossing card moves off the name of the card it crosses: up when
            # that card is upright (its name at the bottom), down when reversed;
            # its own note goes on its edge over the middle of that card, clear of
            # the other cards' notes
            crossed = _crossed(spread, i)
            if crossed is not None:
                down = draw.cards[crossed].reversed
                x0, y0 = _crossing(x0, y0, w, down)
                note_at_top = down
        face = (dc.card, dc.reversed, w, language, dc.position.rotated)
        tile = _tile(*face)
        marks = [_Mark("badge", str(i + 1), r, x0 + r * 0.55, y0 + r * 0.55)]
        if dc.reversed:
            note = _label(language, "reversed")
            cy = y0 if note_at_top else y0 + tile.height
            marks.append(_Mark("pill", note, pill, (x0 + x0 + tile.width) / 2, cy))
        laid.append(_Laid(tile, x0, y0, w, dc.position.rotated, tuple(marks), face))
    return laid


@dataclass(frozen=True)
class _Ink:
    """A line of the question as it is drawn: its glyphs' coverage put at (x, y), or
    (``coverage`` ``None``) ``text`` drawn by Pillow centred on ``xy``."""

    coverage: Image.Image | None
    x: int
    y: int
    text: str
    xy: tuple[float, float]
    box: Box  # the picture's pixels it draws on (at most)

    def draw(self, pen: ImageDraw.ImageDraw, x: int, y: int) -> None:
        """With ``pen``, whose image's top left is the picture's pixel (x, y) (even numbers)."""
        if self.coverage is not None:
            pen.bitmap((self.x - x, self.y - y), self.coverage, fill=QUESTION_INK)
        else:
            xy = (self.xy[0] - x, self.xy[1] - y)
            pen.text(xy, self.text, font=font(QUESTION_FONT), fill=QUESTION_INK, anchor="mm")


def _question_rows(lines: list[str]) -> list[float]:
    """Where the question's lines are centred."""
    return [
        PAD + QUESTION_Y + (i + (2 - len(lines)) / 2) * QUESTION_LINE for i in range(len(lines))
    ]


def _ink(lines: list[str], layout: Layout) -> list[_Ink]:
    """The question's lines as they are drawn (set from cached glyphs where they can be)."""
    face = font(QUESTION_FONT)
    inks = []
    for line, y in zip(lines, _question_rows(lines), strict=True):
        xy = (layout.width / 2, y)
        got = _line_coverage(xy, line, face)
        if got is None:  # drawn by Pillow: within the rows a line has, between the margins
            reach = QUESTION_FONT + 2
            box = (MCU, math.floor(y - reach), layout.width // MCU * MCU, math.ceil(y + reach))
            inks.append(_Ink(None, 0, 0, line, xy, box))
        elif got[0] is not None:
            coverage, x, top = got
            box = (x, top, x + coverage.width, top + coverage.height)
            inks.append(_Ink(coverage, x, top, line, xy, box))
    return inks


@dataclass(frozen=True)
class _Parts:
    """What a reading draws over the stage and header, each with the pixels it draws on."""

    header: tuple[Spread, str, str, str, bool, str]  # :func:`_header`'s arguments
    inks: tuple[_Ink, ...]
    cards: tuple[tuple[_Laid, Box], ...]
    marks: tuple[tuple[_Mark, Box], ...]

    @classmethod
    def of(
        cls, header: tuple[Spread, str, str, str, bool, str], inks: list[_Ink], laid: list[_Laid]
    ) -> _Parts:
        cards = tuple((card, card.box) for card in laid)
        marks = tuple((mark, mark.box()) for card in laid for mark in card.marks)
        return cls(header, tuple(inks), cards, marks)


def _compose(parts: _Parts, box: Box) -> Image.Image:
    """The pixels ``box`` of the picture: stage and header, then the reading's parts.

    ``box``'s left and top are even (whole blocks, or the picture's corner),
    so what is drawn is what drawing the whole picture draws there.
    """
    spread, language = parts.header[0], parts.header[-1]
    x0, y0 = box[0], box[1]
    band = _stage(spread, language).crop(box)
    if y0 < HEAD_ROWS:
        band.paste(_header(*parts.header), (-x0, -y0))
    pen = None
    for ink in parts.inks:
        if _meets(ink.box, box):
            pen = pen or ImageDraw.Draw(band)
            ink.draw(pen, x0, y0)
    for card, around in parts.cards:
        if _meets(around, box):
            if card.turned:
                _cast_shadow(band, card, card.x - x0, card.y - y0)
            _place(band, card.tile, card.x - x0, card.y - y0)
    for mark, around in parts.marks:
        if _meets(around, box):
            pen = pen or ImageDraw.Draw(band)
            mark.draw(band, pen, x0, y0)
    return band


# --------------------------------------------------------------------------- JPEG blocks


@dataclass(frozen=True)
class _FaceCodes:
    """The codes of a face's opaque blocks where it is laid: ``rows`` rows of ``columns``
    blocks from ``first_row`` and ``first_column`` on, counted from the block of its top
    left corner (kept in one string: :func:`._jpeg.packed_codes`)."""

    first_row: int
    first_column: int
    rows: int
    columns: int
    codes: bytes


#: How many faces' codes are kept (:func:`_face_codes`): 5-19 KB each (155-300 px
#: cards), at most about 15 MB. Every card upright and reversed is 156 of them per
#: card width, place in the blocks and language; the everyday spreads (one card and
#: three, on the grid) need 156 per language.
FACE_CODES = 1024


@functools.lru_cache(maxsize=FACE_CODES)
def _face_codes(
    card: Card, reversed: bool, width: int, language: str, turned: bool, x: int, y: int
) -> _FaceCodes:
    """The blocks the face covers, laid (x, y) px (0-15) past the corner of a block:
    those it covers edge to edge (its corners' rows or columns left out), coded.

    Raises :class:`._jpeg.Mismatch` if the encoder does not code them apart.
    """
    if reversed or turned:  # turned afresh: coded once, it need not stay (as :func:`_tile`)
        tile = _turned_tile.__wrapped__(card, reversed, width, language, turned)
    else:
        tile = _upright_tile(card, width, language)
    if tile.across:
        rows, columns = (y + tile.first, y + tile.end), (x, x + tile.width)
    else:
        rows, columns = (y, y + tile.height), (x + tile.first, x + tile.end)
    r0, r1 = -(-rows[0] // MCU), rows[1] // MCU
    c0, c1 = -(-columns[0] // MCU), columns[1] // MCU
    if r1 <= r0 or c1 <= c0:
        return _FaceCodes(0, 0, 0, 0, b"")
    inside = Image.new("RGB", ((c1 - c0) * MCU, (r1 - r0) * MCU))
    _place(inside, tile, x - c0 * MCU, y - r0 * MCU)
    codes = _jpeg.coded(inside, JPEG_QUALITY).codes
    return _FaceCodes(r0, c0, r1 - r0, c1 - c0, _jpeg.packed_codes(codes))


@functools.lru_cache(maxsize=18)
def _stage_coded(spread: Spread, language: str) -> _jpeg.Coded:
    return _jpeg.coded(_stage(spread, language), JPEG_QUALITY)


@functools.lru_cache(maxsize=32)
def _header_codes(
    spread: Spread, heading: str, date: str, brand: str, room: bool, language: str
) -> tuple[bytes, ...]:
    return _jpeg.coded(_header(spread, heading, date, brand, room, language), JPEG_QUALITY).codes


def _blocks(box: Box) -> Box:
    """The blocks ``box`` (px) touches."""
    return box[0] // MCU, box[1] // MCU, -(-box[2] // MCU), -(-box[3] // MCU)


def _card_blocks(
    card: _Laid, around: Box, marks: list[Box]
) -> tuple[Box | None, _FaceCodes | None, list[Box]]:
    """A card's blocks: those coded in its face's codes (a box, and the codes), and the
    others it (``around``: the pixels it draws on) or its ``marks`` draw on: boxes to
    draw and encode."""
    whole = _blocks(around)
    for mark in marks:
        whole = _union(whole, _blocks(mark))
    codes = _face_codes(*card.face, card.x % MCU, card.y % MCU)
    if not codes.rows:
        return None, None, [whole]
    c0 = card.x // MCU + codes.first_column
    r0 = card.y // MCU + codes.first_row
    c1, r1 = c0 + codes.columns, r0 + codes.rows
    middle = (card.y + card.tile.height / 2) / MCU
    for mark in marks:  # the marks are drawn over the face: its rows under them go
        m = _blocks(mark)
        if _meets(m, (c0, r0, c1, r1)):
            if (m[1] + m[3]) / 2 < middle:
                r0 = max(r0, m[3])
            else:
                r1 = min(r1, m[1])
    if r1 <= r0:
        return None, None, [whole]
    side = _blocks(around)  # beside the face's coded rows: the card's edges, and marks there
    for mark in marks:
        m = _blocks(mark)
        if m[1] < r1 and r0 < m[3]:
            side = _union(side, m)
    drawn = [
        (whole[0], whole[1], whole[2], r0),  # above
        (whole[0], r1, whole[2], whole[3]),  # below
        (side[0], r0, c0, r1),  # left
        (c1, r0, side[2], r1),  # right
    ]
    return (c0, r0, c1, r1), codes, [b for b in drawn if b[2] > b[0] and b[3] > b[1]]


def _put(codes: list[bytes], columns: int, box: Box, fresh: Sequence[bytes], at: int, across: int):
    """Into ``codes`` (the picture's, ``columns`` a row), for the blocks ``box``, the
    codes from ``fresh`` (``across`` a row) starting at its ``at``."""
    c0, r0, c1, r1 = box
    to, k = r0 * columns + c0, c1 - c0
    for _ in range(r1 - r0):
        codes[to : to + k] = fresh[at : at + k]
        to += columns
        at += across


def _encoded(parts: _Parts, boxes: list[Box]) -> list[tuple[bytes, ...]]:
    """The codes of the blocks ``boxes`` of the picture, each box's row by row: drawn and
    encoded together (packed into one picture)."""
    if not boxes:
        return []
    pack_w, pack_h, pieces = _jpeg.packed(tuple((b[2] - b[0], b[3] - b[1]) for b in boxes))
    pack = Image.new("RGB", (pack_w * MCU, pack_h * MCU))
    made: dict[int, Image.Image] = {}
    for i, top, rows, px, py in pieces:
        box = boxes[i]
        if i not in made:
            made[i] = _compose(parts, (box[0] * MCU, box[1] * MCU, box[2] * MCU, box[3] * MCU))
        image = made[i]
        if top or rows < box[3] - box[1]:
            image = image.crop((0, top * MCU, image.width, (top + rows) * MCU))
        pack.paste(image, (px * MCU, py * MCU))
    fresh = _jpeg.coded(pack, JPEG_QUALITY).codes
    codes: list[list[bytes]] = [[] for _ in boxes]
    for i, _top, rows, px, py in sorted(pieces, key=lambda piece: (piece[0], piece[1])):
        k = boxes[i][2] - boxes[i][0]
        for r in range(rows):
            at = (py + r) * pack_w + px
            codes[i] += fresh[at : at + k]
    return [tuple(c) for c in codes]


#: How many cards' edges are kept coded (:func:`_edge_codes`): 4-11 KB each, at most
#: about 14 MB. A card's edges are coded per spread, place, card and way up: the
#: one-card and three-card spreads have 624 such per language.
EDGE_CODES = 1280


@functools.lru_cache(maxsize=EDGE_CODES)
def _edge_codes(
    spread: Spread,
    language: str,
    face: tuple[Card, bool, int, str, bool],
    x: int,
    y: int,
    marks: tuple[_Mark, ...],
) -> tuple[tuple[Box, bytes], ...]:
    """The blocks a card laid at (x, y) with its ``marks`` draws on beside its face's coded
    blocks (:func:`_card_blocks`), coded (each box's kept in one string:
    :func:`._jpeg.packed_codes`), where nothing else of a reading draws: over the stage
    of ``spread`` (never the header's rows)."""
    tile = _tile(*face)
    card = _Laid(tile, x, y, face[2], face[4], marks, face)
    alone = _Parts((spread, "", "", "", False, language), (), ((card, card.box),), ())
    alone = dataclasses.replace(alone, marks=tuple((mark, mark.box()) for mark in marks))
    _, _, boxes = _card_blocks(card, card.box, [box for _, box in alone.marks])
    if any(box[1] * MCU < HEAD_ROWS for box in boxes):
        raise ValueError("a card's edges reach the header's rows")
    return tuple(
        (box, _jpeg.packed_codes(codes))
        for box, codes in zip(boxes, _encoded(alone, boxes), strict=True)
    )


def _owned(parts: _Parts) -> list[tuple[Box, int]]:
    """The blocks each part draws on, and whose it is: a card's (its index), or the
    question's (-1)."""
    owned = [(_blocks(around), i) for i, (_, around) in enumerate(parts.cards)]
    owners = [i for i, (card, _) in enumerate(parts.cards) for _ in card.marks]
    owned += [(_blocks(box), i) for (_, box), i in zip(parts.marks, owners, strict=True)]
    owned += [(_blocks(ink.box), -1) for ink in parts.inks]
    return owned


def _alone(index: int, edges: list[Box], owned: list[tuple[Box, int]]) -> bool:
    """Whether nothing but card ``index`` draws on the blocks ``edges`` (nor the header):
    their codes are then its own (:func:`_edge_codes`)."""
    if not edges:
        return False
    whole = edges[0]
    for box in edges[1:]:
        whole = _union(whole, box)
    if whole[1] * MCU < HEAD_ROWS:
        return False
    return not any(owner != index and _meets(box, whole) for box, owner in owned)


def _spliced(parts: _Parts, layout: Layout) -> bytes:
    """The picture as a JPEG, byte for byte :func:`encode_jpeg` of it, from coded blocks.

    Raises :class:`._jpeg.Mismatch` if the encoder does not code blocks apart,
    :class:`ValueError` if blocks to encode reach the picture's edges.
    """
    spread, language = parts.header[0], parts.header[-1]
    stage = _stage_coded(spread, language)
    columns = stage.columns
    codes = list(stage.codes)
    heading = _header_codes(*parts.header)
    codes[: len(heading)] = heading
    owned = _owned(parts)
    drawn: list[Box] = []
    marks = iter(parts.marks)
    for i, (card, around) in enumerate(parts.cards):  # in the order laid: the last shows
        own = [box for _, box in itertools.islice(marks, len(card.marks))]
        inside, face, others = _card_blocks(card, around, own)
        if inside is not None and face is not None:
            c0, r0, _, _ = inside
            row = r0 - card.y // MCU - face.first_row
            first = c0 - card.x // MCU - face.first_column
            _put(
                codes,
                columns,
                inside,
                _jpeg.unpacked(face.codes),
                row * face.columns + first,
                face.columns,
            )
        if not _alone(i, others, owned):
            drawn += others  # drawn on by more than the card: drawn and encoded afresh
            continue
        for box, kept in _edge_codes(spread, language, card.face, card.x, card.y, card.marks):
            _put(codes, columns, box, _jpeg.unpacked(kept), 0, box[2] - box[0])
    asked = None
    if parts.inks:
        around = parts.inks[0].box
        for ink in parts.inks[1:]:
            around = _union(around, ink.box)
        asked = _blocks(around)
    # the blocks drawn afresh: inside the picture's whole blocks (its edges are coded apart)
    full = (0, 0, layout.width // MCU, layout.height // MCU)
    for box in [*drawn, asked] if asked else drawn:
        if box[0] < full[0] or box[1] < full[1] or box[2] > full[2] or box[3] > full[3]:
            raise ValueError(f"blocks {box} reach past the picture's whole blocks")
    if asked:  # the question: on its own (it is much wider than the rest)
        pixels = (asked[0] * MCU, asked[1] * MCU, asked[2] * MCU, asked[3] * MCU)
        fresh = _jpeg.coded(_compose(parts, pixels), JPEG_QUALITY).codes
        _put(codes, columns, asked, fresh, 0, asked[2] - asked[0])
    for box, fresh in zip(drawn, _encoded(parts, drawn), strict=True):
        _put(codes, columns, box, fresh, 0, box[2] - box[0])
    return _jpeg.joined(stage.head, codes)


#: How many JPEGs had to be encoded whole because their blocks did not line up
#: (the first one logged).
_encoded_whole = 0
#: Whether the encoder codes blocks apart as :mod:`._jpeg` expects (once it did not,
#: every picture is encoded whole).
_spliceable = True


def render_spread(
    draw: Draw,
    title: str | None = None,
    *,
    image_format: str = "png",
    question: str | None = None,
    date: str | dt.date | None = None,
    brand: str | None = None,
    language: str = DEFAULT_LANGUAGE,
) -> bytes:
    """The spread as PNG (or JPEG) bytes: header, layout, designed faces, numbers and legend.

    The header names the spread (``title`` replaces its title), then the
    ``date`` of the reading (a date or datetime, shown as "30 Nov 2026" in
    UTC, or text as given), the number of cards and ``brand`` (the bot's
    name), then ``question`` in at most two lines, cut with "…". All text is
    drawn as plain text in the bundled font's characters (see
    :func:`plain_question`; Latin only, see the module notes), so nothing in
    it can change the picture's layout or size. ``image_format`` is one of
    :data:`IMAGE_FORMATS`.
    """
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {', '.join(IMAGE_FORMATS)}")
    draw = localize(draw, language)
    spread = draw.spread
    layout = _layout(spread)
    heading = printable(title or "") or printable(spread.title)
    asked = plain_question(question)
    when = picture_date(date, language)
    header = (spread, heading, when, printable(brand or ""), bool(asked), language)
    lines = []
    if asked:
        lines = _quoted(asked, font(QUESTION_FONT), layout.width - 2 * PAD - 40, language)
    parts = _Parts.of(header, _ink(lines, layout), _lay(draw, layout, language))
    whole = (0, 0, layout.width, layout.height)
    if image_format == "png":
        return encode_png(_compose(parts, whole))
    global _encoded_whole, _spliceable
    if _spliceable:
        try:
            return _spliced(parts, layout)
        except Exception as error:  # never a reading lost to it: the picture encoded whole
            _spliceable = not isinstance(error, _jpeg.Mismatch)  # (the encoder's doing)
            _encoded_whole += 1
            if _encoded_whole == 1:
                log.exception("spread pictures: JPEG blocks do not line up; encoding them whole")
    else:
        _encoded_whole += 1
    return encode_jpeg(_compose(parts, whole))


def _cache_clear() -> None:
    """Empty every picture cache (for tests and benchmarks: a fresh process's state)."""
    for cached in (
        _upright_face,
        card_face,
        _upright_tile,
        _turned_tile,
        _blank,
        _stage,
        _header,
        _stage_coded,
        _header_codes,
        _face_codes,
        _edge_codes,
        _sprite,
        _shadow_strips,
        _length,
        _length64,
        _coverage,
    ):
        cached.cache_clear()


def encode_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """``image`` as baseline JPEG bytes (libjpeg-turbo through Pillow).

    Standard Huffman tables (no ``optimize``), not progressive, 4:2:0, and a
    restart marker after each 16x16 block (MCU), so that blocks can be coded
    apart and joined (:func:`render_spread`): 4-8% larger than without.
    """
    return _jpeg.encode(image, quality)


def encode_png(image: Image.Image, level: int = 1) -> bytes:
    """``image`` as 8-bit RGB PNG bytes (Pillow's encoder at zlib ``level``), lossless."""
    out = io.BytesIO()
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    rgb.save(out, format="PNG", compress_level=level)
    return out.getvalue()
