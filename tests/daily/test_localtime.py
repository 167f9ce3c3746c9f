"""The daily card's clock: due times across timezones, daylight saving and quiet hours (pure)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tarotbot.localtime import (
    Quiet,
    format_local,
    in_quiet,
    next_due,
    offset_name,
    parse_zone,
    zone_from_location,
)

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_next_due_is_the_chosen_local_time_in_each_zone():
    now = at(2026, 6, 1, 12, 0)
    assert next_due(now, BERLIN, 9 * 60) == at(2026, 6, 2, 7, 0)  # 09:00 CEST = 07:00 UTC
    assert next_due(now, NEW_YORK, 9 * 60) == at(2026, 6, 1, 13, 0)  # still today there
    assert next_due(now, parse_zone("UTC+05:30"), 9 * 60) == at(2026, 6, 2, 3, 30)
    assert next_due(now, parse_zone("UTC-03:00"), 8 * 60) == at(2026, 6, 2, 11, 0)


def test_daylight_saving_moves_the_utc_time_not_the_local_one():
    # Berlin: CET (+1) until 29 March 2026 01:00 UTC, then CEST (+2)
    before = next_due(at(2026, 3, 28, 9, 0), BERLIN, 9 * 60)
    after = next_due(before, BERLIN, 9 * 60)
    assert before == at(2026, 3, 29, 7, 0)  # 09:00 CEST on the day of the change
    assert after == at(2026, 3, 30, 7, 0)
    assert next_due(at(2026, 3, 27, 9, 0), BERLIN, 9 * 60) == at(2026, 3, 28, 8, 0)  # 09:00 CET


def test_a_time_skipped_by_the_spring_change_comes_an_hour_later_once():
    # 02:30 does not exist in Berlin on 29 March 2026
    due = next_due(at(2026, 3, 28, 12, 0), BERLIN, 2 * 60 + 30)
    assert due.astimezone(BERLIN).strftime("%d %H:%M") == "29 03:30"
    assert next_due(due, BERLIN, 150).astimezone(BERLIN).strftime("%d %H:%M") == "30 02:30"


def test_the_repeated_autumn_hour_delivers_once():
    # 02:30 happens twice in Berlin on 25 October 2026: the first one counts
    first = next_due(at(2026, 10, 24, 12, 0), BERLIN, 150)
    assert first == at(2026, 10, 25, 0, 30)
    second = next_due(first, BERLIN, 150)
    assert second.astimezone(BERLIN).date() == dt.date(2026, 10, 26)


def test_quiet_hours_hold_the_card_until_they_end():
    quiet = Quiet(22 * 60, 8 * 60)
    assert in_quiet(23 * 60, quiet) and in_quiet(7 * 60, quiet) and not in_quiet(8 * 60, quiet)
    due = next_due(at(2026, 6, 1, 12, 0), dt.UTC, 6 * 60, quiet)
    assert due == at(2026, 6, 2, 8, 0)
    assert next_due(at(2026, 6, 1, 12, 0), dt.UTC, 9 * 60, quiet) == at(2026, 6, 2, 9, 0)
    assert not in_quiet(5, Quiet(0, 0))


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "UTC+15:00", "../../etc/passwd", "UTC+5", "", "a" * 200]
)
def test_zones_we_did_not_store_are_refused(name):
    if name == "":
        assert parse_zone(name) is UTC
        return
    with pytest.raises(ValueError):
        parse_zone(name)


def test_offsets_locations_and_local_formatting():
    assert offset_name(330) == "UTC+05:30" and offset_name(-210) == "UTC-03:30"
    assert zone_from_location(52.5, 13.4) == "UTC+01:00"  # Berlin's longitude
    assert zone_from_location(40.7, -74.0) == "UTC-05:00"
    with pytest.raises(ValueError):
        zone_from_location(91, 0)
    moment = at(2026, 1, 15, 23, 30)
    assert format_local(moment, "Asia/Tokyo") == "16 Jan 2026, 08:30 Asia/Tokyo"
    assert format_local(moment, None) == "15 Jan 2026, 23:30 UTC"
