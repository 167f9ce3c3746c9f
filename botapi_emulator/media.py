"""Photos: reading uploads with Pillow, Telegram's size ladder, file ids.

Telegram stores an uploaded photo once and answers with several PhotoSize
entries (thumbnails up to the full picture), each with its own ``file_id``.
The emulator does the same: thumbnails get ``file_size`` estimated from their
area and are only really downscaled if someone downloads them (getFile).
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from botapi_emulator.errors import bad_request

MAX_PHOTO_BYTES = 10 * 1024 * 1024  # Telegram: photos up to 10 MB
MAX_PHOTO_DIMENSIONS = 10_000  # Telegram: width + height at most 10000
MAX_ASPECT_RATIO = 20  # Telegram: ratio of width and height at most 20
THUMBNAIL_SIDES = (90, 320, 800, 1280)  # Telegram's s, m, x, y sizes
LARGEST_SIDE = 2560  # Telegram's w size: the full picture is capped here


@dataclass(frozen=True)
class ImageInfo:
    """What Telegram learns from an upload: pixel size, format and byte size."""

    width: int
    height: int
    extension: str
    size: int


def new_file_id() -> str:
    """A file_id shaped like Telegram's photo ids (base64url, no colon)."""
    return "AgACAgIAAxk" + secrets.token_urlsafe(48)


def new_file_unique_id() -> str:
    return "AQAD" + secrets.token_urlsafe(9)


def inspect_image(data: bytes) -> ImageInfo:
    """Read an uploaded photo's size; Telegram's 400s for empty, huge or broken files."""
    if not data:
        raise bad_request("file must be non-empty")
    if len(data) > MAX_PHOTO_BYTES:
        raise bad_request("file is too big")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            kind = (image.format or "jpeg").lower()
    except (UnidentifiedImageError, OSError, ValueError):
        raise bad_request("IMAGE_PROCESS_FAILED") from None
    if width + height > MAX_PHOTO_DIMENSIONS or max(width, height) > MAX_ASPECT_RATIO * min(
        width, height
    ):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    extension = {"jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif"}.get(kind, "jpg")
    return ImageInfo(width, height, extension, len(data))


def scaled(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Dimensions fitted into a ``max_side`` square, aspect ratio kept."""
    factor = max_side / max(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def size_ladder(info: ImageInfo) -> list[tuple[int, int, int, int | None]]:
    """(width, height, estimated bytes, max_side or None for the original) per size."""
    longest = max(info.width, info.height)
    ladder: list[tuple[int, int, int, int | None]] = []
    for side in THUMBNAIL_SIDES:
        if longest > side:
            w, h = scaled(info.width, info.height, side)
            ladder.append((w, h, _estimate(info, w, h), side))
    if longest > LARGEST_SIDE:
        w, h = scaled(info.width, info.height, LARGEST_SIDE)
        ladder.append((w, h, _estimate(info, w, h), LARGEST_SIDE))
    else:
        ladder.append((info.width, info.height, info.size, None))
    return ladder


def _estimate(info: ImageInfo, width: int, height: int) -> int:
    ratio = (width * height) / (info.width * info.height)
    return max(1, round(info.size * ratio))


def downscale(data: bytes, max_side: int) -> bytes:
    """A JPEG of the picture fitted into ``max_side`` (for downloading thumbnails)."""
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=85)
        return out.getvalue()


def sticker_object() -> dict[str, Any]:
    """A regular static sticker, as a user would send one."""
    return {
        "file_id": "CAACAgIAAxk" + secrets.token_urlsafe(40),
        "file_unique_id": new_file_unique_id(),
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "\N{CRYSTAL BALL}",
        "file_size": 24_000,
    }


def sample_png(width: int = 64, height: int = 64) -> bytes:
    """A small PNG for photo messages sent by the driver's users."""
    image = Image.new("RGB", (width, height), (90, 40, 120))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
