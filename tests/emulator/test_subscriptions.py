"""Stars subscriptions: invoice links with a period, renewals from the driver,
editUserStarSubscription, lost payment updates, and getStarTransactions paging."""

from __future__ import annotations

import pytest
import requests
from emulator_support import USER
from telebot import types
from telebot.apihelper import ApiTelegramException
from test_payments import answer_checkouts_in_background

PERIOD = 2592000
PRICE = [types.LabeledPrice("Premium", 150)]


def subscription_link(bot, payload="sub:premium:1"):
    return bot.create_invoice_link(
        "Premium", "A month of readings", payload, "", "XTR", PRICE, subscription_period=PERIOD
    )


def payments(api, chat):
    messages = api.chat(chat, include_user=True)["messages"]
    return [m["successful_payment"] for m in messages if m.get("successful_payment")]


def test_a_subscription_is_paid_renewed_cancelled_and_ends(bot, chat, api):
    link = subscription_link(bot)
    first = answer_checkouts_in_background(api, bot, lambda: api.pay(chat, invoice_link=link))
    assert first["status"] == "paid"
    [paid] = payments(api, chat)
    assert paid["is_recurring"] and paid["is_first_recurring"]
    assert paid["subscription_expiration_date"] == first["subscription_expiration_date"]

    renewal = api.renew(chat)  # no pre-checkout query: Telegram renews by itself
    assert renewal["status"] == "paid" and renewal["charge_id"] != first["charge_id"]
    second = payments(api, chat)[-1]
    assert second["is_recurring"] and not second["is_first_recurring"]
    assert second["subscription_expiration_date"] == paid["subscription_expiration_date"] + PERIOD
    assert second["invoice_payload"] == "sub:premium:1"

    assert bot.edit_user_star_subscription(chat, renewal["charge_id"], True) is True
    assert api.subscriptions(chat)[0]["canceled"] is True
    assert bot.edit_user_star_subscription(chat, first["charge_id"], False) is True  # any charge
    assert bot.edit_user_star_subscription(chat, first["charge_id"], True) is True
    assert api.renew(chat)["status"] == "ended"
    assert len(payments(api, chat)) == 2
    with pytest.raises(ApiTelegramException, match="SUBSCRIPTION_EXPIRED"):
        bot.edit_user_star_subscription(chat, first["charge_id"], False)
    with pytest.raises(ApiTelegramException, match="SUBSCRIPTION_NOT_FOUND"):
        bot.edit_user_star_subscription(4242, first["charge_id"], True)


def test_subscription_periods_other_than_30_days_are_refused(bot, chat, api):
    with pytest.raises(ApiTelegramException, match="SUBSCRIPTION_PERIOD_INVALID"):
        bot.create_invoice_link(
            "Premium", "x", "sub:premium:1", "", "XTR", PRICE, subscription_period=3600
        )


def test_a_payment_whose_update_is_lost_is_still_listed(bot, chat, api):
    link = subscription_link(bot)
    paid = answer_checkouts_in_background(
        api, bot, lambda: api.pay(chat, invoice_link=link, deliver=False)
    )
    assert paid["status"] == "paid" and paid["update_id"] is None
    assert not [u for u in api.pending_updates() if "message" in u]
    renewal = api.renew(chat, deliver=False)
    [listed_first, listed_renewal] = bot.get_star_transactions().transactions
    assert (listed_first.id, listed_renewal.id) == (paid["charge_id"], renewal["charge_id"])
    assert listed_renewal.source.subscription_period == PERIOD
    assert listed_renewal.source.invoice_payload == "sub:premium:1"
    assert listed_renewal.source.user.id == chat


def test_star_transactions_page_by_offset_and_limit(bot, chat, api):
    link = subscription_link(bot)
    answer_checkouts_in_background(api, bot, lambda: api.pay(chat, invoice_link=link))
    charges = [api.renew(chat)["charge_id"] for _ in range(4)]
    assert len(bot.get_star_transactions(offset=0, limit=100).transactions) == 5
    page = bot.get_star_transactions(offset=2, limit=2).transactions
    assert [t.id for t in page] == charges[1:3]
    assert bot.get_star_transactions(offset=5, limit=2).transactions == []


def test_driver_routes_over_http(bot, chat, api):
    link = subscription_link(bot)
    answer_checkouts_in_background(api, bot, lambda: api.pay(chat, invoice_link=link))
    base = f"{api.base_url}/_emulator"
    renewed = requests.post(f"{base}/renew", json={"user_id": USER, "deliver": False}).json()
    assert renewed["ok"] and renewed["result"]["status"] == "paid"
    listed = requests.get(f"{base}/subscriptions/{USER}").json()["result"]
    assert len(listed[0]["charges"]) == 2
    api.send(USER, "still here")
    dropped = requests.post(f"{base}/updates/drop", json={}).json()["result"]
    assert dropped and not api.pending_updates()
