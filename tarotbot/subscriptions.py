"""Subscriptions paid in Telegram Stars: apply a payment, cancel or resume, take back a refund.

Telegram sells the tier (an invoice link with a 30-day ``subscription_period``)
and renews it by itself each period, sending a ``successful_payment`` every
time, with the period's end in ``subscription_expiration_date``. Each such
payment is applied exactly once by its charge id (the ledger's key
``charge-<charge id>``): the tier's monthly credits as a purchase, and, in the
same transaction, the tier and its end date from Telegram's date. Applying
a payment again (a redelivered update, reconciliation) changes nothing.

The tier and the end date only move forward: a payment sets them when its
period ends later than the one on record, or the tier on record has ended
(the expiry job got there first: a late renewal restores the tier).
Refunding the charge that pays the current period ends the tier at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tarotbot import ledger, users
from tarotbot.db import database, is_postgres
from tarotbot.exceptions import UnknownUser
from tarotbot.i18n import current_language
from tarotbot.models import Transaction, User, utcnow
from tarotbot.tiers import BASIC, Tier, effective_tier, get_tier


@dataclass(frozen=True)
class AppliedPayment:
    user: User
    tier: Tier
    credits: int
    bonus: int  # welcome credits of a payer registered by this payment
    expires_at: dt.datetime | None  # the tier's end after this payment
    replayed: bool  # the charge had been applied before
    refunded: bool  # the charge was refunded already: nothing given
    restored: bool  # the tier had ended and this payment brought it back


def charge_key(charge_id: str) -> str:
    """The ledger key of a Stars payment (the same for packs and subscriptions)."""
    return f"charge-{charge_id}"


def _locked_user(user_id: int) -> User:
    query = User.select().where(User.id == user_id)
    if is_postgres():
        query = query.for_update()
    return query.get()


def apply_payment(
    telegram_id: int,
    charge_id: str,
    tier: Tier,
    expires_at: dt.datetime,
    first: bool,
    username: str | None = None,
    first_name: str | None = None,
    welcome_bonus: int = 0,
) -> AppliedPayment:
    """Apply one subscription payment, once: credits, tier and end date together.

    A payer who never sent /start is registered first (welcome bonus
    included). ``first`` (Telegram's ``is_first_recurring``) starts a new
    subscription: renewal is on again.
    """
    bonus = 0
    with database.atomic():
        try:
            user = users.by_telegram_id(telegram_id)
        except UnknownUser:
            registration = users.register(
                telegram_id, username, first_name, welcome_bonus, language=current_language()
            )
            user, bonus = registration.user, registration.bonus
        entry = ledger.credit_purchase(
            user.id,
            tier.monthly_credits,
            payment_reference=charge_id,
            key=charge_key(charge_id),
            reason=f"subscription {tier.name}",
        )
        if entry.status == "refunded":  # refunded before this (late) update: give nothing
            return AppliedPayment(user, tier, 0, bonus, None, True, True, False)
        user = _locked_user(user.id)
        now = utcnow()
        current = effective_tier(user.subscription_tier, user.subscription_expires_at, now)
        ends = user.subscription_expires_at
        later = ends is None or expires_at > ends
        restored = False
        if current.name == BASIC or later:
            restored = current.name == BASIC and ends is not None and not first
            values = {
                User.subscription_tier: tier.name,
                User.subscription_expires_at: expires_at,
                User.subscription_charge_id: charge_id,
            }
            if first:
                values[User.subscription_canceled] = False
            User.update(values).where(User.id == user.id).execute()
            user = User.get_by_id(user.id)
    return AppliedPayment(
        user,
        tier,
        entry.amount,
        bonus,
        user.subscription_expires_at,
        entry.replayed,
        False,
        restored and not entry.replayed,
    )


def set_canceled(telegram_id: int, canceled: bool) -> User:
    """Record that renewal is cancelled (or on again); the tier stays until its end."""
    user = users.by_telegram_id(telegram_id)
    User.update(subscription_canceled=canceled).where(User.id == user.id).execute()
    return User.get_by_id(user.id)


def revoke_refunded(charge_id: str) -> User | None:
    """A refunded charge that paid the current period ends the tier now; the user, or None.

    Idempotent: the second time the tier is basic already.
    """
    with database.atomic():
        user = User.get_or_none(User.subscription_charge_id == charge_id)
        if user is None or user.subscription_tier == BASIC:
            return None
        User.update(
            subscription_tier=BASIC, subscription_expires_at=utcnow(), subscription_canceled=True
        ).where((User.id == user.id) & (User.subscription_charge_id == charge_id)).execute()
        return User.get_by_id(user.id)


@dataclass(frozen=True)
class Status:
    """What /subscription shows."""

    tier: Tier
    expires_at: dt.datetime | None
    canceled: bool
    period_credits: int  # credits the payment for the current period added
    balance: int
    charge_id: str | None


def status(user: User) -> Status:
    tier = effective_tier(user.subscription_tier, user.subscription_expires_at)
    period_credits = 0
    if tier.name != BASIC and user.subscription_charge_id:
        row = Transaction.get_or_none(
            (Transaction.idempotency_key == charge_key(user.subscription_charge_id))
            & (Transaction.status == "completed")
        )
        period_credits = row.amount if row is not None else 0
    return Status(
        tier,
        user.subscription_expires_at if tier.name != BASIC else None,
        bool(user.subscription_canceled),
        period_credits,
        ledger.balance(user.id),
        user.subscription_charge_id,
    )


def tier_of(user: User) -> Tier:
    """The tier that applies to ``user`` now."""
    return effective_tier(user.subscription_tier, user.subscription_expires_at)


__all__ = [
    "AppliedPayment",
    "Status",
    "apply_payment",
    "charge_key",
    "get_tier",
    "revoke_refunded",
    "set_canceled",
    "status",
    "tier_of",
]
