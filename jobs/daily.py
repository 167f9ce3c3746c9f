"""RQ entry points for the card of the day: the per-minute tick, the batches, /daily, settings.

:func:`tick` runs every minute (rq-scheduler, maintenance queue): it claims
the people whose card is due in batches of ``DAILY_BATCH_SIZE``
(:func:`tarotbot.daily.claim_due`) and queues one :func:`send_cards` job per
batch on the low-priority ``bulk`` queue. It also resumes broadcasts whose
batch job died. :func:`send_cards` paces itself through the bulk budget
(:mod:`tarotbot.telegram.bulk`) and sends through the one sender; a person
who blocked the bot (403) is marked inactive and skipped from then on.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from jobs import get_app, job_context
from tarotbot import daily, users
from tarotbot.exceptions import UnknownUser
from tarotbot.i18n import current_language, speaking
from tarotbot.localtime import CITIES, offset_name, zone_from_location
from tarotbot.models import DailyCard, User, utcnow
from tarotbot.queue import QUEUE_BULK, job_id
from tarotbot.readings import stored_messages
from tarotbot.tarot.draw import Draw
from tarotbot.tarot.render import render_spread
from tarotbot.telegram import keyboards, replies, texts
from tarotbot.telegram.bulk import pacer_for, unreachable

log = logging.getLogger("tarotbot.jobs.daily")

TICK_BUDGET = 40.0  # seconds one tick may spend claiming before the next one takes over
BROADCAST_STALL = 45.0  # seconds without progress after which a broadcast is resumed


def now() -> dt.datetime:
    """The clock of the daily card (a function, so tests can move it)."""
    return utcnow()


@job_context
def tick() -> dict:
    """Queue the cards due now in batches; resume stalled broadcasts."""
    app = get_app()
    started = time.monotonic()
    moment = now()
    batches = people = 0
    while time.monotonic() - started < TICK_BUDGET:
        due = daily.claim_due(moment, app.settings.daily_batch)
        if not due:
            break
        first = due[0]
        app.enqueue(
            QUEUE_BULK,
            "jobs.daily.send_cards",
            [[d.user_id, d.day] for d in due],
            key=job_id("daily", first.user_id, first.day, int(moment.timestamp())),
            timeout=600,
        )
        batches += 1
        people += len(due)
    from jobs.admin import resume_stalled_broadcasts

    resumed = resume_stalled_broadcasts(BROADCAST_STALL)
    if batches:
        log.info("daily cards: %d people in %d batch(es)", people, batches)
    return {"batches": batches, "people": people, "broadcasts_resumed": resumed}


def card_items(chat_id: int, card: DailyCard, reading, day: str, markup: dict, photo_key: str):
    the_draw = Draw.from_record(reading.cards)
    cards = "\n".join(f"{dc.card.name} {dc.mark}" for dc in the_draw.cards)
    caption = texts.render(texts.DAILY_CARD_CAPTION, day=day, cards=cards)
    picture = render_spread(
        the_draw,
        image_format="jpeg",
        date=reading.created_at,
        brand="TarotBot",
        language=current_language(),
    )
    messages = list(stored_messages(reading.interpretation))
    items = [replies.photo(chat_id, photo_key, caption)]
    items += [replies.text(chat_id, m) for m in messages[:-1]]
    if messages:
        items.append(replies.text(chat_id, messages[-1], markup))
    return items, {photo_key: picture}


@job_context
def send_cards(batch: list[list]) -> dict:
    """Send each person in ``batch`` (``[user_id, day]`` pairs) their card of the day, once."""
    app = get_app()
    gate = pacer_for(app)
    sent = skipped = 0
    for user_id, day in batch:
        user = User.get_or_none(User.id == int(user_id))
        if user is None or not user.is_active or not user.daily_enabled or user.erased_at:
            skipped += 1
            continue
        with speaking(user.language):
            card, reading = daily.card_of_the_day(user, day, app.settings)
        if card.pushed_at is not None or card.asked_at is not None:
            skipped += 1  # delivered already (a retried batch), or seen with /daily today
            continue
        bundle = f"daily-{user.id}-{day}"
        with speaking(user.language):  # a scheduled job: each card in its person's language
            markup = keyboards.with_rows(
                keyboards.daily_card_menu(), keyboards.reading_extras(reading.id)
            )
            items, photos = card_items(
                user.telegram_id, card, reading, day, markup, f"photo:{bundle}"
            )
        gate.wait_turn()
        result = app.sender.deliver(bundle, user.telegram_id, items, photos=photos)
        if unreachable(result):
            User.update(is_active=False).where(User.id == user.id).execute()
            log.info("user %s blocked the bot; marked inactive, no more daily cards", user.id)
            skipped += 1
            continue
        DailyCard.update(pushed_at=utcnow()).where(DailyCard.id == card.id).execute()
        sent += 1
    return {"sent": sent, "skipped": skipped}


@job_context
def ask_card(telegram_id: int, chat_id: int, key: str) -> dict:
    """/daily: today's card (the person's own day); the same one all day, pushed or asked."""
    app = get_app()
    try:
        user = users.by_telegram_id(telegram_id)
    except UnknownUser:
        app.sender.deliver(f"{key}-nouser", chat_id, [replies.text(chat_id, texts.NOT_REGISTERED)])
        return {"status": "unknown-user"}
    if not daily.allowed_for(user):
        app.sender.deliver(key, chat_id, [replies.text(chat_id, texts.DAILY_NOT_ALLOWED)])
        return {"status": "not-allowed"}
    day = daily.today_for(user, now())
    card, reading = daily.card_of_the_day(user, day, app.settings)
    first_ask = (
        DailyCard.update(asked_at=utcnow())
        .where((DailyCard.id == card.id) & DailyCard.asked_at.is_null())
        .execute()
    )  # claimed before sending: of two quick /daily, one is "again"
    again = card.pushed_at is not None or not first_ask
    markup = keyboards.with_rows(keyboards.after_reading(), keyboards.reading_extras(reading.id))
    items, photos = card_items(chat_id, card, reading, day, markup, f"photo:{key}")
    if again:
        items.insert(0, replies.text(chat_id, texts.DAILY_AGAIN))
    app.sender.deliver(key, chat_id, items, photos=photos)
    return {"status": "again" if again else "shown", "reading_id": reading.id, "day": day}


def summary(user: User) -> str:
    quiet = (
        texts.render(texts.NONE)
        if user.quiet_start is None
        else f"{keyboards.hhmm(user.quiet_start)}–{keyboards.hhmm(user.quiet_end)}"
    )
    return texts.render(
        texts.DAILY_SUMMARY,
        daily=texts.render(texts.ON if user.daily_enabled else texts.OFF),
        time=keyboards.hhmm(user.daily_minute),
        zone=user.timezone or "UTC",
        quiet=quiet,
    )


def _zone_of_choice(choice: str) -> str:
    """A zone name from a z: button's argument (``c3``: a city; ``o-180``: an offset)."""
    if choice.startswith("c"):
        return CITIES[int(choice[1:])][1]
    minutes = int(choice[1:])
    if minutes % 15 or not -12 * 60 <= minutes <= 14 * 60:
        raise ValueError("not an offset we offer")
    return offset_name(minutes)


@job_context
def update_daily(telegram_id: int, chat_id: int, change: dict, key: str) -> dict:
    """Apply one daily-card setting from a button (or a shared location) and confirm it."""
    app = get_app()
    options: dict = {}
    if "enabled" in change:
        options["enabled"] = bool(change["enabled"])
    if "minute" in change:
        options["minute"] = int(change["minute"])
    if "zone" in change:
        options["zone"] = _zone_of_choice(str(change["zone"]))
    if "location" in change:
        latitude, longitude = change["location"]
        options["zone"] = zone_from_location(float(latitude), float(longitude))
    if "quiet" in change:
        options["quiet"] = None if change["quiet"] is None else tuple(change["quiet"])
    try:
        user = daily.update_settings(telegram_id, now(), **options)
    except User.DoesNotExist:
        app.sender.deliver(key, chat_id, [replies.text(chat_id, texts.NOT_REGISTERED)])
        return {"status": "unknown-user"}
    except (ValueError, IndexError):
        app.sender.deliver(key, chat_id, [replies.text(chat_id, texts.STALE_BUTTON)])
        return {"status": "refused"}
    if "location" in change:
        message = texts.render(texts.ZONE_FROM_LOCATION, zone=user.timezone)
        markup: dict | None = {"remove_keyboard": True}
    elif change.get("enabled") is False:
        message, markup = texts.DAILY_OFF, None
    elif change.get("enabled") and user.daily_next_at is not None:
        message = texts.render(
            texts.DAILY_ON,
            time=keyboards.hhmm(user.daily_minute),
            zone=user.timezone or "UTC",
            when=daily_when(user),
        )
        markup = None
    else:
        message, markup = texts.DAILY_SAVED.format(summary=summary(user)), None
    app.sender.deliver(key, chat_id, [replies.text(chat_id, message, markup)])
    return {"status": "saved", "enabled": user.daily_enabled}


def daily_when(user: User) -> str:
    from tarotbot.localtime import format_local

    return format_local(user.daily_next_at, user.timezone)
