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
(:func:`_set_line`). A reading copies and draws only the rows it changes,
and as a JPEG encodes only those: the JPEG has a restart marker after each
16-px row, so the cached parts' rows are coded once and reused as they are
(:func:`_jpeg_rows`). The picture is the same, pixel for pixel (PNG) and
byte for byte (JPEG), as everything drawn on one canvas (the tests check
it). A warm three-card JPEG with a question takes about 2.5 ms, a Celtic
Cross about 4; a PNG mostly its encoding (Pillow's, at zlib level 1).
Photos for Telegram are JPEG (``image_format="jpeg"``): Telegram turns every
photo into a JPEG of its own, so a lossless upload buys nothing the person
sees, and a JPEG takes a tenth of the time. The caches are safe from several
threads: a part is made at most a few times over, and never changed once
made.

Memory: a face is 0.1-0.6 MB, a stage 2-5 MB; the caches are bounded (160
upright faces, 64 reversed or turned, 5 blanks, 18 stages, 32 headers), and
card widths come in four sizes (:data:`CARD_WIDTHS`) shared by all spreads.
A worker warmed for one-card and three-card readings (:func:`warm_faces`)
holds about 60-65 MB of them per language.

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

import datetime as dt
import functools
import io
import math
import random
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from tarotbot.tarot.deck import Card
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
    faces). Each spread's stage (sky, shadows, legend) is made and encoded
    too, and its number badges and REVERSED notes drawn. Bounded by the
    caches: at most 160 upright faces stay (:func:`_tile`).
    """
    languages = tuple(languages)
    spreads = [get_spread(name) for name in spread_names]
    widths = sorted({_layout(spread).card_w for spread in spreads})
    count = 0
    for language in languages:
        deck = localized_deck(language)
        for width in widths:
            for card in deck:
                _tile(card, False, width, language, False)
                count += 1
        _warm_setting(language)
        for spread in spreads:
            _stage_jpeg(localized_spread(spread.name, language), language)
            for reversed in (False, True):  # the marks, on a draw of the deck's first cards
                cards = tuple(
                    DrawnCard(p, c, reversed) for p, c in zip(spread.positions, deck, strict=False)
                )
                sample = Draw(spread, "0" * 32, True, 0.5, cards)
                layout = _layout(spread)
                for laid in _lay(localize(sample, language), layout, language):
                    for mark in laid.marks:
                        mark.sprite()
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
    return Layout(card_w, width, height, legend_rows, cols, col_w)


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
    """The canvas pixel of ``position``'s top left corner, as the spread lays it."""
    bx0, by0, _, _ = position.box()
    return round(left + (bx0 - min_x) * layout.card_w), round(top + (by0 - min_y) * layout.card_w)


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
    if not _SETTABLE.issuperset(text):
        return False
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
        return False
    x, y = xy
    left = int(x) - _pixel(total // 2)
    shift = _c_round(math.modf(x)[0] * 64)
    baseline = int(y) + _middle_to_baseline(face) - _pixel(-_c_round(math.modf(y)[0] * 64))
    placed = []
    for unit, at in zip(units, pens, strict=True):
        glyph, dx, dy = _coverage(face, unit)
        if glyph is not None:
            placed.append((glyph, left + _pixel(shift + at) + dx, baseline + dy))
    if placed:
        x0 = min(gx for _, gx, _ in placed)
        y0 = min(gy for _, _, gy in placed)
        x1 = max(gx + glyph.width for glyph, gx, _ in placed)
        y1 = max(gy + glyph.height for glyph, _, gy in placed)
        coverage = Image.new("L", (x1 - x0, y1 - y0))
        for glyph, gx, gy in placed:  # combined as Pillow combines overlapping glyphs
            coverage.paste(255, (gx - x0, gy - y0), glyph)
        pen.bitmap((x0, y0), coverage, fill=fill)
    return True


# --------------------------------------------------------------------------- composing
#
# A picture is put together from three parts. The stage (sky, the cards'
# shadows, the legend) is the same for every reading of a spread in a
# language; the header (the stage's top rows with the title and the date
# line) the same for every reading of a day; both are cached. Only the band
# of rows a reading changes (its question, faces, numbers and notes) is
# copied and drawn each time, and for a JPEG only that band is encoded: the
# JPEG has a restart marker after each row of blocks, so each row's code
# stands alone and the cached parts' rows are reused as they are. The bytes
# are those of the whole picture encoded at once (see the tests).

#: JPEG codes a 4:2:0 picture in rows of 16 px.
MCU = 16
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
    bottom = max(p.box()[3] for p in spread.positions)
    legend_top = top + (bottom - min_y) * w + 30
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
    """
    if tile.across:
        band.paste(tile.middle, (x, y + tile.first))
        edges = ((tile.head, x, y), (tile.tail, x, y + tile.end))
    else:
        band.paste(tile.middle, (x + tile.first, y))
        edges = ((tile.head, x, y), (tile.tail, x + tile.end, y))
    for part, px, py in edges:
        if part.width and part.height:
            band.paste(part, (px, py), part)


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


def _cast_shadow(band: Image.Image, laid: _Laid, y: int) -> None:
    """The crossing card's shadow on ``band``, where its face will not cover it."""
    tile = laid.tile
    size = (tile.width, tile.height)
    for strip, dx, dy in _shadow_strips(laid.card_w, size, tile.first, tile.end, tile.across):
        band.paste((0, 0, 0), (laid.x - 12 + dx, y - 12 + dy), strip)


@dataclass(frozen=True)
class _Sprite:
    """A number badge or a REVERSED note, drawn once: pasted through ``mask`` it is opaque."""

    image: Image.Image
    mask: Image.Image
    left: int  # the sprite's top left, from the even pixel at or before its centre
    top: int
    rows: tuple[int, int]  # its drawn rows, from its top


@functools.lru_cache(maxsize=256)
def _sprite(kind: str, text: str, size: float, fx: float, fy: float) -> _Sprite | None:
    """A badge (``size`` its radius) or note (``size`` its font) centred ``fx``, ``fy`` px past
    an even pixel; ``None`` if part of it would blend with what is under it (it is then
    drawn in place).

    Drawn ``fx``, ``fy`` past an even pixel, it is the same, pixel for pixel, wherever it
    goes by whole even pixels (ImageDraw's rounding is the same there).
    """
    if kind == "badge":
        half_w = half_h = size + 3
    else:
        half_w, half_h = font(size).getlength(text) / 2 + size * 0.6 + 3, size * 0.75 + 3
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
    box = mask.getbbox() or (0, 0, 0, 0)
    return _Sprite(paint((0, 0, 0)), mask, -mx, -my, (box[1], box[3]))


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

    def rows(self) -> tuple[float, float]:
        """The picture's rows it covers (at most)."""
        sprite = self.sprite()
        if sprite is not None:
            top = round(self.cy - self.cy % 2) + sprite.top
            return top + sprite.rows[0], top + sprite.rows[1]
        half = self.size + 3 if self.kind == "badge" else self.size * 0.75 + 3
        return self.cy - half, self.cy + half

    def draw(self, band: Image.Image, pen: ImageDraw.ImageDraw, y: int) -> None:
        """On ``band``, whose first row is the picture's row ``y``."""
        sprite = self.sprite()
        if sprite is None:
            if self.kind == "badge":
                _badge(pen, self.cx, self.cy - y, int(self.text), self.size)
            else:
                _pill(pen, self.cx, self.cy - y, self.text, int(self.size))
            return
        left = round(self.cx - self.cx % 2) + sprite.left
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
                y0 += round(CROSSING_SHIFT * w) * (1 if down else -1)
                note_at_top = down
        tile = _tile(dc.card, dc.reversed, w, language, dc.position.rotated)
        marks = [_Mark("badge", str(i + 1), r, x0 + r * 0.55, y0 + r * 0.55)]
        if dc.reversed:
            note = _label(language, "reversed")
            cy = y0 if note_at_top else y0 + tile.height
            marks.append(_Mark("pill", note, pill, (x0 + x0 + tile.width) / 2, cy))
        laid.append(_Laid(tile, x0, y0, w, dc.position.rotated, tuple(marks)))
    return laid


def _question_rows(lines: list[str]) -> list[float]:
    """Where the question's lines are centred."""
    return [
        PAD + QUESTION_Y + (i + (2 - len(lines)) / 2) * QUESTION_LINE for i in range(len(lines))
    ]


def _changed_rows(height: int, lines: list[str], laid: list[_Laid]) -> tuple[int, int]:
    """The rows a reading draws on, widened to whole JPEG block rows: (first, end)."""
    spans = [(y - QUESTION_FONT - 2, y + QUESTION_FONT + 2) for y in _question_rows(lines)]
    for card in laid:
        if card.turned:  # its shadow is cast as it is laid
            spans.append((card.y - 12, card.y - 12 + _turned_shadow(card.card_w).height))
        spans.append((card.y, card.y + card.tile.height))
        spans.extend(mark.rows() for mark in card.marks)
    if not spans:
        return 0, 0
    first = max(0, math.floor(min(s[0] for s in spans)) // MCU * MCU)
    end = min(height, -(-math.ceil(max(s[1] for s in spans)) // MCU) * MCU)
    return first, end


def _compose(
    header: tuple[Spread, str, str, str, bool, str],
    lines: list[str],
    laid: list[_Laid],
    first: int,
    end: int,
) -> Image.Image:
    """Rows ``first`` to ``end`` of the picture: stage and header, then the reading's parts."""
    spread, language = header[0], header[-1]
    layout = _layout(spread)
    band = _stage(spread, language).crop((0, first, layout.width, end))
    if first < HEAD_ROWS:
        band.paste(_header(*header), (0, -first))
    pen = ImageDraw.Draw(band)
    if lines:
        face = font(QUESTION_FONT)
        for line, y in zip(lines, _question_rows(lines), strict=True):
            xy = (layout.width / 2, y - first)
            if not _set_line(pen, xy, line, face, QUESTION_INK):
                pen.text(xy, line, font=face, fill=QUESTION_INK, anchor="mm")
    for card in laid:
        if card.turned:
            _cast_shadow(band, card, card.y - first)
        _place(band, card.tile, card.x, card.y - first)
    for card in laid:
        for mark in card.marks:
            mark.draw(band, pen, first)
    return band


_RST = tuple(bytes((0xFF, 0xD0 + i)) for i in range(8))
_EOI = b"\xff\xd9"


def _jpeg_rows(data: bytes) -> tuple[bytes, list[bytes]]:
    """A JPEG from :func:`encode_jpeg` as its headers (up to its scan) and each block row's code."""
    at = 2  # after the start of image
    while True:
        if data[at] != 0xFF:
            raise ValueError("not a JPEG segment")
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        at += 2 + length
        if marker == 0xDA:  # start of scan: the coded rows follow
            break
    if not data.endswith(_EOI):
        raise ValueError("no end of image")
    return data[:at], re.split(rb"\xff[\xd0-\xd7]", data[at:-2])


def _joined(head: bytes, rows: Iterable[bytes]) -> bytes:
    """A JPEG from its headers and its block rows' codes (restart markers between)."""
    parts = [head]
    for i, row in enumerate(rows):
        if i:
            parts.append(_RST[(i - 1) % 8])
        parts.append(row)
    parts.append(_EOI)
    return b"".join(parts)


def _coded_rows(image: Image.Image) -> tuple[bytes, list[bytes]]:
    """``image`` as a JPEG's headers and its block rows' codes, one per 16 px row."""
    head, rows = _jpeg_rows(encode_jpeg(image))
    if len(rows) != -(-image.height // MCU):  # no restart marker after each row
        raise RuntimeError(f"{len(rows)} coded rows for {image.height} px: not one per row")
    return head, rows


@functools.lru_cache(maxsize=18)
def _stage_jpeg(spread: Spread, language: str) -> tuple[bytes, tuple[bytes, ...]]:
    head, rows = _coded_rows(_stage(spread, language))
    return head, tuple(rows)


@functools.lru_cache(maxsize=32)
def _header_jpeg(
    spread: Spread, heading: str, date: str, brand: str, room: bool, language: str
) -> tuple[bytes, ...]:
    return tuple(_coded_rows(_header(spread, heading, date, brand, room, language))[1])


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
    laid = _lay(draw, layout, language)
    if image_format == "png":
        return encode_png(_compose(header, lines, laid, 0, layout.height))
    first, end = _changed_rows(layout.height, lines, laid)
    head, stage_rows = _stage_jpeg(spread, language)
    header_rows = _header_jpeg(*header)
    rows = header_rows + stage_rows[len(header_rows) :]
    if end > first:
        band = _coded_rows(_compose(header, lines, laid, first, end))[1]
        rows = rows[: first // MCU] + tuple(band) + rows[first // MCU + len(band) :]
    return _joined(head, rows)


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
        _stage_jpeg,
        _header_jpeg,
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
    restart marker after each row of 16 px blocks, so that rows can be coded
    apart and joined (:func:`render_spread`): about 100 bytes more per picture.
    """
    out = io.BytesIO()
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    rgb.save(out, "JPEG", quality=quality, subsampling="4:2:0", restart_marker_rows=1)
    return out.getvalue()


def encode_png(image: Image.Image, level: int = 1) -> bytes:
    """``image`` as 8-bit RGB PNG bytes (Pillow's encoder at zlib ``level``), lossless."""
    out = io.BytesIO()
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    rgb.save(out, format="PNG", compress_level=level)
    return out.getvalue()
