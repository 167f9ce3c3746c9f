"""The spread picture: the cards laid out as the spread prescribes, as PNG or JPEG.

Each card gets a designed face (no artwork needed): a frame in its element's
colours (fire warm reds and oranges, water blues, air pale yellow and silver,
earth greens and browns, the Major Arcana deep violet and gold), its numeral
at the top, its suit's emblem drawn as a shape in the middle (wand, cup,
sword, pentacle; a star for the Major Arcana) and its name at the bottom.
Reversed cards are turned 180°; the Celtic Cross's crossing card lies across
card 1, turned 90°. Numbered badges match a legend of the positions under the
cards, and a title sits on top, all on a dark, starry background.

Speed: faces are rendered once per (card, orientation, width) and cached
(:func:`functools.lru_cache`), as are each spread's background, title,
shadows and legend, so a warm Celtic Cross takes a few tens of
milliseconds, mostly PNG encoding (Pillow's, at zlib level 1). Photos for
Telegram are JPEG (``image_format="jpeg"``): Telegram turns every photo into
a JPEG of its own, so a lossless upload buys nothing the person sees, and a
JPEG takes about a fifth of the time (3 ms instead of 12 for three cards).

Memory: a face is 0.1-0.6 MB; the caches are bounded (160 upright faces, 64
oriented, 20 blanks, 64 spread bases), and card widths come in four sizes
(:data:`CARD_WIDTHS`) shared by all spreads.

Fonts: Pillow's built-in scalable font (``ImageFont.load_default(size=...)``,
Aileron), so there is no system font dependency. It covers Latin text;
other characters in a custom title are dropped.
"""

from __future__ import annotations

import functools
import io
import math
import random
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tarotbot.tarot.deck import Card, load_deck
from tarotbot.tarot.draw import Draw
from tarotbot.tarot.spreads import CARD_ASPECT, Spread, get_spread

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
#: down to 1280 px (2560 for HD) anyway.
MAX_PIXELS = 1_300_000
#: Card width bounds, in pixels.
MAX_CARD_W = 300
#: Card widths are rounded down to one of these, so spreads share cached faces.
CARD_WIDTHS = (300, 240, 200, 155)
MIN_CANVAS_W = 720
PAD = 44  # outer margin, px
TITLE_H = 104  # title band, px
LEGEND_FONT = 22
LEGEND_LINE = 32
SUPERSAMPLE = 2  # faces are drawn this many times larger, then scaled down (anti-aliasing)

BACKGROUND_TOP = (14, 12, 28)
BACKGROUND_BOTTOM = (36, 26, 58)
GOLD = (226, 190, 110)
MUTED = (176, 168, 200)


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


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font at ``size`` px (no system font needed)."""
    return ImageFont.load_default(size=max(6, int(size)))


_REPLACE = {"—": "-", "–": "-", "“": '"', "”": '"', "‘": "'", "…": "...", "·": "-", "’": "'"}


def printable(text: str) -> str:
    """``text`` reduced to what the bundled font can draw (printable ASCII)."""
    out = []
    for char in text:
        char = _REPLACE.get(char, char)
        if not (" " <= char <= "~"):
            char = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        out.append(char)
    return " ".join("".join(out).split())


def _wrap(text: str, face: ImageFont.FreeTypeFont, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and face.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


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


def _star(cx: float, cy: float, r_out: float, r_in: float, points: int, turn: float = -90):
    coords = []
    for i in range(points * 2):
        r = r_out if i % 2 == 0 else r_in
        a = math.radians(turn + i * 180 / points)
        coords.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return coords


def _emblem(draw: ImageDraw.ImageDraw, group: str, cx: float, cy: float, s: float, pal: Palette):
    """The suit's emblem, ``s`` px tall, centred on (cx, cy)."""
    ink, line = pal.accent, max(2, round(s * 0.045))
    if group == "wands":
        draw.rounded_rectangle(
            (cx - s * 0.06, cy - s * 0.48, cx + s * 0.06, cy + s * 0.5), radius=s * 0.05, fill=ink
        )
        for i, dy in enumerate((-0.3, -0.05, 0.2)):
            side = -1 if i % 2 else 1
            x0 = cx + side * s * 0.08
            draw.ellipse(
                (
                    min(x0, x0 + side * s * 0.22),
                    cy + dy * s - s * 0.06,
                    max(x0, x0 + side * s * 0.22),
                    cy + dy * s + s * 0.06,
                ),
                fill=ink,
            )
        draw.ellipse((cx - s * 0.1, cy - s * 0.58, cx + s * 0.1, cy - s * 0.4), fill=ink)
    elif group == "cups":
        draw.chord((cx - s * 0.34, cy - s * 0.62, cx + s * 0.34, cy + s * 0.1), 0, 180, fill=ink)
        draw.rectangle((cx - s * 0.34, cy - s * 0.3, cx + s * 0.34, cy - s * 0.24), fill=ink)
        draw.rectangle((cx - s * 0.045, cy + s * 0.08, cx + s * 0.045, cy + s * 0.36), fill=ink)
        draw.polygon(
            [
                (cx - s * 0.06, cy + s * 0.34),
                (cx + s * 0.06, cy + s * 0.34),
                (cx + s * 0.24, cy + s * 0.48),
                (cx - s * 0.24, cy + s * 0.48),
            ],
            fill=ink,
        )
    elif group == "swords":
        draw.polygon(
            [
                (cx, cy - s * 0.56),
                (cx + s * 0.075, cy - s * 0.42),
                (cx + s * 0.075, cy + s * 0.2),
                (cx - s * 0.075, cy + s * 0.2),
                (cx - s * 0.075, cy - s * 0.42),
            ],
            fill=ink,
        )
        draw.line((cx, cy - s * 0.4, cx, cy + s * 0.16), fill=pal.bottom, width=max(1, line // 2))
        draw.rounded_rectangle(
            (cx - s * 0.26, cy + s * 0.2, cx + s * 0.26, cy + s * 0.27), radius=s * 0.03, fill=ink
        )
        draw.rectangle((cx - s * 0.045, cy + s * 0.27, cx + s * 0.045, cy + s * 0.44), fill=ink)
        draw.ellipse((cx - s * 0.07, cy + s * 0.42, cx + s * 0.07, cy + s * 0.56), fill=ink)
    elif group == "pentacles":
        r = s * 0.42
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=ink, width=line)
        r2 = r * 0.86
        draw.ellipse((cx - r2, cy - r2, cx + r2, cy + r2), outline=ink, width=max(1, line // 2))
        pts = _star(cx, cy, r * 0.8, r * 0.8, 5)[::2]
        pentagram = [pts[i % 5] for i in (0, 2, 4, 1, 3, 0)]
        draw.line(pentagram, fill=ink, width=line, joint="curve")
    else:  # the Major Arcana: a radiant star in a ring
        r = s * 0.44
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=ink, width=max(1, line // 2))
        draw.polygon(_star(cx, cy, r * 0.92, r * 0.34, 8), fill=ink)
        draw.polygon(_star(cx, cy, r * 0.5, r * 0.2, 8, turn=-90 + 22.5), fill=pal.ink)
        draw.ellipse((cx - r * 0.12, cy - r * 0.12, cx + r * 0.12, cy + r * 0.12), fill=pal.top)


# --------------------------------------------------------------------------- faces


def _gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]):
    """A vertical gradient image (fast: a 256-px ramp, stretched)."""
    mask = Image.linear_gradient("L").resize((1, 256)).resize(size, Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)


@functools.lru_cache(maxsize=20)
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


@functools.lru_cache(maxsize=160)
def _upright_face(card: Card, width: int) -> Image.Image:
    """The card's upright face, ``width`` px wide (drawn twice as large, then reduced)."""
    group = "major" if card.is_major else card.element
    pal = PALETTES[group]
    face = _blank(group, width).copy()
    w, h = face.size
    draw = ImageDraw.Draw(face)
    draw.text((w / 2, h * 0.1), card.numeral, font=font(round(w * 0.12)), fill=pal.ink, anchor="mm")
    # emblem, and the element under it when there is room; small cards get larger names
    small = width < 200
    _emblem(
        draw, card.group, w / 2, h * (0.41 if small else 0.43), w * 0.5 if small else w * 0.56, pal
    )
    if not small:
        label = ("major arcana" if card.is_major else card.element).upper()
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


def warm_faces(spread_names: Iterable[str]) -> int:
    """Draw every upright face at the card widths of ``spread_names`` now; return how many.

    A worker calls this before taking jobs so its first readings do not each
    pay a few milliseconds per new face (and forked work horses inherit the
    faces). Bounded by the face cache: at most 160 faces stay.
    """
    deck = load_deck()
    widths = sorted({_layout(get_spread(name)).card_w for name in spread_names})
    for width in widths:
        for card in deck:
            _upright_face(card, width)
    return len(widths) * len(deck)


@functools.lru_cache(maxsize=64)
def card_face(card: Card, reversed: bool, width: int) -> Image.Image:
    """The card's face as an RGBA image ``width`` px wide, turned 180° when reversed.

    Cached per (card, orientation, width); the reversed face is the upright
    one turned. Treat the result as read-only.
    """
    face = _upright_face(card, width)
    return face.rotate(180) if reversed else face


@functools.lru_cache(maxsize=32)
def _turned_face(card: Card, reversed: bool, width: int) -> Image.Image:
    """The face lying on its side (the Celtic Cross's crossing card)."""
    return card_face(card, reversed, width).rotate(90, expand=True)


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
        height = TITLE_H + math.ceil(units_h * card_w) + rows * LEGEND_LINE + 36 + 2 * PAD
        return width, height

    card_w = MAX_CARD_W
    for _ in range(3):  # the legend's height depends on the width, which depends on the cards
        legend_h = legend_rows * LEGEND_LINE + 36
        free_h = MAX_SIDE - 2 * PAD - TITLE_H - legend_h
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
    return (layout.width - span_w) / 2, PAD + TITLE_H, min_x, min_y


@functools.lru_cache(maxsize=64)
def _base(spread: Spread, heading: str) -> Image.Image:
    """Everything but the faces, which depends only on the spread: sky, title, shadows, legend."""
    layout = _layout(spread)
    w = layout.card_w
    canvas = _background(layout.width, layout.height)
    pen = ImageDraw.Draw(canvas)
    # title
    lines, size = _fit_lines(heading, 46, layout.width - 2 * PAD - 60, 1)
    heading = lines[0] if len(lines) == 1 else heading
    title_y = PAD + 28
    pen.text((layout.width / 2, title_y), heading, font=font(size), fill=GOLD, anchor="mm")
    half = font(size).getlength(heading) / 2
    for side in (-1, 1):
        _diamond(pen, layout.width / 2 + side * (half + 24), title_y, 7)
    count = len(spread.positions)
    sub = f"{count} card{'s' if count != 1 else ''}"
    title_words = spread.title.lower().removeprefix("the ")
    if spread.time_frame and title_words not in spread.time_frame.lower():
        sub += f"  -  {printable(spread.time_frame)}"
    pen.text((layout.width / 2, title_y + 44), sub, font=font(22), fill=MUTED, anchor="mm")
    # shadows under the cards
    left, top, min_x, min_y = _origin(spread, layout)
    for position in spread.positions:
        bx0, by0, _, _ = position.box()
        x0, y0 = round(left + (bx0 - min_x) * w), round(top + (by0 - min_y) * w)
        shadow = _turned_shadow(w) if position.rotated else _shadow(w, round(w * CARD_ASPECT))
        canvas.paste((0, 0, 0), (x0 - 12, y0 - 12), shadow)
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


def render_spread(draw: Draw, title: str | None = None, *, image_format: str = "png") -> bytes:
    """The spread as PNG (or JPEG) bytes: layout, designed faces, numbers, title and legend.

    ``title`` replaces the spread's title on top (Latin characters only, see
    the module notes). ``image_format`` is one of :data:`IMAGE_FORMATS`.
    """
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {', '.join(IMAGE_FORMATS)}")
    spread = draw.spread
    layout = _layout(spread)
    w = layout.card_w
    heading = printable(title or "") or printable(spread.title)
    canvas = _base(spread, heading).copy()
    pen = ImageDraw.Draw(canvas)
    left, top, min_x, min_y = _origin(spread, layout)
    placed = []
    for i, dc in enumerate(draw.cards, 1):
        bx0, by0, _, _ = dc.position.box()
        x0, y0 = round(left + (bx0 - min_x) * w), round(top + (by0 - min_y) * w)
        if dc.position.rotated:
            face = _turned_face(dc.card, dc.reversed, w)
        else:
            face = card_face(dc.card, dc.reversed, w)
        canvas.paste(face, (x0, y0), face)
        placed.append((i, dc, x0, y0, x0 + face.width, y0 + face.height))
    r = max(13, w * 0.1)
    pill = max(11, round(w * 0.06))
    for i, dc, x0, y0, x1, y1 in placed:
        _badge(pen, x0 + r * 0.55, y0 + r * 0.55, i, r)
        if dc.reversed:
            _pill(pen, (x0 + x1) / 2, y1, "REVERSED", pill)
    return encode_jpeg(canvas) if image_format == "jpeg" else encode_png(canvas)


def encode_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """``image`` as baseline JPEG bytes (libjpeg-turbo through Pillow)."""
    out = io.BytesIO()
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    rgb.save(out, "JPEG", quality=quality, subsampling="4:2:0")
    return out.getvalue()


def encode_png(image: Image.Image, level: int = 1) -> bytes:
    """``image`` as 8-bit RGB PNG bytes (Pillow's encoder at zlib ``level``), lossless."""
    out = io.BytesIO()
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    rgb.save(out, format="PNG", compress_level=level)
    return out.getvalue()
