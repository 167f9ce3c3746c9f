"""Spread pictures: valid PNGs of the expected size, small enough, cached faces."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops

from tarotbot.tarot import render
from tarotbot.tarot.draw import draw
from tarotbot.tarot.render import MAX_SIDE, canvas_size, card_face, printable, render_spread
from tarotbot.tarot.spreads import CARD_ASPECT, SPREADS


@pytest.mark.parametrize("name", sorted(SPREADS))
def test_every_spread_renders(deck, name):
    result = draw(name, "5eed" * 8, 0.5, deck=deck)
    png = render_spread(result)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) < 1_000_000
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    assert image.size == canvas_size(result.spread)
    assert max(image.size) <= MAX_SIDE
    assert render._layout(result.spread).card_w >= 150, "cards large enough to read"


def test_reversed_and_crossing_cards(deck):
    result = draw("celtic", "c0ffee" * 6, 1.0, deck=deck)  # every card reversed
    png = render_spread(result, title="Anna’s reading — ☾")
    assert Image.open(io.BytesIO(png)).size == canvas_size(result.spread)


def test_faces_are_cached_and_turned(deck):
    card = deck.by_key("the-star")
    face = card_face(card, False, 200)
    assert card_face(card, False, 200) is face
    assert face.size == (200, round(200 * CARD_ASPECT))
    turned = card_face(card, True, 200)
    assert list(turned.getdata()) == list(face.rotate(180).getdata())


def test_jpeg_for_telegram(deck):
    result = draw("three", "ab" * 16, deck=deck)
    jpeg = render_spread(result, image_format="jpeg")
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG" and image.size == canvas_size(result.spread)
    assert len(jpeg) < 300_000
    # close to the lossless picture: mean absolute difference under 2 of 255
    exact = Image.open(io.BytesIO(render_spread(result))).convert("RGB")
    histogram = ImageChops.difference(image.convert("RGB"), exact).convert("L").histogram()
    assert sum(level * count for level, count in enumerate(histogram)) / sum(histogram) < 2
    with pytest.raises(ValueError):
        render_spread(result, image_format="gif")


def test_warm_faces_fills_the_cache_for_the_everyday_spreads(deck):
    render._upright_face.cache_clear()
    render.card_face.cache_clear()
    assert render.warm_faces(["single", "three"]) == len(deck)  # both lay cards 300 px wide
    before = render._upright_face.cache_info()
    render_spread(draw("three", "cd" * 16, deck=deck))
    after = render._upright_face.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 3


def test_same_draw_same_picture(deck):
    result = draw("three", "ab" * 16, deck=deck)
    assert render_spread(result) == render_spread(result)


def test_printable():
    assert printable("Anna’s — “reading”") == 'Anna\'s - "reading"'
    assert printable("Café") == "Cafe"
    assert printable("Гадание") == ""


@pytest.mark.parametrize("size", [(1, 1), (3, 7), (640, 2), (257, 311)])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_encode_png_is_lossless(size, mode):
    import random

    rng = random.Random(f"{size}{mode}")
    image = Image.new("RGB", size)
    image.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(size[0] * size[1])])
    image = image.convert(mode)
    data = render.encode_png(image)
    back = Image.open(io.BytesIO(data))
    back.load()
    assert back.format == "PNG" and back.mode == "RGB" and back.size == size
    assert back.tobytes() == image.convert("RGB").tobytes()
