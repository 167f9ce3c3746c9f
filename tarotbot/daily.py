"""The card of the day: who gets one when, and the card itself (one per person and local day).

Subscribers carry ``daily_next_at``, the next UTC instant their card is due,
computed from their chosen local time, timezone and quiet hours
(:func:`tarotbot.localtime.next_due`). The per-minute scheduler job claims
due people in batches (:func:`claim_due`), which moves each one's
``daily_next_at`` to the next day in the same transaction, so a person is
claimed once per day however many schedulers run.

The card itself (:func:`card_of_the_day`) is a one-card reading with a seed
derived from the person and their local date, stored once per day (UNIQUE
``daily_cards(user_id, day)``): the pushed card and the one asked for with
/daily are the same card. It is free and has no ledger row (a reading
without a ``transaction_id``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import peewee

from tarotbot.config import Settings, seed_secret_bytes
from tarotbot.db import database, is_postgres
from tarotbot.i18n import current_language
from tarotbot.interpreter import interpret
from tarotbot.localtime import Quiet, local_day, next_due, parse_zone
from tarotbot.models import DailyCard, Reading, User, utcnow
from tarotbot.tarot.commitment import commitment_of, daily_nonce, seed_for
from tarotbot.tarot.draw import draw

SPREAD = "single"


def allowed_for(user: User) -> bool:
    """Whether ``user``'s plan includes the daily card: free for everyone for now.

    The one place to consult the tier table once plans decide it.
    """
    return True


def zone_of(user: User) -> dt.tzinfo:
    try:
        return parse_zone(user.timezone)
    except ValueError:
        return dt.UTC


def quiet_of(user: User) -> Quiet | None:
    if user.quiet_start is None or user.quiet_end is None:
        return None
    return Quiet(user.quiet_start, user.quiet_end)


def next_at(user: User, now: dt.datetime) -> dt.datetime:
    return next_due(now, zone_of(user), user.daily_minute, quiet_of(user))


def update_settings(
    telegram_id: int,
    now: dt.datetime,
    *,
    enabled: bool | None = None,
    minute: int | None = None,
    zone: str | None = None,
    quiet: tuple[int, int] | None | bool = False,
) -> User:
    """Change a person's daily-card settings and recompute when the next card is due.

    ``quiet``: ``(start, end)``, None to clear quiet hours, False to leave them.
    Raises ValueError for values no button of ours offers.
    """
    with database.atomic():
        user = User.get(User.telegram_id == telegram_id)
        if enabled is not None:
            user.daily_enabled = bool(enabled)
        if minute is not None:
            if not 0 <= int(minute) < 1440:
                raise ValueError("a time of day is 0..1439 minutes")
            user.daily_minute = int(minute)
        if zone is not None:
            parse_zone(zone)  # raises ValueError for a zone we cannot read
            user.timezone = zone
        if quiet is not False:
            if quiet is None:
                user.quiet_start = user.quiet_end = None
            else:
                Quiet(*quiet)  # raises ValueError
                user.quiet_start, user.quiet_end = quiet
        user.daily_offered = True
        user.daily_next_at = next_at(user, now) if user.daily_enabled else None
        user.save()
    return user


def may_offer(user: User) -> bool:
    """Whether ``user``'s row says the daily card is still to be offered (once, after a
    first reading); :func:`offer_once` then decides, once, with the reading stored."""
    return not user.daily_enabled and not user.daily_offered and allowed_for(user)


def offer_once(user_id: int) -> bool:
    """True exactly once per person: the first caller may offer the daily card."""
    return (
        User.update(daily_offered=True)
        .where(
            (User.id == user_id) & (User.daily_offered == False) & (User.daily_enabled == False)  # noqa: E712
        )
        .execute()
        == 1
    )


@dataclass(frozen=True)
class Due:
    user_id: int
    telegram_id: int
    day: str  # the person's local date of the due instant, YYYY-MM-DD


def claim_due(now: dt.datetime, limit: int) -> list[Due]:
    """Up to ``limit`` subscribers whose card is due at ``now``; their next one moves to tomorrow.

    Reads the partial index ``idx_users_daily_due`` (subscribed and active
    people only). On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets several
    claimers share the work without waiting for each other.
    """
    due: list[Due] = []
    with database.atomic():
        query = (
            User.select()
            .where(
                (User.daily_enabled == True)  # noqa: E712
                & (User.is_active == True)  # noqa: E712
                & (User.daily_next_at <= now)
            )
            .order_by(User.daily_next_at, User.id)
            .limit(limit)
        )
        if is_postgres():
            query = query.for_update(skip_locked=True)
        for user in query:
            zone = zone_of(user)
            day = local_day(user.daily_next_at, zone).isoformat()
            upcoming = next_at(user, max(now, user.daily_next_at))
            User.update(daily_next_at=upcoming).where(User.id == user.id).execute()
            if allowed_for(user):
                due.append(Due(user.id, user.telegram_id, day))
    return due


def today_for(user: User, now: dt.datetime | None = None) -> str:
    return local_day(now or utcnow(), zone_of(user)).isoformat()


def card_of_the_day(user: User, day: str, settings: Settings) -> tuple[DailyCard, Reading]:
    """The person's card for ``day`` (local date), drawn and stored on first use; the same after.

    The seed is derived from the person and the day, so a race between the
    pushed card and /daily draws the same card, and the UNIQUE (user, day)
    keeps one of them.
    """
    existing = DailyCard.get_or_none((DailyCard.user == user.id) & (DailyCard.day == day))
    if existing is not None and existing.reading_id is not None:
        return existing, Reading.get_by_id(existing.reading_id)
    nonce = daily_nonce(user.id, day)
    seed = seed_for(seed_secret_bytes(settings), nonce)
    the_draw = draw(
        SPREAD,
        seed,
        reversal_probability=settings.reversal_probability,
        reversals=user.reads_reversals,
    )
    interpretation = interpret(the_draw, None, settings, current_language())
    record = the_draw.to_record() | {
        "interpreter": interpretation.author,
        "nonce": nonce,
        "commitment": commitment_of(seed),
        "daily": day,
    }
    try:
        with database.atomic():
            reading = Reading.create(
                user=user.id,
                spread_type=SPREAD,
                question=None,
                cards=record,
                interpretation=interpretation.html,
                transaction=None,
            )
            card = DailyCard.create(user=user.id, day=day, reading=reading.id)
    except peewee.IntegrityError:  # another process stored today's card first: use that one
        card = DailyCard.get((DailyCard.user == user.id) & (DailyCard.day == day))
        return card, Reading.get_by_id(card.reading_id)
    return card, reading
