"""RQ entry points for readings: perform one, show history, open a past one."""

from __future__ import annotations

import datetime as dt
import logging

from rq import get_current_job

from jobs import get_app, job_context
from tarotbot import daily, history, ledger, metrics, users
from tarotbot.cache import ReadingCache
from tarotbot.exceptions import InsufficientCredits, NotRefundable, UnknownUser
from tarotbot.i18n import current_language, speaking
from tarotbot.localtime import format_local
from tarotbot.models import Reading, User
from tarotbot.readings import ReadingOutcome, perform_reading, reopen
from tarotbot.tarot.compose import card_page
from tarotbot.tarot.draw import Draw
from tarotbot.tarot.render import render_spread
from tarotbot.tarot.spreads import get_spread
from tarotbot.tarot.telegram_text import MESSAGE_LIMIT, telegram_length
from tarotbot.telegram import keyboards, replies, texts
from tarotbot.telegram.sender import DONE_TTL

log = logging.getLogger("tarotbot.jobs.readings")


def _registered_user(app, telegram_id: int, chat_id: int, key: str) -> User | None:
    """The user, or None after asking the person to /start first."""
    try:
        return users.by_telegram_id(telegram_id)
    except UnknownUser:
        app.sender.deliver(f"{key}-nouser", chat_id, [replies.text(chat_id, texts.NOT_REGISTERED)])
        return None


@job_context
def run_reading(
    telegram_id: int,
    chat_id: int,
    spread: str,
    question: str | None,
    key: str,
    nonce: str | None = None,
) -> dict:
    """Charge, draw, interpret, store, then send the picture and the text.

    ``nonce``: the commitment nonce chosen with the spread (the seed derives
    from it; its seal was shown before the question).
    """
    app = get_app()
    user = _registered_user(app, telegram_id, chat_id, key)
    if user is None:
        metrics.count_reading(spread, "unknown-user")
        return {"status": "unknown-user"}
    try:
        outcome = perform_reading(
            user,
            spread,
            question,
            key,
            app.settings,
            nonce=nonce,
            offer_daily=daily.may_offer(user),
        )
    except InsufficientCredits as short:
        metrics.count_reading(spread, "insufficient-credits")
        the_spread = get_spread(spread)
        message = texts.render(
            texts.NOT_ENOUGH_CREDITS,
            title=the_spread.title,
            cost=short.needed,
            balance=short.balance,
        )
        app.sender.deliver(
            f"{key}-short",
            chat_id,
            [replies.text(chat_id, message, keyboards.not_enough_credits())],
        )
        return {"status": "insufficient-credits"}
    # counted once stored and charged: a retry after a failed send counts as replayed
    metrics.count_reading(spread, "replayed" if outcome.replayed else "done")
    if outcome.replayed and _delivered_long_ago(outcome.reading):
        log.info("reading job %s ran again long after its reading; not sent twice", key)
        return {"status": "replayed", "reading_id": outcome.reading.id}
    send_reading(
        outcome, chat_id, bundle_id=key, offer_daily=outcome.offer_daily, since=_queued_at()
    )
    return {"status": "replayed" if outcome.replayed else "done", "reading_id": outcome.reading.id}


def _queued_at() -> float | None:
    """When this job was queued (unix time): when the person began to wait."""
    job = get_current_job()
    queued = job.enqueued_at if job is not None else None
    if queued is None:
        return None
    return (queued if queued.tzinfo else queued.replace(tzinfo=dt.UTC)).timestamp()


def _delivered_long_ago(reading: Reading) -> bool:
    """True for a reading made before its delivery records could have expired.

    A job for it that runs now (an update Telegram redelivered after a long
    outage) would find no records and send it again; a retry of a failed
    delivery comes within minutes, well inside that window.
    """
    made = reading.created_at
    made = made if made.tzinfo else made.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC) - made > dt.timedelta(seconds=DONE_TTL)


def send_reading(
    outcome: ReadingOutcome,
    chat_id: int,
    bundle_id: str,
    reopened: bool = False,
    offer_daily: bool = False,
    since: float | None = None,
) -> None:
    """Picture with the summary caption, then the interpretation ending in a footer with buttons.

    The footer joins the last interpretation message when it fits, which
    saves the person a message and the bot a Telegram call (and a rate-limit
    slot) per reading; so does the one-time offer of the daily card
    (``offer_daily``, after a first reading), which joins the footer with its
    buttons. A reading ``reopened`` from /history says when it was made and
    that nothing was charged, instead of the cost and balance. ``since``: when
    the person began to wait for it (see :meth:`~tarotbot.telegram.sender.Sender.deliver`).
    """
    app = get_app()
    photo_key = f"photo:{bundle_id}"
    picture = render_spread(
        outcome.draw,
        image_format="jpeg",
        question=outcome.reading.question,
        date=outcome.reading.created_at,
        brand="TarotBot",
        language=current_language(),
    )
    if reopened:
        footer = texts.render(
            texts.READING_FOOTER_REOPENED,
            when=format_local(outcome.reading.created_at, outcome.reading.user.timezone),
            seed=outcome.draw.seed,
        )
    else:
        footer = texts.render(
            texts.READING_FOOTER,
            cost=outcome.cost,
            balance=outcome.balance,
            seed=outcome.draw.seed,
        )
    markup = keyboards.with_rows(
        keyboards.after_reading(outcome.reading.id, len(outcome.draw.cards)),
        keyboards.reading_extras(outcome.reading.id),
    )
    if offer_daily:
        footer = f"{footer}\n\n{texts.render(texts.DAILY_OFFER)}"
        markup = keyboards.with_rows(markup, keyboards.offer_daily()["inline_keyboard"])
    messages = list(outcome.messages)
    if messages and telegram_length(f"{messages[-1]}\n\n{footer}") <= MESSAGE_LIMIT:
        messages[-1] = f"{messages[-1]}\n\n{footer}"
    else:
        messages.append(footer)
    items = [replies.photo(chat_id, photo_key, outcome.caption)]
    items += [replies.text(chat_id, message) for message in messages[:-1]]
    items.append(replies.text(chat_id, messages[-1], markup))
    app.sender.deliver(bundle_id, chat_id, items, photos={photo_key: picture}, since=since)


def reading_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: after the last attempt, tell the person kindly, and truly.

    A job that never stored a reading never charged for it (the debit and the
    reading commit together). One that stored it but could not send it (the
    picture or Telegram failed every time) refunds the debit, so nobody pays
    for a reading they did not receive; the reading stays in /history.
    """
    if job.retries_left:  # another attempt is coming
        return
    telegram_id, chat_id, key = job.args[0], job.args[1], job.args[4]
    log.error(
        "reading job %s for user %s failed for good: %s", job.id, telegram_id, exc_type.__name__
    )
    refund = _refund_undelivered(key)
    with speaking(job.meta.get("language")):  # a callback, not a job: its language by hand
        if refund is None:
            message = texts.render(texts.READING_FAILED)
        else:
            message = texts.render(
                texts.READING_UNDELIVERED, cost=refund.amount, balance=refund.balance_after
            )
    get_app().sender.deliver(f"{job.id}-failed", chat_id, [replies.text(chat_id, message)])


@job_context
def _refund_undelivered(key: str) -> ledger.LedgerEntry | None:
    """Refund the debit of the reading stored under ``key``; None if nothing was charged."""
    if ledger.find(key) is None:
        return None
    try:
        return ledger.refund(key, key=f"undelivered-{key}", reason="reading could not be sent")
    except NotRefundable:  # refunded already (e.g. by the orphan-debit sweep)
        return None


@job_context
def show_history(
    telegram_id: int,
    chat_id: int,
    cursor: str | None,
    direction: str,
    edit_message_id: int | None,
    key: str,
) -> dict:
    """A page of the person's readings with Newer/Older buttons (keyset pagination)."""
    app = get_app()
    user = _registered_user(app, telegram_id, chat_id, key)
    if user is None:
        return {"status": "unknown-user"}
    try:
        page = history.history_page(user.id, cursor=cursor, direction=direction, limit=5)
    except ValueError:
        app.sender.deliver(key, chat_id, [replies.text(chat_id, texts.STALE_HISTORY)])
        return {"status": "bad-cursor"}
    if not page.items and cursor is not None:
        # A cursor past either end (forged, or its readings gone): the newest page,
        # never "no readings yet" to someone who has some.
        page = history.history_page(user.id, cursor=None, limit=5)
    if not page.items:
        app.sender.deliver(
            key, chat_id, [replies.text(chat_id, texts.HISTORY_EMPTY, keyboards.main_menu())]
        )
        return {"status": "empty"}
    labels = []
    zone = daily.zone_of(user)  # times in the person's own timezone
    for item in page.items:
        title = texts.local_spread(item.spread_type).title
        # the question tells readings apart best; the spread names one without a question
        when = texts.moment(item.created_at.astimezone(zone))
        room = keyboards.HISTORY_LABEL_LIMIT - len(when) - len(" · ")
        what = _shortened(item.question, room) if item.question else title
        labels.append((item.reading_id, f"{when} · {what}"))
    markup = keyboards.history_menu(labels, page.older_cursor, page.newer_cursor)
    if edit_message_id:
        item = replies.edit_text(chat_id, edit_message_id, texts.HISTORY_HEADER, markup)
    else:
        item = replies.text(chat_id, texts.HISTORY_HEADER, markup)
    app.sender.deliver(key, chat_id, [item])
    return {"status": "shown", "count": len(page.items)}


def _shortened(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word, with "…" when anything was cut."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if text[limit - 1] != " " and " " in head:  # the cut fell inside a word: drop that word
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,.;:") + "…"


def _cached_reading(app, user_id: int, reading_id: int) -> Reading | None:
    """The reading from the ReadingCache if it is there and belongs to ``user_id``."""
    cached = ReadingCache(app.redis).get(reading_id)
    if not cached or cached.get("user_id") != user_id:
        return None
    fields = {name: cached[name] for name in ReadingCache.FIELDS}
    fields["user"] = fields.pop("user_id")
    fields["transaction"] = fields.pop("transaction_id")
    return Reading(**fields, created_at=dt.datetime.fromisoformat(cached["created_at"]))


def _own_reading(app, user: User, reading_id: int) -> Reading | None:
    """The reading if it is ``user``'s (from the cache, else PostgreSQL, then cached)."""
    reading = _cached_reading(app, user.id, reading_id)
    if reading is None:
        reading = history.reading_for_user(user.id, reading_id)
        if reading is not None:
            # cached when opened, not when made: most readings are never opened again,
            # and a cached one is ~5 KB of Redis for the hour
            ReadingCache(app.redis).put(reading)
    return reading


@job_context
def show_card(telegram_id: int, chat_id: int, reading_id: int, number: int, key: str) -> dict:
    """A card of a past reading in full ("More about card N"): free, and only to its owner."""
    app = get_app()
    user = _registered_user(app, telegram_id, chat_id, key)
    if user is None:
        return {"status": "unknown-user"}
    reading = _own_reading(app, user, reading_id)
    the_draw = Draw.from_record(reading.cards) if reading is not None else None
    if the_draw is None or not 1 <= number <= len(the_draw.cards):
        app.sender.deliver(key, chat_id, [replies.text(chat_id, texts.READING_NOT_FOUND)])
        return {"status": "not-found"}
    app.sender.deliver(
        key, chat_id, [replies.text(chat_id, card_page(the_draw, number, current_language()))]
    )
    return {"status": "shown", "reading_id": reading.id, "card": number}


@job_context
def open_reading(telegram_id: int, chat_id: int, reading_id: int, key: str) -> dict:
    """Show a past reading again, picture included; only to its owner."""
    app = get_app()
    user = _registered_user(app, telegram_id, chat_id, key)
    if user is None:
        return {"status": "unknown-user"}
    reading = _own_reading(app, user, reading_id)
    if reading is None:
        app.sender.deliver(key, chat_id, [replies.text(chat_id, texts.READING_NOT_FOUND)])
        return {"status": "not-found"}
    send_reading(reopen(reading), chat_id, bundle_id=key, reopened=True)
    return {"status": "shown", "reading_id": reading.id}
