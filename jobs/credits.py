"""RQ entry points for accounts and money: registration, payments, preferences."""

from __future__ import annotations

import logging

from jobs import get_app, job_context
from tarotbot import invites, ledger, metrics, users
from tarotbot.config import seed_secret_bytes
from tarotbot.exceptions import InsufficientCredits, NotRefundable, UnknownTransaction, UnknownUser
from tarotbot.packs import InvalidPayload, check_payment
from tarotbot.sessions import SessionCache
from tarotbot.telegram import keyboards, replies, texts

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
        telegram_id, username, first_name, app.settings.welcome_bonus, erasure_secret=secret
    )
    SessionCache(app.redis).store_user(registration.user)
    if not registration.created:
        users.warm_caches(app.redis, telegram_id)
    name = first_name or username or "friend"
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
        f"paid-{charge_id}", chat_id, [replies.text(chat_id, message, keyboards.main_menu())]
    )
    return {"transaction_id": entry.transaction_id, "replayed": entry.replayed}


@job_context
def record_refund(telegram_id: int, chat_id: int, charge_id: str, stars: int) -> dict:
    """Telegram refunded a Stars payment: take back the credits it bought, once.

    Credits already spent cannot be taken back without a negative balance;
    then the balance is left alone and the operator is told (an error log
    line), and the person is told the refund went through.
    """
    app = get_app()
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
    app.sender.deliver(f"refund-{charge_id}", chat_id, [replies.text(chat_id, message)])
    return {"status": status}


def payment_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """A payment that cannot be credited is an operator matter: log it loudly."""
    if exc_type in (InvalidPayload, UnknownUser) or not job.retries_left:
        log.error("payment job %s could not be credited: %s", job.id, exc_type.__name__)


@job_context
def set_reversals(telegram_id: int, chat_id: int, enabled: bool, message_id: int, key: str) -> dict:
    """/settings: store the reversal preference and refresh the session."""
    app = get_app()
    user = users.set_reversals(telegram_id, enabled)
    SessionCache(app.redis).store_user(user)
    label = "on" if enabled else "off"
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
