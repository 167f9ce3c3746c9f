"""Money end to end with real processes: subscriptions, reconciliation, refunds, blocked chats.

Bot and workers are ``python -m tarotbot`` processes on this run's
PostgreSQL and Redis; Telegram is the emulator, driven as a user would.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests
from e2e_stack import ROOT, TOKEN, audit, buttons, containing, count_containing

from jobs import maintenance
from tarotbot import ledger
from tarotbot.models import Reading, Transaction, User, utcnow

pytestmark = pytest.mark.slow
ADA = 5_550_101
BO = 5_550_102
CY = 5_550_103


def _start(stack, user_id: int) -> None:
    stack.send(user_id, "/start")
    stack.wait_for(user_id, containing("free credits"))


def _with_button(stack, user_id: int, data: str, after: int = 0) -> dict:
    """Wait for a message (the ``after``-th or later) carrying the button ``data``."""

    def found(messages):
        return any(data in buttons(m) for m in messages[after:])

    messages = stack.wait_for(user_id, found)
    return next(m for m in reversed(messages) if data in buttons(m))


def _subscribe(stack, emulator, user_id: int, tier: str = "premium") -> dict:
    """/subscription, tap the tier, pay the invoice link the bot sends."""
    before = len(stack.messages(user_id))
    stack.send(user_id, "/subscription")
    offers = _with_button(stack, user_id, f"u:{tier}", before)
    stack.tap(user_id, offers["message_id"], f"u:{tier}")
    link_message = stack.wait_for(user_id, lambda ms: _link(ms[before:]) is not None)
    paid = emulator.pay(user_id, invoice_link=_link(link_message[before:]))
    assert paid["status"] == "paid", paid
    return paid


def _link(messages: list[dict]) -> str | None:
    for message in reversed(messages):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if button.get("url", "").startswith("https://t.me/$"):
                    return button["url"]
    return None


def _user(telegram_id: int) -> User:
    return User.get(User.telegram_id == telegram_id)


def _credited_once(charge_id: str) -> bool:
    rows = list(Transaction.select().where(Transaction.payment_reference == charge_id))
    return len(rows) == 1 and rows[0].type == "purchase"


def _manage(stack, user_id: int, action: str, expect: str) -> None:
    before = len(stack.messages(user_id))
    stack.send(user_id, "/subscription")
    menu = _with_button(stack, user_id, f"u:{action}", before)
    stack.tap(user_id, menu["message_id"], f"u:{action}")
    stack.wait_for(user_id, lambda ms: count_containing(ms[before:], expect) >= 1)


def _expire_now(telegram_id: int) -> None:
    """The paid period is over (as if 30 days passed); the expiry job runs."""
    User.update(subscription_expires_at=utcnow()).where(User.telegram_id == telegram_id).execute()
    maintenance.expire_subscriptions()
    assert _user(telegram_id).subscription_tier == "basic"


def test_subscribe_renew_cancel_expire_and_subscribe_again(stack, emulator, app_env):
    _start(stack, ADA)
    first = _subscribe(stack, emulator, ADA)
    stack.wait_for(ADA, containing("Welcome to Premium!"))
    person = _user(ADA)
    assert person.subscription_tier == "premium" and person.subscription_charge_id
    assert int(person.subscription_expires_at.timestamp()) == first["subscription_expiration_date"]
    assert ledger.balance(person.id) == 5 + 30

    # premium prices in the /reading menu (a five-credit spread costs four)
    stack.send(ADA, "/reading")
    menu = stack.wait_for(ADA, containing("Choose a spread"))[-1]
    labels = [b["text"] for row in menu["reply_markup"]["inline_keyboard"] for b in row]
    assert "Celtic Cross · 4🪙" in labels

    renewal = emulator.renew(ADA)
    stack.wait_for(ADA, containing("subscription was renewed until"))
    assert _user(ADA).subscription_charge_id == renewal["charge_id"]

    # the period runs out before Telegram's renewal arrives: the renewal restores the tier
    _expire_now(ADA)
    late = emulator.renew(ADA)
    stack.wait_for(ADA, lambda ms: count_containing(ms, "renewed until") == 2)
    assert _user(ADA).subscription_tier == "premium"
    assert ledger.balance(person.id) == 5 + 3 * 30

    _manage(stack, ADA, "cancel", "will not renew")
    assert emulator.subscriptions(ADA)[0]["canceled"] and _user(ADA).subscription_canceled
    _manage(stack, ADA, "resume", "will renew on")
    assert not emulator.subscriptions(ADA)[0]["canceled"]
    _manage(stack, ADA, "cancel", "will not renew")
    assert _user(ADA).subscription_tier == "premium"  # benefits stay until the period ends

    _expire_now(ADA)
    assert emulator.renew(ADA)["status"] == "ended"  # cancelled: Telegram does not renew

    again = _subscribe(stack, emulator, ADA)
    stack.wait_for(ADA, lambda ms: count_containing(ms, "Welcome to Premium!") == 2)
    person = _user(ADA)
    assert person.subscription_tier == "premium" and not person.subscription_canceled
    for charge in (first, renewal, late, again):
        assert _credited_once(charge["charge_id"])
    assert ledger.balance(person.id) == 5 + 4 * 30
    result = audit(app_env)
    assert result.returncode == 0, result.stdout + result.stderr


def _reconcile(env: dict) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tarotbot", "reconcile"],
        env={**env, "TELEGRAM_BOT_TOKEN": TOKEN},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_payments_lost_on_the_way_are_credited_once_by_reconciliation(stack, emulator, app_env):
    _start(stack, BO)
    # a pack payment whose successful_payment update never arrives
    stack.send(BO, "/buy")
    packs = _with_button(stack, BO, "b:small")
    stack.tap(BO, packs["message_id"], "b:small")
    invoice = stack.wait_for(BO, lambda ms: any(m.get("invoice") for m in ms))[-1]
    dropped = emulator.pay(BO, invoice["message_id"], deliver=False)
    assert dropped["status"] == "paid" and dropped["update_id"] is None
    # a subscription renewed while the bot is down for longer than Telegram keeps updates
    subscribed = _subscribe(stack, emulator, BO)
    stack.wait_for(BO, containing("Welcome to Premium!"))
    stack.kill(stack.bot)
    while_down = emulator.renew(BO)
    assert emulator.drop_updates()  # 24 hours later Telegram forgets the update
    stack.start_bot()
    person = _user(BO)
    assert (
        not Transaction.select()
        .where(Transaction.payment_reference.in_([dropped["charge_id"], while_down["charge_id"]]))
        .exists()
    )

    env = {**app_env, "TELEGRAM_API_URL": emulator.base_url}
    assert "2 payment(s) recovered" in _reconcile(env)
    assert "0 payment(s) recovered" in _reconcile(env)  # nothing twice
    for charge in (dropped, subscribed, while_down):
        assert _credited_once(charge["charge_id"])
    assert ledger.balance(person.id) == 5 + 10 + 2 * 30
    assert _user(BO).subscription_charge_id == while_down["charge_id"]
    stack.wait_for(BO, lambda ms: count_containing(ms, "credits were added") >= 1)
    result = audit(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ledger consistent" in result.stdout


def test_subscription_refund_and_a_reading_to_a_blocked_chat(stack, emulator, app_env):
    _start(stack, CY)
    stack.send(CY, "/paysupport")
    stack.send(CY, "/terms")
    stack.wait_for(CY, containing("Help with a payment"))
    stack.wait_for(CY, containing("Terms, in plain words"))
    stack.send(CY, "/buy")
    packs = _with_button(stack, CY, "x:buy")
    stack.tap(CY, packs["message_id"], "x:buy")
    stack.wait_for(CY, containing("nothing bought"))
    paid = _subscribe(stack, emulator, CY)
    stack.wait_for(CY, containing("Welcome to Premium!"))
    person = _user(CY)
    refund = requests.post(
        f"{emulator.base_url}/bot{TOKEN}/refundStarPayment",
        json={"user_id": CY, "telegram_payment_charge_id": paid["charge_id"]},
        timeout=10,
    )
    assert refund.json()["ok"]
    stack.wait_for(CY, containing("subscription ended with it"))
    assert _user(CY).subscription_tier == "basic"
    assert ledger.balance(person.id) == 5
    assert Transaction.select().where(Transaction.type == "refund").count() == 1

    # the person blocks the bot while their reading is being sent: refunded, inactive
    stack.send(CY, "/reading")
    menu = _with_button(stack, CY, "s:three")
    emulator.inject_fault("sendPhoto", 403, "Forbidden: bot was blocked by the user")
    stack.tap(CY, menu["message_id"], "s:three")
    stack.wait_for(CY, containing("Type your question"))
    stack.tap(CY, menu["message_id"], "q:three")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _user(CY).is_active:
        time.sleep(0.1)
    assert not _user(CY).is_active
    assert Reading.select().count() == 1
    assert ledger.balance(person.id) == 5  # charged 2, refunded 2
    assert Transaction.select().where(Transaction.type == "refund").count() == 2
    # writing again makes them active again
    stack.send(CY, "/balance")
    stack.wait_for(CY, containing("You hold 5 credits"))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not _user(CY).is_active:
        time.sleep(0.1)
    assert _user(CY).is_active
    result = audit(app_env)
    assert result.returncode == 0, result.stdout + result.stderr
