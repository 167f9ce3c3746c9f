"""Subscription payments, renewals, expiry, refunds and reconciliation, job by job.

Real PostgreSQL, Redis and the emulator (with the real client); the jobs are
called in this process as a worker would call them.
"""

from __future__ import annotations

import datetime as dt

from botapi_emulator.payments import new_charge_id, record_payment
from botapi_emulator.state import Charge, UserInfo, now
from jobs import credits, maintenance
from jobs import reconcile as reconcile_jobs
from jobs import subscriptions as subscription_jobs
from tarotbot import audit, ledger
from tarotbot.models import StarTransaction, Transaction, User, utcnow
from tarotbot.packs import PACKS, invoice_payload, subscription_payload
from tarotbot.tiers import SUBSCRIPTION_PERIOD, TIERS_BY_NAME

from .conftest import BOT_ID, bot_texts

PREMIUM = TIERS_BY_NAME["premium"]


def pay_subscription(telegram_id: int, charge: str, ends: int, first: bool) -> dict:
    return subscription_jobs.record_subscription_payment(
        telegram_id,
        telegram_id,
        charge,
        subscription_payload(PREMIUM, telegram_id),
        "XTR",
        PREMIUM.stars,
        ends,
        first,
        "ada",
        "Ada",
    )


def user(telegram_id: int) -> User:
    return User.get(User.telegram_id == telegram_id)


def test_subscribe_renew_expire_late_renewal_refund(app, emulator, users):
    users(5401)
    start = now()
    first = pay_subscription(5401, "sub-1", start + SUBSCRIPTION_PERIOD, True)
    again = pay_subscription(5401, "sub-1", start + SUBSCRIPTION_PERIOD, True)  # redelivered
    assert not first["replayed"] and again["replayed"]
    person = user(5401)
    assert person.subscription_tier == "premium" and person.subscription_charge_id == "sub-1"
    assert ledger.balance(person.id) == app.settings.welcome_bonus + PREMIUM.monthly_credits

    second_end = start + 2 * SUBSCRIPTION_PERIOD
    pay_subscription(5401, "sub-2", second_end, False)
    assert user(5401).subscription_expires_at.timestamp() == second_end
    assert ledger.balance(person.id) == 5 + 2 * PREMIUM.monthly_credits

    # the period ends unpaid: the expiry job falls back to basic ...
    User.update(subscription_expires_at=utcnow() - dt.timedelta(minutes=1)).execute()
    assert maintenance.expire_subscriptions() == 1
    assert user(5401).subscription_tier == "basic"
    # ... and a renewal arriving late restores the tier, once
    third_end = now() + SUBSCRIPTION_PERIOD
    late = pay_subscription(5401, "sub-3", third_end, False)
    assert late["restored"] and late["tier"] == "premium"
    assert not pay_subscription(5401, "sub-3", third_end, False)["restored"]
    assert maintenance.expire_subscriptions() == 0
    assert ledger.balance(person.id) == 5 + 3 * PREMIUM.monthly_credits

    # refunding the charge of the current period takes its credits and the tier back, once
    for _ in range(2):
        result = credits.record_refund(5401, 5401, "sub-3", PREMIUM.stars)
        assert result["status"] == "refunded"
    assert user(5401).subscription_tier == "basic"
    assert ledger.balance(person.id) == 5 + 2 * PREMIUM.monthly_credits
    assert Transaction.select().where(Transaction.type == "refund").count() == 1
    told = bot_texts(emulator, 5401)
    assert "Welcome to Premium!" in told[0] and "renewed until" in told[1]
    assert "subscription ended with it" in told[-1]
    # a late copy of the refunded payment gives nothing again
    assert pay_subscription(5401, "sub-3", third_end, False)["status"] == "refunded-before"
    assert user(5401).subscription_tier == "basic"
    assert audit.run_audit().ok


def test_an_older_renewal_does_not_shorten_the_period(app, emulator, users):
    users(5402)
    end = now() + 2 * SUBSCRIPTION_PERIOD
    pay_subscription(5402, "sub-a", end, True)
    pay_subscription(5402, "sub-b", end - SUBSCRIPTION_PERIOD, False)  # arrives out of order
    assert user(5402).subscription_expires_at.timestamp() == end
    assert user(5402).subscription_charge_id == "sub-a"


def test_renewal_change_refused_by_telegram_is_not_recorded(app, emulator, users):
    users(5403)
    pay_subscription(5403, "not-known-to-telegram", now() + SUBSCRIPTION_PERIOD, True)

    result = subscription_jobs.set_renewal(5403, 5403, True, None, "renewal-5403-1")

    assert result == {"status": "refused"}
    assert user(5403).subscription_canceled is False
    assert "did not accept" in bot_texts(emulator, 5403)[-1]


def book(emulator, telegram_id: int, payload: str, amount: int, period=None) -> str:
    """A payment Telegram took whose update never reached the bot."""
    state = emulator.bot_state(BOT_ID)
    with state.lock:
        charge = Charge(
            new_charge_id(),
            UserInfo(telegram_id, first_name="Lost\x00"),
            amount,
            "XTR",
            payload,
            now(),
            subscription_period=period,
        )
        record_payment(state, charge)
    return charge.charge_id


def test_reconciliation_credits_lost_payments_once_and_the_audit_checks_the_list(
    app, emulator, users
):
    users(5404, 5405)
    pack = PACKS[0]
    lost_pack = book(emulator, 5404, invoice_payload(pack, 5404), pack.stars)
    lost_sub = book(emulator, 5405, subscription_payload(PREMIUM, 5405), 150, SUBSCRIPTION_PERIOD)
    credited = book(emulator, 5404, invoice_payload(pack, 5404), pack.stars)
    credits.record_payment(5404, 5404, credited, invoice_payload(pack, 5404), "XTR", pack.stars)

    first = reconcile_jobs.reconcile_star_transactions()
    second = reconcile_jobs.reconcile_star_transactions()

    assert first["recovered"] == 2 and first["read"] == 3 and first["complete"]
    assert second == {**second, "read": 0, "recovered": 0, "offset": 3}
    for charge in (lost_pack, lost_sub, credited):
        rows = Transaction.select().where(Transaction.payment_reference == charge)
        assert rows.count() == 1 and rows[0].status == "completed"
    assert user(5405).first_name == "Lost"  # registered by the recovered payment, name cleaned
    assert user(5405).subscription_tier == "premium"
    assert StarTransaction.select().count() == 3
    assert audit.run_audit().ok

    # a purchase Telegram never listed (forged, or a bug) is reported by the audit
    ledger.credit_purchase(user(5404).id, 10, payment_reference="stxForged", key="charge-x")
    Transaction.update(created_at=utcnow() - dt.timedelta(hours=1)).where(
        Transaction.payment_reference == "stxForged"
    ).execute()
    report = audit.run_audit()
    assert [v.check for v in report.violations] == ["telegram_lists"]
    assert "stxForged" in report.violations[0].expected


def test_reconciliation_applies_a_refund_whose_update_was_lost(app, emulator, users):
    users(5406)
    pack = PACKS[0]
    charge = book(emulator, 5406, invoice_payload(pack, 5406), pack.stars)
    credits.record_payment(5406, 5406, charge, invoice_payload(pack, 5406), "XTR", pack.stars)
    state = emulator.bot_state(BOT_ID)
    state.settings.refund_service_message = False  # the refund's update is lost
    app.sender.bot.refund_star_payment(5406, charge)

    result = reconcile_jobs.reconcile_star_transactions()

    assert result["refunds"] == 1
    assert Transaction.get(Transaction.payment_reference == charge).status == "refunded"
    assert ledger.balance(user(5406).id) == app.settings.welcome_bonus
