"""RQ entry points for accounts and money: registration, payments, preferences."""

from __future__ import annotations

import logging

from jobs import get_app, job_context
from tarotbot import invites, ledger, metrics, subscriptions, tiers, users
from tarotbot.config import seed_secret_bytes
from tarotbot.exceptions import InsufficientCredits, NotRefundable, UnknownTransaction, UnknownUser
from tarotbot.i18n import current_language, speaking
from tarotbot.models import Transaction, User
from tarotbot.packs import InvalidPayload, check_payment
from tarotbot.sessions import SessionCache
from tarotbot.telegram import keyboards, replies, texts
from tarotbot.telegram.sender import DEFAULT_MAX_WAIT

log = logging.getLogger("tarotbot.jobs.credits")


@job_context
def register_user(
    telegram_id: int,
    chat_id: int,
    username: str | None,
    first_name: str | None,
    key: str,
    invite_code: str | None = None,
) -> dict:
    """/start: create the account, grant the welcome bonus once, say hello.

    ``invite_code`` (``/start <code>``): a new account started through an
    invitation rewards both sides once (:mod:`tarotbot.invites`). Someone
    whose earlier data was erased starts afresh without a second welcome bonus.
    """
    app = get_app()
    secret = seed_secret_bytes(app.settings)
    registration = users.register(
        telegram_id,
        username,
        first_name,
        app.settings.welcome_bonus,
        erasure_secret=secret,
        language=current_language(),
    )
    SessionCache(app.redis).store_user(registration.user)
    if not registration.created:
        users.warm_caches(app.redis, telegram_id)
    name = registration.user.first_name or registration.user.username or texts.render(texts.FRIEND)
    reward = None
    if registration.created and not registration.returning and invite_code:
        reward = invites.redeem(
            registration.user,
            invite_code,
            secret,
            app.settings.invite_bonus,
            app.settings.invite_daily_cap,
        )
    if registration.returning:
        balance = ledger.balance(registration.user.id)
        message = texts.render(texts.WELCOME_AFRESH, name=name, balance=balance)
    elif registration.bonus:
        message = texts.render(
            texts.WELCOME, name=name, bonus=registration.bonus, balance=registration.balance
        )
    else:
        message = texts.render(texts.WELCOME_BACK, name=name, balance=registration.balance)
    items = [replies.text(chat_id, message, keyboards.main_menu())]
    if reward is not None:
        items.append(
            replies.text(chat_id, texts.render(texts.INVITE_REWARD_NEW, bonus=reward.bonus))
        )
        note = texts.render(
            texts.INVITE_REWARD_INVITER, bonus=reward.bonus, balance=reward.inviter_balance
        )
        app.sender.deliver(
            f"{key}-inviter",
            reward.inviter_telegram_id,
            [replies.text(reward.inviter_telegram_id, note)],
        )
    app.sender.deliver(key, chat_id, items)
    return {
        "user_id": registration.user.id,
        "bonus": registration.bonus,
        "invited": reward is not None,
    }


@job_context
def record_payment(
    telegram_id: int,
    chat_id: int,
    charge_id: str,
    payload: str,
    currency: str,
    total_amount: int,
    username: str | None = None,
    first_name: str | None = None,
) -> dict:
    """A successful Stars payment: credit the pack exactly once per charge id.

    Someone who pays before ever sending /start (an invoice from /buy, which
    needs no account) is registered here, welcome bonus included, rather than
    have their Stars taken and nothing credited.
    """
    return credit_pack(
        telegram_id, chat_id, charge_id, payload, currency, total_amount, username, first_name
    )


def credit_pack(
    telegram_id: int,
    chat_id: int,
    charge_id: str,
    payload: str,
    currency: str,
    total_amount: int,
    username: str | None = None,
    first_name: str | None = None,
    *,
    notify_wait: float = DEFAULT_MAX_WAIT,
) -> dict:
    """:func:`record_payment`'s work, for callers already inside a job (reconciliation).

    ``notify_wait``: the longest the thank-you waits for its turn in the chat
    before it is handed to the sends queue (0 for a batch of them).
    """
    app = get_app()
    pack = check_payment(
        payload, currency, total_amount, telegram_id
    )  # checked at pre-checkout too
    bonus = 0
    try:
        user = users.by_telegram_id(telegram_id)
    except UnknownUser:
        registration = users.register(
            telegram_id,
            username,
            first_name,
            app.settings.welcome_bonus,
            language=current_language(),
            erasure_secret=seed_secret_bytes(app.settings),
        )
        user, bonus = registration.user, registration.bonus
        SessionCache(app.redis).store_user(user)
        log.info("registered user %s with their first payment", telegram_id)
    entry = ledger.credit_purchase(
        user.id, pack.credits, payment_reference=charge_id, key=f"charge-{charge_id}"
    )
    metrics.count_payment("purchase-replayed" if entry.replayed else "purchase")
    balance = ledger.balance(user.id)
    if bonus:
        message = texts.render(
            texts.PAYMENT_THANKS_NEW, credits=pack.credits, bonus=bonus, balance=balance
        )
    else:
        message = texts.render(texts.PAYMENT_THANKS, credits=pack.credits, balance=balance)
    app.sender.deliver(
        f"paid-{charge_id}",
        chat_id,
        [replies.text(chat_id, message, keyboards.main_menu())],
        max_wait=notify_wait,
    )
    return {"transaction_id": entry.transaction_id, "replayed": entry.replayed}


@job_context
def record_refund(telegram_id: int, chat_id: int, charge_id: str, stars: int) -> dict:
    """Telegram refunded a Stars payment: take back the credits it bought, once.

    Credits already spent cannot be taken back without a negative balance;
    then the balance is left alone and the operator is told (an error log
    line), and the person is told the refund went through. A refunded
    subscription payment that paid the current period also ends the tier.
    """
    return take_back_refund(telegram_id, chat_id, charge_id, stars)


def take_back_refund(
    telegram_id: int,
    chat_id: int,
    charge_id: str,
    stars: int,
    *,
    notify_wait: float = DEFAULT_MAX_WAIT,
) -> dict:
    """:func:`record_refund`'s work, for callers already inside a job (reconciliation)."""
    app = get_app()
    revoked = subscriptions.revoke_refunded(charge_id)
    if revoked is not None:
        SessionCache(app.redis).store_user(revoked)
        log.info("subscription of user %s ended: its payment was refunded", revoked.id)
    purchase_key = f"charge-{charge_id}"
    status = "refunded"
    try:
        entry = ledger.refund(purchase_key, key=f"refund-{charge_id}", reason="Stars refunded")
        metrics.count_payment("refund-replayed" if entry.replayed else "refund")
        message = texts.render(
            texts.REFUND_DONE, stars=stars, credits=-entry.amount, balance=entry.balance_after
        )
    except (UnknownTransaction, NotRefundable) as missing:
        status = "nothing-to-undo"
        log.warning("refund of charge %s: no credited purchase to undo (%s)", charge_id, missing)
        message = texts.render(texts.REFUND_NOTED, stars=stars)
    except InsufficientCredits as short:
        status = "credits-spent"
        log.error(
            "refund of charge %s: its credits were spent (balance %s); left for the operator",
            charge_id,
            short.balance,
        )
        message = texts.render(texts.REFUND_NOTED, stars=stars)
    if status != "refunded":
        metrics.count_payment(f"refund-{status}")  # refund-nothing-to-undo, refund-credits-spent
    if revoked is not None:
        tier = tiers.get_tier(revoked.subscription_charge_id and _refunded_tier(charge_id))
        message += "\n" + texts.render(texts.SUBSCRIPTION_ENDED_BY_REFUND, tier=tier.title)
    app.sender.deliver(
        f"refund-{charge_id}", chat_id, [replies.text(chat_id, message)], max_wait=notify_wait
    )
    return {"status": status, **({"subscription_ended": True} if revoked is not None else {})}


def _refunded_tier(charge_id: str) -> str | None:
    """The tier a refunded subscription payment paid for (from its ledger row's reason)."""
    entry = ledger.find(subscriptions.charge_key(charge_id))
    if entry is None:
        return None
    row = Transaction.get_by_id(entry.transaction_id)
    reason = row.reason or ""
    return reason.removeprefix("subscription ") if reason.startswith("subscription ") else None


def payment_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """A payment that cannot be credited is an operator matter: log it loudly."""
    if exc_type in (InvalidPayload, UnknownUser) or not job.retries_left:
        log.error("payment job %s could not be credited: %s", job.id, exc_type.__name__)


@job_context
def bundle_dropped(chat_id: int, bundle_id: str, unreachable: bool) -> dict:
    """The sender gave up a bundle: refund the reading it carried; note a blocked chat.

    A reading's bundle id is its ledger key, so a reading that could not be
    delivered (the person blocked the bot while it was sent, or Telegram
    failed every attempt) is refunded here, once (the same refund key as
    :func:`jobs.readings.reading_failed`). A 403 or "chat not found" also
    marks the person inactive until they write again. Private chats only:
    the chat id is the person's Telegram id.
    """
    app = get_app()
    refunded = False
    debit = ledger.find(bundle_id) if 0 < len(bundle_id) <= 255 else None
    if debit is not None and debit.type == "reading" and debit.status == "completed":
        owner = User.get_or_none(User.id == debit.user_id)
        if owner is not None and owner.telegram_id == chat_id:
            try:
                entry = ledger.refund(
                    bundle_id, key=f"undelivered-{bundle_id}", reason="reading could not be sent"
                )
                refunded = not entry.replayed
            except NotRefundable:  # refunded meanwhile (the orphan sweep, a failed job)
                pass
            if refunded:
                log.warning("refunded reading %s: its chat could not be reached", bundle_id)
    if unreachable:
        users.set_active(chat_id, False)
        SessionCache(app.redis).mark_inactive(chat_id)
    return {"refunded": refunded, "inactive": unreachable}


@job_context
def mark_active(telegram_id: int) -> dict:
    """A person marked inactive wrote again: they are active."""
    return {"changed": users.set_active(telegram_id, True)}


@job_context
def set_language(telegram_id: int, chat_id: int, language: str, message_id: int, key: str) -> dict:
    """/language: store the choice, refresh the session, and say so in the new language."""
    app = get_app()
    user = users.set_language(telegram_id, language)
    SessionCache(app.redis).store_user(user)
    with speaking(language):
        done = texts.render(texts.LANGUAGE_SAVED)
        items = [
            replies.edit_markup(chat_id, message_id, None),
            replies.text(chat_id, done, keyboards.main_menu()),
        ]
    app.sender.deliver(key, chat_id, items)
    return {"language": language}


@job_context
def set_reversals(telegram_id: int, chat_id: int, enabled: bool, message_id: int, key: str) -> dict:
    """/settings: store the reversal preference and refresh the session."""
    app = get_app()
    user = users.set_reversals(telegram_id, enabled)
    SessionCache(app.redis).store_user(user)
    label = texts.render(texts.ON if enabled else texts.OFF)
    app.sender.deliver(
        key,
        chat_id,
        [
            replies.edit_text(
                chat_id,
                message_id,
                texts.render(texts.SETTINGS, reversals=label),
                keyboards.settings_menu(enabled, user.daily_enabled),
            ),
            replies.text(chat_id, texts.render(texts.SETTINGS_SAVED, reversals=label)),
        ],
    )
    return {"reversals": enabled}
