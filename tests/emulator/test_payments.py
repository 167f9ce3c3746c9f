"""Stars payments: invoices, pre-checkout within the deadline, successful_payment, refunds."""

from __future__ import annotations

import threading

import pytest
import requests
import telebot
from emulator_support import TOKEN, USER
from telebot import types
from telebot.apihelper import ApiTelegramException

from botapi_emulator import BotAPIEmulator, DriverError

PRICE = [types.LabeledPrice("10 credits", 50)]


def send_invoice(bot, chat, payload="pack:10", currency="XTR", token="", prices=PRICE):
    return bot.send_invoice(chat, "10 credits", "Ten readings", payload, token, currency, prices)


def api_error(call, *args, **kwargs) -> ApiTelegramException:
    with pytest.raises(ApiTelegramException) as caught:
        call(*args, **kwargs)
    return caught.value


def test_invoice_is_stored_with_its_payload(bot, chat, api):
    sent = send_invoice(bot, chat)
    assert sent.content_type == "invoice"
    assert (sent.invoice.currency, sent.invoice.total_amount) == ("XTR", 50)
    stored = api.messages(chat)[-1]["invoice"]
    assert stored["payload"] == "pack:10" and stored["prices"] == [
        {"label": "10 credits", "amount": 50}
    ]


@pytest.mark.parametrize(
    ("kwargs", "description"),
    [
        ({"currency": "USD"}, "Bad Request: PAYMENT_PROVIDER_INVALID"),
        ({"token": "provider-token"}, "Bad Request: STARS_INVOICE_INVALID"),
        ({"prices": PRICE * 2}, "Bad Request: STARS_INVOICE_INVALID"),
        ({"prices": [types.LabeledPrice("x", 0)]}, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID"),
        ({"currency": "stars"}, "Bad Request: CURRENCY_INVALID"),
        ({"payload": "p" * 129}, "Bad Request: invoice payload must be 1-128 bytes long"),
    ],
)
def test_invalid_stars_invoices(bot, chat, kwargs, description):
    assert api_error(send_invoice, bot, chat, **kwargs).description == description


def test_payment_round_trip_through_handlers(bot, chat, api, polling):
    paid = threading.Event()
    payments: list[types.SuccessfulPayment] = []

    @bot.pre_checkout_query_handler(func=lambda query: True)
    def checkout(query):
        assert query.invoice_payload == "pack:10" and query.total_amount == 50
        bot.answer_pre_checkout_query(query.id, ok=True)

    @bot.message_handler(content_types=["successful_payment"])
    def on_payment(message):
        payments.append(message.successful_payment)
        paid.set()

    invoice = send_invoice(bot, chat)
    polling(bot)
    result = api.pay(chat, invoice.message_id)
    assert result["status"] == "paid"
    assert paid.wait(5)
    payment = payments[0]
    assert payment.telegram_payment_charge_id == result["charge_id"]
    assert (payment.currency, payment.total_amount, payment.invoice_payload) == (
        "XTR",
        50,
        "pack:10",
    )
    assert payment.provider_payment_charge_id == ""
    second = api.pay(chat, invoice.message_id)
    assert second["status"] == "paid" and second["charge_id"] != result["charge_id"]


def test_declined_checkout_sends_no_payment(bot, chat, api, polling):
    @bot.pre_checkout_query_handler(func=lambda query: True)
    def checkout(query):
        bot.answer_pre_checkout_query(query.id, ok=False, error_message="Sold out")

    invoice = send_invoice(bot, chat)
    polling(bot)
    result = api.pay(chat, invoice.message_id)
    assert result["status"] == "declined" and result["error_message"] == "Sold out"
    assert "charge_id" not in result
    assert not any("successful_payment" in m for m in api.chat(chat, include_user=True)["messages"])


def test_unanswered_checkout_times_out_and_a_late_answer_is_refused(api, chat):
    bot = telebot.TeleBot(TOKEN)
    invoice = send_invoice(bot, chat)
    result = api.pay(chat, invoice.message_id, timeout=0.3)
    assert result["status"] == "timeout"
    query = bot.get_updates(long_polling_timeout=1)[-1].pre_checkout_query
    error = api_error(bot.answer_pre_checkout_query, query.id, ok=True)
    assert error.description == (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )
    assert not any("successful_payment" in u.get("message", {}) for u in api.pending_updates())


def test_pre_checkout_deadline_is_telegrams_ten_seconds_by_default():
    assert BotAPIEmulator().settings.pre_checkout_timeout == 10.0


def answer_checkouts_in_background(api, bot, pay):
    """Run ``pay()`` while a plain getUpdates loop answers pre-checkout queries."""
    stop = threading.Event()

    def loop():
        offset = None
        while not stop.is_set():
            for update in bot.get_updates(offset=offset, long_polling_timeout=1):
                offset = update.update_id + 1
                if update.pre_checkout_query:
                    bot.answer_pre_checkout_query(update.pre_checkout_query.id, ok=True)

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    try:
        return pay()
    finally:
        stop.set()
        api.close()
        worker.join(timeout=5)
        api.reopen()


def test_refunds_once_and_transactions(bot, chat, api):
    invoice = send_invoice(bot, chat)
    paid = answer_checkouts_in_background(api, bot, lambda: api.pay(chat, invoice.message_id))
    charge = paid["charge_id"]
    assert bot.refund_star_payment(chat, charge) is True
    error = api_error(bot.refund_star_payment, chat, charge)
    assert error.description == "Bad Request: CHARGE_ALREADY_REFUNDED"
    error = api_error(bot.refund_star_payment, chat, "stxUnknownCharge")
    assert error.description == "Bad Request: CHARGE_NOT_FOUND"
    error = api_error(bot.refund_star_payment, 4242, charge)  # someone else's charge
    assert error.description == "Bad Request: CHARGE_NOT_FOUND"
    transactions = bot.get_star_transactions().transactions
    assert [t.id for t in transactions] == [charge, charge]
    assert transactions[0].source.transaction_type == "invoice_payment"
    assert transactions[0].source.user.id == chat and transactions[0].amount == 50
    assert transactions[1].receiver.user.id == chat
    refunds = [u for u in api.pending_updates() if "refunded_payment" in u.get("message", {})]
    assert refunds[0]["message"]["refunded_payment"]["telegram_payment_charge_id"] == charge


def test_invoice_link_can_be_paid(bot, chat, api):
    link = bot.create_invoice_link("Pack", "Ten readings", "link:10", "", "XTR", PRICE)
    assert link.startswith("https://t.me/$")
    result = answer_checkouts_in_background(api, bot, lambda: api.pay(chat, invoice_link=link))
    assert result["status"] == "paid"
    payment = api.chat(chat, include_user=True)["messages"][-1]["successful_payment"]
    assert payment["invoice_payload"] == "link:10"


def test_paying_something_that_is_not_an_invoice(bot, chat, api):
    text = bot.send_message(chat, "not an invoice")
    with pytest.raises(DriverError, match="is not an invoice"):
        api.pay(chat, text.message_id)
    reply = requests.post(f"{api.base_url}/_emulator/pay", json={"user_id": USER, "message_id": 99})
    assert reply.status_code == 404 and reply.json()["ok"] is False
