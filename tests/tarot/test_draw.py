"""Draws: reproducible from the seed, verifiable, without duplicates, and uniform."""

from __future__ import annotations

import hmac
import math
import re
import statistics
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tarotbot.tarot.draw import Draw, InvalidSeed, draw, new_seed, normalize_seed, verify_record
from tarotbot.tarot.errors import InvalidRecord, UnknownSpread
from tarotbot.tarot.spreads import SPREADS
from tests.tarot.helpers import seeds

hex_seeds = st.text(alphabet="0123456789abcdef", min_size=16, max_size=64)
spread_names = st.sampled_from(sorted(SPREADS))


def test_new_seed_is_128_bit_hex():
    seed = new_seed()
    assert re.fullmatch(r"[0-9a-f]{32}", seed)
    assert len({new_seed() for _ in range(100)}) == 100


@settings(max_examples=60, deadline=None)
@given(seed=hex_seeds, name=spread_names, p=st.floats(0, 1), reversals=st.booleans())
def test_same_seed_same_draw(deck, seed, name, p, reversals):
    first = draw(name, seed, p, reversals, deck=deck)
    again = draw(name, seed.upper(), p, reversals, deck=deck)
    assert first == again
    assert first.seed == seed
    keys = [dc.card.key for dc in first.cards]
    assert len(set(keys)) == len(keys) == len(SPREADS[name].positions)
    assert [dc.position for dc in first.cards] == list(SPREADS[name].positions)
    if not reversals:
        assert not any(dc.reversed for dc in first.cards)


@settings(max_examples=60, deadline=None)
@given(seed=hex_seeds, name=spread_names, p=st.floats(0, 1), reversals=st.booleans())
def test_record_round_trip(deck, seed, name, p, reversals):
    result = draw(name, seed, p, reversals, deck=deck)
    record = result.to_record()
    import json

    assert json.loads(json.dumps(record)) == record
    assert Draw.from_record(record, deck) == result
    assert verify_record(record, deck)


def test_record_shape(deck):
    record = draw("three", "ab" * 16, deck=deck).to_record()
    assert set(record) == {"spread", "seed", "reversal_probability", "reversals_enabled", "cards"}
    assert set(record["cards"][0]) == {"position", "position_name", "key", "name", "reversed"}
    assert record["cards"][0]["position"] == "past"


def test_tampered_record_fails_verification(deck):
    record = draw("celtic", "cd" * 16, deck=deck).to_record()
    record["cards"][0]["key"], record["cards"][1]["key"] = (
        record["cards"][1]["key"],
        record["cards"][0]["key"],
    )
    assert not verify_record(record, deck)
    flipped = draw("celtic", "cd" * 16, deck=deck).to_record()
    flipped["cards"][3]["reversed"] = not flipped["cards"][3]["reversed"]
    assert not verify_record(flipped, deck)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.pop("seed"),
        lambda r: r.update(spread="nope"),
        lambda r: r.update(seed="zz"),
        lambda r: r["cards"].pop(),
        lambda r: r["cards"][0].update(key="no-such-card"),
        lambda r: r["cards"][0].update(position="future"),
    ],
)
def test_malformed_records(deck, mutate):
    record = draw("three", "ef" * 16, deck=deck).to_record()
    mutate(record)
    with pytest.raises(InvalidRecord):
        Draw.from_record(record, deck)
    assert not verify_record(record, deck)


@pytest.mark.parametrize(
    "seed", ["", "abc", "0" * 15, "0" * 65, "g" * 32, "0123456789abcdef 0123", None, 12345]
)
def test_bad_seeds(deck, seed):
    with pytest.raises(InvalidSeed):
        draw("single", seed, deck=deck)  # type: ignore[arg-type]


def test_seed_normalization():
    assert normalize_seed("  ABCDEF0123456789  ") == "abcdef0123456789"


def test_unknown_spread(deck):
    with pytest.raises(UnknownSpread):
        draw("nine-card-wonder", new_seed(), deck=deck)


def test_bad_probability(deck):
    with pytest.raises(ValueError):
        draw("single", new_seed(), 1.5, deck=deck)


# ---------------------------------------------------------------- the documented algorithm


def reference_draw(deck, spread_name: str, seed: str, p: float, reversals: bool):
    """The algorithm exactly as draw.py's docstring states it, written independently."""
    key = seed.lower().encode()

    def stream():
        i = 0
        while True:
            yield from hmac.new(key, b"tarotbot-draw-v1" + i.to_bytes(8, "big"), "sha256").digest()
            i += 1

    s = stream()

    def randbelow(n):
        m = 1
        while 256**m < n:
            m += 1
        limit = 256**m - (256**m % n)
        while True:
            r = int.from_bytes(bytes(next(s) for _ in range(m)), "big")
            if r < limit:
                return r % n

    cards = list(deck.cards)
    for i in range(77, 0, -1):
        j = randbelow(i + 1)
        cards[i], cards[j] = cards[j], cards[i]
    out = []
    for k in range(len(SPREADS[spread_name].positions)):
        rev = False
        if reversals:
            u = int.from_bytes(bytes(next(s) for _ in range(4)), "big")
            rev = u < math.ceil(p * 2**32)
        out.append((cards[k].key, rev))
    return out


@pytest.mark.parametrize("name", sorted(SPREADS))
def test_draw_matches_the_documented_algorithm(deck, name):
    for seed in seeds(5, name):
        result = draw(name, seed, 0.3, True, deck=deck)
        got = [(dc.card.key, dc.reversed) for dc in result.cards]
        assert got == reference_draw(deck, name, seed, 0.3, True)


def test_known_answers(deck):
    """Pins the algorithm: a change here would break the verification of stored readings."""
    three = draw("three", "00112233445566778899aabbccddeeff", deck=deck)
    assert [(dc.card.key, dc.reversed) for dc in three] == [
        ("the-lovers", False),
        ("the-moon", False),
        ("two-of-cups", False),
    ]
    celtic = draw("celtic", "0123456789ABCDEF", deck=deck)
    assert [(dc.card.key, dc.reversed) for dc in celtic] == [
        ("the-fool", False),
        ("five-of-wands", True),
        ("four-of-pentacles", True),
        ("nine-of-pentacles", False),
        ("strength", True),
        ("king-of-wands", False),
        ("ace-of-wands", False),
        ("page-of-wands", True),
        ("judgement", False),
        ("page-of-swords", False),
    ]


# ---------------------------------------------------------------- statistics


def chi_square_critical(df: int, p: float) -> float:
    """Upper ``p`` quantile of chi-square(df) by the Wilson-Hilferty approximation."""
    z = statistics.NormalDist().inv_cdf(1 - p)
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def chi_square(counts: Counter, categories: int, total: int) -> float:
    expected = total / categories
    return sum((counts.get(i, 0) - expected) ** 2 / expected for i in range(categories))


def test_wilson_hilferty_is_sane():
    # Table values: chi2(10) 95th percentile 18.307, chi2(100) 99.9th 149.449
    assert chi_square_critical(10, 0.05) == pytest.approx(18.307, rel=0.01)
    assert chi_square_critical(100, 0.001) == pytest.approx(149.449, rel=0.005)


DRAWS = 20_000


@pytest.fixture(scope="module")
def many_celtic(deck):
    return [draw("celtic", s, 0.3, True, deck=deck) for s in seeds(DRAWS, "celtic-uniform")]


def test_single_card_draws_are_uniform(deck):
    index = {card.key: i for i, card in enumerate(deck.cards)}
    counts = Counter(
        index[draw("single", s, deck=deck).cards[0].card.key] for s in seeds(DRAWS, "single")
    )
    assert len(counts) == 78
    assert chi_square(counts, 78, DRAWS) < chi_square_critical(77, 1e-4)


@pytest.mark.parametrize("position", [0, 1, 9])
def test_celtic_positions_are_uniform(deck, many_celtic, position):
    index = {card.key: i for i, card in enumerate(deck.cards)}
    counts = Counter(index[d.cards[position].card.key] for d in many_celtic)
    assert chi_square(counts, 78, DRAWS) < chi_square_critical(77, 1e-4)


def test_reversal_probability_is_honoured(many_celtic):
    flags = [dc.reversed for d in many_celtic for dc in d.cards]
    n, k = len(flags), sum(flags)
    sd = math.sqrt(n * 0.3 * 0.7)
    assert abs(k - 0.3 * n) < 4.5 * sd, k / n
    # the same per position (each position reads its own bytes)
    for position in range(10):
        k = sum(d.cards[position].reversed for d in many_celtic)
        assert abs(k - 0.3 * DRAWS) < 4.5 * math.sqrt(DRAWS * 0.21)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_other_probabilities(deck, p):
    flags = [dc.reversed for s in seeds(1000, f"p{p}") for dc in draw("three", s, p, deck=deck)]
    if p in (0.0, 1.0):
        assert all(f == bool(p) for f in flags)
    else:
        n = len(flags)
        assert abs(sum(flags) - p * n) < 4.5 * math.sqrt(n * p * (1 - p))


def test_reversals_off(deck):
    for s in seeds(200, "off"):
        result = draw("celtic", s, 1.0, reversals=False, deck=deck)
        assert not any(dc.reversed for dc in result)
        assert result.reversals_enabled is False
        on = draw("celtic", s, 1.0, reversals=True, deck=deck)
        assert [dc.card for dc in on] == [dc.card for dc in result], "reversals do not move cards"
