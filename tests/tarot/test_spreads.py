"""The nine spreads: names, costs, positions, and layouts without overlapping cards."""

from __future__ import annotations

import itertools

import pytest

from tarotbot.tarot.errors import UnknownSpread
from tarotbot.tarot.spreads import CARD_ASPECT, SPREADS, Spread, get_spread

COSTS = {
    "single": 1,
    "three": 2,
    "relationship": 3,
    "career": 3,
    "week_ahead": 4,
    "celtic": 5,
    "monthly_guidance": 5,
    "life_path": 6,
    "yearly_path": 8,
}


def test_exactly_the_nine_spreads_with_their_costs():
    assert set(SPREADS) == set(COSTS)
    assert {name: s.cost for name, s in SPREADS.items()} == COSTS
    for name, spread in SPREADS.items():
        assert spread.name == name
        assert get_spread(name) is spread


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("single", {1}),
        ("three", {3}),
        ("celtic", {10}),
        ("relationship", {6, 7}),
        ("career", {5, 6}),
        ("week_ahead", {7}),
        ("monthly_guidance", {5}),
        ("yearly_path", {12, 13}),
        ("life_path", {7}),
    ],
)
def test_position_counts(name, counts):
    assert len(SPREADS[name].positions) in counts


def test_three_is_past_present_future():
    assert [p.key for p in SPREADS["three"].positions] == ["past", "present", "future"]


def test_week_is_monday_to_sunday():
    names = [p.name for p in SPREADS["week_ahead"].positions]
    assert names == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def test_month_is_a_theme_and_four_weeks():
    keys = [p.key for p in SPREADS["monthly_guidance"].positions]
    assert keys == ["theme", "week_1", "week_2", "week_3", "week_4"]


def test_year_has_twelve_months():
    months = [p for p in SPREADS["yearly_path"].positions if p.key.startswith("month_")]
    assert len(months) == 12


def test_angles_and_time_frames():
    assert SPREADS["relationship"].angle == "love"
    assert SPREADS["career"].angle == "career"
    for name in ("week_ahead", "monthly_guidance", "yearly_path", "life_path"):
        assert SPREADS[name].angle == "time"
        assert SPREADS[name].time_frame
    for name in ("single", "three", "celtic"):
        assert SPREADS[name].angle == "general"


@pytest.mark.parametrize("spread", SPREADS.values(), ids=list(SPREADS))
def test_positions_are_described(spread: Spread):
    assert spread.title and spread.description.endswith(".")
    assert spread.focus, "every spread names the cards that answer an open question"
    for position in spread.positions:
        assert position.name and position.question.endswith("?")
    assert len({p.key for p in spread.positions}) == len(spread.positions)


def _overlap(a, b) -> bool:
    eps = 1e-9
    return a[0] < b[2] - eps and b[0] < a[2] - eps and a[1] < b[3] - eps and b[1] < a[3] - eps


@pytest.mark.parametrize("spread", SPREADS.values(), ids=list(SPREADS))
def test_layout_has_no_overlapping_cards(spread: Spread):
    for p, q in itertools.combinations(spread.positions, 2):
        if spread.name == "celtic" and {p.key, q.key} == {"present", "challenge"}:
            continue
        assert not _overlap(p.box(), q.box()), f"{spread.name}: {p.key} overlaps {q.key}"


def test_celtic_crossing_card_lies_across_card_one():
    positions = SPREADS["celtic"].positions
    first, crossing = positions[0], positions[1]
    assert crossing.rotated and not first.rotated
    assert (crossing.x, crossing.y) == (first.x, first.y)
    assert [p.key for p in positions if p.rotated] == ["challenge"]
    assert not any(p.rotated for s in SPREADS.values() if s.name != "celtic" for p in s.positions)
    box = crossing.box()
    assert box[2] - box[0] == pytest.approx(CARD_ASPECT)


def test_celtic_is_cross_and_staff():
    positions = SPREADS["celtic"].positions
    staff = positions[6:]
    assert len({p.x for p in staff}) == 1, "the staff is one column"
    assert [p.y for p in staff] == sorted((p.y for p in staff), reverse=True), "rising"
    assert all(p.x > max(q.x for q in positions[:6]) for p in staff)


def test_unknown_spread():
    with pytest.raises(UnknownSpread) as info:
        get_spread("tarot-of-doom")
    assert isinstance(info.value, ValueError)
    assert "celtic" in str(info.value) and "tarot-of-doom" in str(info.value)
