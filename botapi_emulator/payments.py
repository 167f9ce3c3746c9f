"""Payments in Telegram Stars: invoices, pre-checkout answers, refunds, transactions.

The user's side (paying an invoice) is in ``driver.py``; this module holds the
bot's methods and the records they share with it. Stars invoices follow the
Bot API rules: currency ``XTR``, an empty ``provider_token``, exactly one price,
no tips. Other currencies are accepted with a provider token, for completeness.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from botapi_emulator.errors import QUERY_TOO_OLD, bad_request
from botapi_emulator.methods import parse_reply_markup
from botapi_emulator.params import Params, missing
from botapi_emulator.registry import api_method
from botapi_emulator.state import (
    NANOSTARS_PER_STAR,
    BotState,
    Charge,
    Subscription,
    now,
    star_amount,
)

STARS = "XTR"
MAX_STARS = 10_000  # Telegram's cap on one Stars invoice at the time of writing
SUBSCRIPTION_PERIOD = 30 * 24 * 3600  # the only period Telegram accepts (seconds)
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def _text_param(p: Params, name: str, low: int, high: int, unit: str = "characters") -> str:
    value = p.string(name)
    if value is None:
        raise missing(name)
    size = len(value.encode("utf-8")) if unit == "bytes" else len(value)
    if not low <= size <= high:
        raise bad_request(f"invoice {name} must be {low}-{high} {unit} long")
    return value


def _prices(p: Params) -> list[dict[str, Any]]:
    prices = p.decoded_json("prices", error="can't parse prices JSON object")
    if prices is None:
        raise missing("prices")
    if not isinstance(prices, list) or not prices:
        raise bad_request("prices must be non-empty")
    for price in prices:
        valid = isinstance(price, dict) and isinstance(price.get("label"), str)
        if not valid or not isinstance(price.get("amount"), int):
            raise bad_request("can't parse LabeledPrice JSON object")
    return [{"label": price["label"], "amount": price["amount"]} for price in prices]


def _check_currency(p: Params, currency: str, prices: list[dict[str, Any]]) -> None:
    if not CURRENCY_RE.match(currency):
        raise bad_request("CURRENCY_INVALID")
    provider_token = p.string("provider_token", "") or ""
    total = sum(price["amount"] for price in prices)
    if currency == STARS:
        tips = p.present("max_tip_amount") or p.present("suggested_tip_amounts")
        if provider_token or len(prices) != 1 or tips:
            raise bad_request("STARS_INVOICE_INVALID")
        if not 1 <= total <= MAX_STARS:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    else:
        if not provider_token:
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if total <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")


def invoice_from(p: Params) -> dict[str, Any]:
    """Validate an invoice's parameters; the stored record keeps payload and prices."""
    title = _text_param(p, "title", 1, 32)
    description = _text_param(p, "description", 1, 255)
    payload = _text_param(p, "payload", 1, 128, unit="bytes")
    currency = p.string("currency")
    if currency is None:
        raise missing("currency")
    prices = _prices(p)
    _check_currency(p, currency, prices)
    invoice = {
        "title": title,
        "description": description,
        "start_parameter": p.string("start_parameter", "") or "",
        "currency": currency,
        "total_amount": sum(price["amount"] for price in prices),
        "payload": payload,
        "prices": prices,
    }
    period = p.integer("subscription_period")
    if period is not None:
        if period != SUBSCRIPTION_PERIOD or currency != STARS:
            raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
        invoice["subscription_period"] = period
    return invoice


def _default_pay_button(invoice: dict[str, Any]) -> dict[str, Any]:
    """The keyboard Telegram shows when the bot sends none: one Pay button."""
    label = f"Pay \N{WHITE MEDIUM STAR} {invoice['total_amount']}"
    if invoice["currency"] != STARS:
        label = f"Pay {invoice['total_amount']} {invoice['currency']}"
    return {"inline_keyboard": [[{"text": label, "pay": True}]]}


@api_method("sendInvoice", counted=True, paid_broadcast=True)
def send_invoice(bot: BotState, p: Params) -> dict[str, Any]:
    with bot.lock:
        chat = bot.chat_for(p.raw("chat_id"), sending=True)
        invoice = invoice_from(p)
        if "subscription_period" in invoice:
            raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
        markup = parse_reply_markup(p) or _default_pay_button(invoice)
        message = bot.add_message(
            chat, outgoing=True, method="sendInvoice", invoice=invoice, reply_markup=markup
        )
        return message.to_api()


@api_method("createInvoiceLink")
def create_invoice_link(bot: BotState, p: Params) -> str:
    invoice = invoice_from(p)
    slug = secrets.token_urlsafe(12)
    with bot.lock:
        bot.invoice_links[slug] = invoice
    return f"https://t.me/${slug}"


@api_method("answerPreCheckoutQuery")
def answer_pre_checkout_query(bot: BotState, p: Params) -> bool:
    """Accepted once and only before Telegram's 10-second deadline."""
    query_id = p.string("pre_checkout_query_id") or ""
    if not p.present("ok"):
        raise missing("ok")
    ok = p.flag("ok")
    with bot.lock:
        checkout = bot.checkouts.get(query_id)
        if checkout is None or checkout.answered or time.monotonic() > checkout.deadline:
            raise bad_request(QUERY_TOO_OLD)
        checkout.answered = True
        checkout.ok = ok
        checkout.error_message = p.string("error_message")
        bot.changed.notify_all()
    return True


@api_method("refundStarPayment")
def refund_star_payment(bot: BotState, p: Params) -> bool:
    """Refund a charge once; unknown charges and second refunds get Telegram's codes."""
    user_id = p.integer("user_id", required=True)
    charge_id = p.string("telegram_payment_charge_id", required=True) or ""
    with bot.lock:
        charge = bot.charges.get(charge_id)
        if charge is None or charge.user.id != user_id:
            raise bad_request("CHARGE_NOT_FOUND")
        if charge.refunded:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        charge.refunded = True
        if charge.currency == STARS:
            bot.star_nanos -= charge.amount * NANOSTARS_PER_STAR
        bot.transactions.append(_transaction(charge, "receiver"))
        if bot.settings.refund_service_message:
            _refund_message(bot, charge)
        bot.changed.notify_all()
    return True


def _refund_message(bot: BotState, charge: Charge) -> None:
    """The ``refunded_payment`` service message Telegram posts in the user's chat."""
    chat = bot.ensure_chat(charge.user)
    refund = {
        "currency": charge.currency,
        "total_amount": charge.amount,
        "invoice_payload": charge.payload,
        "telegram_payment_charge_id": charge.charge_id,
    }
    message = bot.add_message(
        chat, outgoing=False, method="refund", content={"refunded_payment": refund}
    )
    bot.push_update("message", message.to_api())


def _transaction(charge: Charge, side: str) -> dict[str, Any]:
    """A StarTransaction: payments have a ``source``, refunds a ``receiver``.

    A subscription payment's partner carries ``subscription_period``.
    """
    partner: dict[str, Any] = {
        "type": "user",
        "transaction_type": "invoice_payment",
        "user": charge.user.to_api(),
        "invoice_payload": charge.payload,
    }
    if charge.subscription_period:
        partner["subscription_period"] = charge.subscription_period
    date = charge.date if side == "source" else now()
    return {"id": charge.charge_id, "amount": charge.amount, "date": date, side: partner}


def record_payment(bot: BotState, charge: Charge) -> None:
    """Book a successful payment (caller holds the bot's lock); Stars go to the balance."""
    bot.charges[charge.charge_id] = charge
    if charge.currency == STARS:
        bot.star_nanos += charge.amount * NANOSTARS_PER_STAR
    bot.transactions.append(_transaction(charge, "source"))


def subscription_of(bot: BotState, user_id: int, charge_id: str) -> Subscription | None:
    """The subscription of ``user_id`` that ``charge_id`` paid for (any of its payments)."""
    for subscription in bot.subscriptions:
        if subscription.user.id == user_id and charge_id in subscription.charges:
            return subscription
    return None


@api_method("editUserStarSubscription")
def edit_user_star_subscription(bot: BotState, p: Params) -> bool:
    """Cancel (``is_canceled``) or re-enable the renewal of a user's subscription.

    The subscription is named by a charge id of its payments; one the user
    does not have is ``SUBSCRIPTION_NOT_FOUND`` (wording chosen here), and
    re-enabling one whose period has ended ``SUBSCRIPTION_EXPIRED``.
    """
    user_id = p.integer("user_id", required=True)
    charge_id = p.string("telegram_payment_charge_id", required=True) or ""
    if not p.present("is_canceled"):
        raise missing("is_canceled")
    canceled = p.flag("is_canceled")
    with bot.lock:
        subscription = subscription_of(bot, user_id, charge_id)
        if subscription is None:
            raise bad_request("SUBSCRIPTION_NOT_FOUND")
        if subscription.ended and not canceled:
            raise bad_request("SUBSCRIPTION_EXPIRED")
        subscription.canceled = canceled
        bot.changed.notify_all()
    return True


@api_method("getStarTransactions")
def get_star_transactions(bot: BotState, p: Params) -> dict[str, Any]:
    """Transactions in chronological order, ``offset`` skipped, at most ``limit``."""
    offset = max(0, p.integer("offset", 0) or 0)
    limit = min(100, max(1, p.integer("limit", 100) or 100))
    with bot.lock:
        return {"transactions": bot.transactions[offset : offset + limit]}


@api_method("getMyStarBalance")
def get_my_star_balance(bot: BotState, p: Params) -> dict[str, Any]:
    """The bot's Stars as a StarAmount: the starting balance (``star_balance``), plus
    Stars payments, less refunds and paid broadcasts (0.1 Star each)."""
    with bot.lock:
        return star_amount(bot.star_nanos)


def new_charge_id() -> str:
    """A fresh telegram_payment_charge_id, shaped like Telegram's Stars charge ids."""
    return "stxEMU" + secrets.token_urlsafe(24)
