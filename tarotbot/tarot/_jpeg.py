"""JPEG pictures put together from blocks coded apart (for :mod:`.render`).

A baseline JPEG with a restart marker after every MCU (16×16 pixels in
4:2:0) codes each MCU on its own: the DC predictions start afresh after a
marker and each MCU's code starts on a byte boundary, and with the standard
Huffman tables (no ``optimize``) and the same quantisation, an MCU's code
depends on its own 256 pixels only. So a picture's MCU codes can come from
different encodings (a cached background, cached card faces, a few MCUs
encoded afresh) and be joined, with the markers numbered again RST0..RST7 in
turn, into the JPEG that encoding the whole picture gives, byte for byte.

Two things keep that exact, and :func:`coded` checks both on every encoding
it splits: the encoder must put a marker after every MCU (the number of
codes is the number of MCUs), and its headers must be the same apart from
the picture's size (same tables). MCUs coded apart must lie inside the
picture: an MCU at a right or bottom edge that the picture does not fill is
padded by the encoder in its own way, so such MCUs come only from encodings
of the picture's full width or height (the caller's business).
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

#: An MCU's side in pixels (4:2:0 chroma subsampling).
MCU = 16

_RST = tuple(bytes((0xFF, 0xD0 + i)) for i in range(8))
_EOI = b"\xff\xd9"
_SOS = 0xDA
_SOF0 = 0xC0
_MARKER = re.compile(rb"\xff[\xd0-\xd7]")  # stuffed 0xFF bytes in the code are followed by 0x00


class Mismatch(Exception):
    """An encoding that does not split into one code per MCU, or whose tables differ."""


def encode(image: Image.Image, quality: int) -> bytes:
    """``image`` as a baseline 4:2:0 JPEG with standard Huffman tables and a
    restart marker after every MCU."""
    out = io.BytesIO()
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    rgb.save(out, "JPEG", quality=quality, subsampling="4:2:0", restart_marker_blocks=1)
    return out.getvalue()


@dataclass(frozen=True)
class Coded:
    """A JPEG split: its headers (up to its scan) and each MCU's code, row by row."""

    head: bytes
    codes: tuple[bytes, ...]
    columns: int  # MCUs per row


def _tables(head: bytes) -> bytes:
    """``head`` without the picture's size (its SOF0 segment's height and width zeroed)."""
    at = 2
    while at < len(head):
        if head[at] != 0xFF:
            raise Mismatch("not a JPEG segment")
        marker, length = head[at + 1], int.from_bytes(head[at + 2 : at + 4], "big")
        if marker == _SOF0:  # FF C0, length, precision, height, width, ...
            return head[: at + 5] + bytes(4) + head[at + 9 :]
        at += 2 + length
    raise Mismatch("no baseline frame header")


#: The headers (less the size) every encoding must have: the first one split.
_reference: list[bytes] = []


def coded(image: Image.Image, quality: int) -> Coded:
    """``image`` encoded (:func:`encode`) and split into its MCUs' codes.

    Raises :class:`Mismatch` when the encoding does not line up: not one code
    per MCU, or tables other than those of the encodings split before.
    """
    data = encode(image, quality)
    at = 2  # after the start of image
    while True:
        if at + 4 > len(data) or data[at] != 0xFF:
            raise Mismatch("not a JPEG segment")
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        at += 2 + length
        if marker == _SOS:  # the coded MCUs follow
            break
    if not data.endswith(_EOI):
        raise Mismatch("no end of image")
    head = data[:at]
    columns = -(-image.width // MCU)
    codes = _MARKER.split(data[at:-2])
    if len(codes) != columns * -(-image.height // MCU):
        raise Mismatch(f"{len(codes)} codes for {image.width}x{image.height} px: not one per MCU")
    tables = _tables(head)
    if not _reference:
        _reference.append(tables)
    elif tables != _reference[0]:
        raise Mismatch("the encoder's tables changed")
    return Coded(head, tuple(codes), columns)


def packed_codes(codes: Sequence[bytes]) -> bytes:
    """``codes`` kept as one string (a marker between each: 2 bytes, where a string of
    its own would take some 40), for :func:`unpacked`."""
    return _RST[0].join(codes)


def unpacked(blob: bytes) -> list[bytes]:
    """The codes :func:`packed_codes` kept in ``blob`` (a code holds no marker)."""
    return blob.split(_RST[0])


@functools.lru_cache(maxsize=16)
def _markers(count: int) -> tuple[bytes, ...]:
    """What follows each of ``count`` MCUs: RST0..RST7 in turn, the end of image after the last."""
    return (*(_RST * (count // 8 + 1))[: count - 1], _EOI)


def joined(head: bytes, codes: Sequence[bytes]) -> bytes:
    """A JPEG from its headers and every MCU's code (markers numbered in turn between)."""
    parts: list[bytes | None] = [None] * (2 * len(codes))
    parts[0::2] = codes
    parts[1::2] = _markers(len(codes))
    return head + b"".join(parts)  # type: ignore[arg-type]


#: What cutting a rectangle once more costs, in MCUs encoded (its own paste).
_CUT = 16


@functools.lru_cache(maxsize=1024)
def packed(
    sizes: tuple[tuple[int, int], ...],
) -> tuple[int, int, tuple[tuple[int, int, int, int, int], ...]]:
    """Where rectangles of MCUs go on one picture to be encoded at once, with little waste.

    ``sizes``: (columns, rows) of each rectangle. The picture is filled in
    columns of one height, each as wide as its widest piece; a rectangle
    taller than that is cut across into pieces. Of the heights tried, the one
    with the least area (and cuts) wins. Returns the picture's columns and
    rows, and pieces: (rectangle, its first row in it, rows, column, row).
    """
    if not sizes:
        return 0, 0, ()
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i][0], -sizes[i][1]))
    best: tuple[int, int, int, list[tuple[int, int, int, int, int]]] | None = None
    for height in range(min(h for _, h in sizes), max(h for _, h in sizes) + 1):
        columns: list[list[int]] = []  # [left, width, rows used]
        pieces = []
        right = 0
        for i in order:
            w, h = sizes[i]
            for top in range(0, h, height):
                rows = min(height, h - top)
                for column in columns:  # the first column about as wide with room
                    if column[1] - w <= column[1] // 4 and column[2] + rows <= height:
                        break
                else:
                    column = [right, w, 0]
                    columns.append(column)
                    right += w
                pieces.append((i, top, rows, column[0], column[2]))
                column[2] += rows
        cost = right * height + _CUT * (len(pieces) - len(sizes))
        if best is None or cost < best[0]:
            best = (cost, right, height, pieces)
    assert best is not None
    return best[1], best[2], tuple(best[3])
