"""RQ entry points for subscriptions: a payment (first or renewal), cancel and resume renewal."""

from __future__ import annotations

import datetime as dt
import logging

from telebot.apihelper import ApiTelegramException

from jobs import get_app, job_context
from tarotbot import metrics, subscriptions, users
from tarotbot.models import utcnow
from tarotbot.packs import check_subscription
from tarotbot.redaction import redact
from tarotbot.sessions import SessionCache
from tarotbot.telegram import keyboards, replies, texts
from tarotbot.telegram.sender import DEFAULT_MAX_WAIT
from tarotbot.tiers import SUBSCRIPTION_PERIOD

log = logging.getLogger("tarotbot.jobs.subscriptions")


@job_context
def record_subscription_payment(
    telegram_id: int,
    chat_id: int,
    charge_id: str,
    payload: str,
    currency: str,
    total_amount: int,
    expires_unix: int | None,
    first: bool,
    username: str | None = None,
    first_name: str | None = None,
) -> dict:
    """A subscription payment (the first or a renewal): apply it exactly once by charge id."""
    return credit_subscription(
        telegram_id,
        chat_id,
        charge_id,
        payload,
        currency,
        total_amount,
        expires_unix,
        first,
        username,
        first_name,
    )


def credit_subscription(
    telegram_id: int,
    chat_id: int,
    charge_id: str,
    payload: str,
    currency: str,
    total_amount: int,
    expires_unix: int | None,
    first: bool,
    username: str | None = None,
    first_name: str | None = None,
    *,
    notify_wait: float = DEFAULT_MAX_WAIT,
) -> dict:
    """:func:`record_subscription_payment`'s work, for callers already inside a job.

    The period's end is Telegram's ``subscription_expiration_date``; without
    one (never seen from Telegram) 30 days from now.
    """
    app = get_app()
    tier = check_subscription(payload, currency, total_amount, telegram_id, renewal=not first)
    if expires_unix:
        expires_at = dt.datetime.fromtimestamp(int(expires_unix), dt.UTC)
    else:
        expires_at = utcnow() + dt.timedelta(seconds=SUBSCRIPTION_PERIOD)
    applied = subscriptions.apply_payment(
        telegram_id,
        charge_id,
        tier,
        expires_at,
        first,
        username,
        first_name,
        app.settings.welcome_bonus,
    )
    SessionCache(app.redis).store_user(applied.user)
    if applied.refunded:
        metrics.count_payment("subscription-refunded-before")
        log.warning("subscription charge %s arrived after its refund; nothing given", charge_id)
        return {"status": "refunded-before", "replayed": True}
    metrics.count_payment("subscription-replayed" if applied.replayed else "subscription")
    status = subscriptions.status(applied.user)
    template = texts.SUBSCRIBED if first else texts.SUBSCRIPTION_RENEWED
    message = texts.render(
        template,
        tier=texts.tier_title(tier),
        credits=applied.credits,
        until=_day(applied.expires_at),
        balance=status.balance,
    )
    if applied.bonus:
        message += "\n" + texts.render(texts.SUBSCRIBED_BONUS, bonus=applied.bonus)
    app.sender.deliver(
        f"paid-{charge_id}",
        chat_id,
        [replies.text(chat_id, message, keyboards.main_menu())],
        max_wait=notify_wait,
    )
    return {
        "status": "applied",
        "replayed": applied.replayed,
        "restored": applied.restored,
        "tier": applied.user.subscription_tier,
    }


def _day(when: dt.datetime | None) -> str:
    return texts.day(when.astimezone(dt.UTC)) if when else "-"


@job_context
def set_renewal(
    telegram_id: int, chat_id: int, cancel: bool, message_id: int | None, key: str
) -> dict:
    """/subscription's Cancel renewal / Renew again: editUserStarSubscription, then our record.

    Telegram is asked first: only what it accepted is recorded. The tier
    and its benefits stay until the paid period ends either way.
    """
    app = get_app()
    user = users.by_telegram_id(telegram_id)
    status = subscriptions.status(user)
    if status.tier.name == "basic" or not status.charge_id:
        app.sender.deliver(key, chat_id, [replies.text(chat_id, texts.NO_SUBSCRIPTION)])
        return {"status": "no-subscription"}
    try:
        app.sender.bot.edit_user_star_subscription(telegram_id, status.charge_id, cancel)
    except ApiTelegramException as exc:
        log.warning(
            "editUserStarSubscription for user %s refused: %s %s",
            user.id,
            exc.error_code,
            redact(exc.description),
        )
        if exc.error_code >= 500 or exc.error_code == 429:
            raise  # transient: RQ retries the job
        app.sender.deliver(key, chat_id, [replies.text(chat_id, texts.RENEWAL_NOT_CHANGED)])
        return {"status": "refused"}
    user = subscriptions.set_canceled(telegram_id, cancel)
    SessionCache(app.redis).store_user(user)
    template = texts.RENEWAL_CANCELED if cancel else texts.RENEWAL_RESUMED
    message = texts.render(
        template, tier=texts.tier_title(status.tier), until=_day(status.expires_at)
    )
    items = [replies.text(chat_id, message, keyboards.main_menu())]
    if message_id:
        items.insert(0, replies.edit_markup(chat_id, message_id, None))
    app.sender.deliver(key, chat_id, items)
    return {"status": "canceled" if cancel else "resumed"}
