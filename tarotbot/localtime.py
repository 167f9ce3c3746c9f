"""People's own time: timezones chosen by city or UTC offset, and when a daily card is due.

Pure functions (no I/O): the daily-card scheduler and the texts that show
times both use them, and the tests drive them with a fake clock across
timezones and daylight-saving changes.

A timezone is stored as text: an IANA name (``Europe/Berlin``, which
follows daylight saving) or a fixed offset ``UTC+05:30`` / ``UTC-03:00``
(no daylight saving). Minutes of the day are 0..1439 in local time.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime

from tarotbot.i18n import N_, current_language

__all__ = [
    "CITIES",
    "OFFSETS",
    "Quiet",
    "format_local",
    "in_quiet",
    "local_day",
    "next_due",
    "offset_name",
    "parse_zone",
    "zone_from_location",
]

#: Cities offered as buttons: (label, IANA zone); labels are translated when shown.
#: The zones follow daylight saving.
CITIES: tuple[tuple[str, str], ...] = (
    (N_("London"), "Europe/London"),
    (N_("Berlin"), "Europe/Berlin"),
    (N_("Moscow"), "Europe/Moscow"),
    (N_("Dubai"), "Asia/Dubai"),
    (N_("Delhi"), "Asia/Kolkata"),
    (N_("Singapore"), "Asia/Singapore"),
    (N_("Tokyo"), "Asia/Tokyo"),
    (N_("Sydney"), "Australia/Sydney"),
    (N_("New York"), "America/New_York"),
    (N_("Chicago"), "America/Chicago"),
    (N_("Los Angeles"), "America/Los_Angeles"),
    (N_("São Paulo"), "America/Sao_Paulo"),
)
CITY_ZONES = frozenset(zone for _, zone in CITIES)
#: Whole-hour and common half-hour offsets offered as buttons (minutes east of UTC).
OFFSETS: tuple[int, ...] = (*tuple(h * 60 for h in range(-12, 15)), -210, 210, 270, 330, 345, 570)
_OFFSET_RE = re.compile(r"^UTC([+-])([01][0-9]):([0-5][0-9])$")
DEFAULT_ZONE = "UTC"


def offset_name(minutes: int) -> str:
    """``UTC+05:30`` for 330 minutes east of UTC."""
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(int(minutes)), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def parse_zone(name: str | None) -> dt.tzinfo:
    """The tzinfo of a stored zone name; ValueError for anything we did not store."""
    if not name or name == "UTC":
        return dt.UTC
    match = _OFFSET_RE.match(name)
    if match:
        minutes = int(match.group(2)) * 60 + int(match.group(3))
        if minutes > 14 * 60:
            raise ValueError(f"offset {name!r} is beyond ±14:00")
        sign = -1 if match.group(1) == "-" else 1
        return dt.timezone(dt.timedelta(minutes=sign * minutes))
    if not re.fullmatch(r"[A-Za-z_]{1,20}(/[A-Za-z_+-]{1,30}){1,2}", name):
        raise ValueError(f"not a timezone name: {name[:40]!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name[:40]!r}") from None


def zone_from_location(latitude: float, longitude: float) -> str:
    """A fixed-offset zone from a shared location: the nearest whole hour of solar time.

    Without a timezone map this cannot know political borders or daylight
    saving; people in a zone with daylight saving are better served by a city.
    """
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError("not a location on Earth")
    hours = max(-12, min(14, round(longitude / 15)))
    return offset_name(hours * 60)


@dataclass(frozen=True)
class Quiet:
    """Quiet hours in local minutes: from ``start`` up to ``end`` (may wrap past midnight)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not (0 <= self.start < 1440 and 0 <= self.end < 1440):
            raise ValueError("quiet hours are minutes of the day, 0..1439")


def in_quiet(minute: int, quiet: Quiet | None) -> bool:
    """True when local ``minute`` of the day falls in the quiet hours."""
    if quiet is None or quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= minute < quiet.end
    return minute >= quiet.start or minute < quiet.end


def _local_at(day: dt.date, minute: int, zone: dt.tzinfo) -> dt.datetime:
    """The aware instant of local ``minute`` on ``day``; a time skipped by DST moves forward."""
    naive = dt.datetime.combine(day, dt.time(minute // 60, minute % 60))
    local = naive.replace(tzinfo=zone, fold=0)
    # A wall time in a spring-forward gap does not exist: round-tripping through
    # UTC shows it; then take the same wall time an hour later (what clocks show).
    back = local.astimezone(dt.UTC).astimezone(zone)
    if back.replace(tzinfo=None) != naive:
        return back
    return local


def next_due(
    now: dt.datetime, zone: dt.tzinfo, minute: int, quiet: Quiet | None = None
) -> dt.datetime:
    """The next instant after ``now`` (UTC) when a daily card chosen for local ``minute`` is due.

    Inside quiet hours the card waits for their end. Each local day has one
    due time, however the clocks change (an autumn-back hour does not deliver
    twice: the first of two equal wall times is taken).
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    wanted = minute if not in_quiet(minute, quiet) else quiet.end  # type: ignore[union-attr]
    today = now.astimezone(zone).date()
    for offset in range(0, 3):
        due = _local_at(today + dt.timedelta(days=offset), wanted, zone)
        if due > now:
            return due.astimezone(dt.UTC)
    raise AssertionError("unreachable: a day later is always after now")


def local_day(now: dt.datetime, zone: dt.tzinfo) -> dt.date:
    """The person's calendar day at ``now``."""
    return now.astimezone(zone).date()


def format_local(when: dt.datetime, zone_name: str | None) -> str:
    """``12 Mar 2026, 09:00`` in the person's zone, with the zone when it is not UTC."""
    try:
        zone = parse_zone(zone_name)
    except ValueError:
        zone, zone_name = dt.UTC, None
    moment = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    local = moment.astimezone(zone)
    label = zone_name if zone_name and zone_name != "UTC" else "UTC"
    return f"{format_datetime(local, 'dd MMM y, HH:mm', tzinfo=local.tzinfo, locale=current_language())} {label}"
