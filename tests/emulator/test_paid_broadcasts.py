"""Chat actions on the message clock, and paid broadcasts (allow_paid_broadcast) with the Stars they cost.

Through the real pyTelegramBotAPI client, which takes ``allow_paid_broadcast``
on every send method the emulator has.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
from emulator_support import TOKEN, png_file
from telebot import types
from telebot.apihelper import ApiTelegramException

from botapi_emulator import BotAPIEmulator, DriverError

NOT_ENOUGH = "Bad Request: not enough Stars to pay for the broadcast"


def stars_invoice(bot, chat, **options):
    return bot.send_invoice(
        chat,
        title="Reading",
        description="One reading",
        invoice_payload="p1",
        provider_token=None,
        currency="XTR",
        prices=[types.LabeledPrice("Reading", 5)],
        **options,
    )


def balance(bot) -> tuple[int, int | None]:
    amount = bot.get_my_star_balance()
    return amount.amount, amount.nanostar_amount


# -- chat actions --------------------------------------------------------------------------


def test_chat_actions_carry_the_message_clock(bot, chat, api):
    before = time.monotonic()
    bot.send_chat_action(chat, "typing")
    sent = bot.send_message(chat, "The Star")
    bot.send_chat_action(chat, "upload_photo")
    after = time.monotonic()
    actions = api.actions(chat)
    assert [a["action"] for a in actions] == ["typing", "upload_photo"]
    stored = api.bot_state(TOKEN).chats[chat].messages[sent.message_id].stored_at
    assert before <= actions[0]["stored_at"] <= stored <= actions[1]["stored_at"] <= after
    assert abs(actions[0]["date"] - time.time()) < 5  # wall clock, as before
    assert api.chat(chat)["actions"] == actions
    actions[0]["action"] = "changed"  # a copy: the emulator's record stays
    assert api.actions(chat)[0]["action"] == "typing"
    assert api.actions(999_999) == []


def test_chat_actions_over_the_driver_route(bot, chat, api):
    bot.send_chat_action(chat, "typing")
    reply = requests.get(f"{api.base_url}/_emulator/actions/{chat}").json()
    assert [a["action"] for a in reply["result"]] == ["typing"]
    assert reply["result"][0]["stored_at"] == api.actions(chat)[0]["stored_at"]


# -- the balance -----------------------------------------------------------------------------


def test_star_balance_is_seeded_set_and_read_exactly(api, bot, chat):
    assert balance(bot) == (0, None)
    assert api.set_star_balance("12.3") == {"amount": 12, "nanostar_amount": 300_000_000}
    assert balance(bot) == (12, 300_000_000)
    assert api.set_star_balance(0.1) == {"amount": 0, "nanostar_amount": 100_000_000}
    assert api.star_balance() == {"amount": 0, "nanostar_amount": 100_000_000}
    with pytest.raises(DriverError):
        api.set_star_balance("0.0000000001")  # finer than a nanostar
    with BotAPIEmulator(default_bot=TOKEN, star_balance=2) as seeded:
        assert seeded.star_balance(bot=TOKEN) == {"amount": 2}
        seeded.set_star_balance(5)
        seeded.reset()
        assert seeded.star_balance(bot=TOKEN) == {"amount": 2}  # reset: back to the seed
    with pytest.raises(ValueError):
        BotAPIEmulator(star_balance="lots")


def test_star_balance_over_the_driver_route(api):
    url = f"{api.base_url}/_emulator/stars"
    set_reply = requests.post(url, json={"stars": "1.5", "bot_id": 123456}).json()
    assert set_reply == {"ok": True, "result": {"amount": 1, "nanostar_amount": 500_000_000}}
    assert requests.get(url, params={"bot_id": 123456}).json()["result"]["amount"] == 1
    missing = requests.post(url, json={"bot_id": 123456})
    assert missing.status_code == 400


def test_payments_and_refunds_move_the_balance(api, bot, chat):
    api.set_star_balance("0.5")
    invoice = stars_invoice(bot, chat)

    def answer():
        updates = bot.get_updates(offset=-1, long_polling_timeout=1)
        bot.answer_pre_checkout_query(updates[-1].pre_checkout_query.id, ok=True)

    thread = threading.Thread(target=answer)
    thread.start()
    paid = api.pay(chat, invoice.message_id)
    thread.join()
    assert paid["status"] == "paid"
    assert balance(bot) == (5, 500_000_000)
    bot.refund_star_payment(chat, paid["charge_id"])
    assert balance(bot) == (0, 500_000_000)


# -- paid broadcasts ---------------------------------------------------------------------


def test_every_send_method_takes_the_flag_and_costs_a_tenth_of_a_star(api, bot, chat):
    api.set_star_balance(1)
    bot.send_message(chat, "paid", allow_paid_broadcast=True)
    bot.send_photo(chat, png_file(), caption="paid photo", allow_paid_broadcast=True)
    bot.send_document(chat, png_file(name="card.png"), allow_paid_broadcast=True)
    stars_invoice(bot, chat, allow_paid_broadcast=True)
    bot.send_message(chat, "free")
    bot.send_message(chat, "not paid either", allow_paid_broadcast=False)
    assert balance(bot) == (0, 600_000_000)
    stats = api.get_stats()
    assert stats["paid_broadcasts"] == 4
    assert stats["paid_broadcast_stars"] == 0.4
    assert stats["paid_broadcast_nanostars"] == 400_000_000
    marked = [m.get("paid_broadcast", False) for m in api.messages(chat)]
    assert marked == [True, True, True, True, False, False]
    api.reset_stats()
    assert (api.get_stats()["paid_broadcasts"], api.get_stats()["paid_broadcast_stars"]) == (0, 0)


def test_the_flag_arrives_in_every_request_shape(api, chat):
    api.set_star_balance(1)
    url = f"{api.base_url}/bot{TOKEN}/sendMessage"
    requests.get(url, params={"chat_id": chat, "text": "q", "allow_paid_broadcast": "true"})
    requests.post(url, json={"chat_id": chat, "text": "j", "allow_paid_broadcast": True})
    requests.post(url, data={"chat_id": chat, "text": "f", "allow_paid_broadcast": "1"})
    requests.post(url, json={"chat_id": chat, "text": "n", "allow_paid_broadcast": False})
    assert api.get_stats()["paid_broadcasts"] == 3
    assert api.star_balance() == {"amount": 0, "nanostar_amount": 700_000_000}


def test_without_stars_a_paid_broadcast_is_refused_and_nothing_is_sent(api, bot, chat):
    api.set_star_balance("0.15")
    bot.send_message(chat, "the last paid one", allow_paid_broadcast=True)
    with pytest.raises(ApiTelegramException) as caught:
        bot.send_message(chat, "one too many", allow_paid_broadcast=True)
    assert (caught.value.error_code, caught.value.description) == (400, NOT_ENOUGH)
    assert [m["text"] for m in api.messages(chat)] == ["the last paid one"]
    assert api.star_balance() == {"amount": 0, "nanostar_amount": 50_000_000}
    stats = api.get_stats()
    assert stats["paid_broadcasts"] == 1
    assert stats["errors"]["sendMessage"] == {"400": 1}
    bot.send_message(chat, "unpaid goes through")  # the sender's fallback
    assert api.messages(chat)[-1]["text"] == "unpaid goes through"


def test_a_failed_send_gives_the_fee_back(api, bot, chat):
    api.set_star_balance(1)
    with pytest.raises(ApiTelegramException):
        bot.send_message(424242, "nobody there", allow_paid_broadcast=True)  # chat not found
    api.block(chat)
    with pytest.raises(ApiTelegramException):
        bot.send_message(chat, "blocked", allow_paid_broadcast=True)
    api.inject_fault("sendMessage", 500)
    with pytest.raises(ApiTelegramException):
        bot.send_message(chat, "fault", allow_paid_broadcast=True)
    assert api.star_balance() == {"amount": 1}
    assert api.get_stats()["paid_broadcasts"] == 0


def test_paid_broadcasts_are_charged_with_limits_off_too(api, bot, chat):
    api.set_star_balance(1)
    assert api.get_stats()["limits"]["enforce"] is False
    for _ in range(3):
        bot.send_message(chat, "paid", allow_paid_broadcast=True)
    assert api.star_balance() == {"amount": 0, "nanostar_amount": 700_000_000}


def test_paid_broadcasts_skip_the_overall_limit_but_not_the_chats(api, bot):
    users = list(range(2001, 2011))
    for user in users:
        api.send(user, "hi")
    api.set_star_balance(10)
    api.set_limits(enforce=True, global_rate=1, global_burst=2, per_chat_rate=1, per_chat_burst=1)
    bot.send_message(users[0], "free 1")
    bot.send_message(users[1], "free 2")
    with pytest.raises(ApiTelegramException) as caught:
        bot.send_message(users[2], "free 3")
    assert caught.value.error_code == 429  # the overall bucket is empty
    for user in users[2:]:  # paid: past the overall limit
        bot.send_message(user, "paid", allow_paid_broadcast=True)
    with pytest.raises(ApiTelegramException) as caught:
        bot.send_message(users[3], "again", allow_paid_broadcast=True)
    assert caught.value.error_code == 429  # that chat's own limit still holds
    stats = api.get_stats()
    assert stats["paid_broadcasts"] == 8
    assert api.star_balance() == {
        "amount": 9,
        "nanostar_amount": 200_000_000,
    }  # the 429 cost nothing


def test_paid_broadcasts_have_their_own_rate(api, bot):
    users = list(range(3001, 3006))
    for user in users:
        api.send(user, "hi")
    api.set_star_balance(10)
    limits = api.set_limits(enforce=True, paid_rate=2, paid_burst=3)
    assert (limits["paid_rate"], limits["paid_burst"]) == (2, 3)
    for user in users[:3]:
        bot.send_message(user, "paid", allow_paid_broadcast=True)
    with pytest.raises(ApiTelegramException) as caught:
        bot.send_message(users[3], "paid", allow_paid_broadcast=True)
    assert caught.value.error_code == 429
    assert caught.value.result_json["parameters"]["retry_after"] == 1
    bot.send_message(users[4], "free")  # the overall bucket was not touched
    assert api.get_stats()["paid_broadcasts"] == 3


def test_edits_ignore_the_flag(api, bot, chat):
    api.set_star_balance(1)
    sent = bot.send_message(chat, "before")
    url = f"{api.base_url}/bot{TOKEN}/editMessageText"
    edit = {"chat_id": chat, "message_id": sent.message_id, "text": "after"}
    reply = requests.post(url, json={**edit, "allow_paid_broadcast": True})
    assert reply.json()["ok"]
    assert api.star_balance() == {"amount": 1}
