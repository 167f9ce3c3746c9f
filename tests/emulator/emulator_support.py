"""Constants and helpers shared by the emulator tests (fake tokens, real PNGs)."""

from __future__ import annotations

import io

from PIL import Image

TOKEN = "123456:emulator-test-token"
OTHER_TOKEN = "654321:emulator-other-token"
USER = 1001


def png_bytes(width: int = 640, height: int = 480) -> bytes:
    """A real PNG made with Pillow."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 60, 90)).save(out, format="PNG")
    return out.getvalue()


def png_file(width: int = 640, height: int = 480, name: str = "card.png") -> io.BytesIO:
    data = io.BytesIO(png_bytes(width, height))
    data.name = name
    return data
