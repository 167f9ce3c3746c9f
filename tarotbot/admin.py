"""What operators may do from the chat (``ADMIN_IDS`` only), each action on the record.

Every action is a log line (``tarotbot.admin``: who, what, to whom, never a
message text) and a row in ``admin_actions``; an action that moves credits
also writes a ledger row, in the same transaction, whose ``reason`` names
the admin. Reading figures (:func:`stats`, :func:`user_summary`) writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

import peewee

from tarotbot import ledger
from tarotbot.db import database
from tarotbot.exceptions import UnknownUser
from tarotbot.models import AdminAction, Reading, Transaction, User, utcnow
from tarotbot.packs import PACKS

log = logging.getLogger("tarotbot.admin")

REASON_LIMIT = 200  # characters of a /grant or /revoke reason kept
USER_RE = re.compile(r"^(?:#([0-9]{1,19})|@([A-Za-z0-9_]{3,64})|([0-9]{1,19}))$")


def is_admin(telegram_id: int, admin_ids: frozenset[int]) -> bool:
    return telegram_id in admin_ids


def find_user(who: str) -> User:
    """A user by Telegram id (``123``), user id (``#45``) or username (``@name``)."""
    match = USER_RE.match((who or "").strip())
    if not match:
        raise UnknownUser(f"{who[:40]!r} is not a Telegram id, #user_id or @username")
    user_id, username, telegram_id = match.groups()
    if user_id:
        user = User.get_or_none(User.id == int(user_id))
    elif username:
        user = User.get_or_none(peewee.fn.LOWER(User.username) == username.lower())
    else:
        user = User.get_or_none(User.telegram_id == int(telegram_id))
    if user is None:
        raise UnknownUser(f"no user {who[:40]}")
    return user


def record(
    admin_telegram_id: int,
    action: str,
    user_id: int | None = None,
    transaction_id: int | None = None,
    detail: str | None = None,
) -> AdminAction:
    """One row of the audit trail and its log line."""
    log.info(
        "admin %s: %s user=%s transaction=%s", admin_telegram_id, action, user_id, transaction_id
    )
    return AdminAction.create(
        admin_telegram_id=admin_telegram_id,
        action=action,
        user=user_id,
        transaction=transaction_id,
        detail=detail,
    )


def grant(admin_telegram_id: int, user: User, amount: int, reason: str, key: str):
    """Give ``user`` ``amount`` credits; a bonus row naming the admin. Idempotent by ``key``."""
    reason = reason.strip()[:REASON_LIMIT]
    with database.atomic():
        entry = ledger.grant_bonus(
            user.id, amount, key=key, reason=f"granted by admin {admin_telegram_id}: {reason}"
        )
        if not entry.replayed:
            record(admin_telegram_id, "grant", user.id, entry.transaction_id, reason)
    return entry


def revoke(admin_telegram_id: int, user: User, amount: int, reason: str, key: str):
    """Take ``amount`` credits back (a negative bonus row); InsufficientCredits when short."""
    reason = reason.strip()[:REASON_LIMIT]
    with database.atomic():
        entry = ledger.revoke_bonus(
            user.id, amount, key=key, reason=f"revoked by admin {admin_telegram_id}: {reason}"
        )
        if not entry.replayed:
            record(admin_telegram_id, "revoke", user.id, entry.transaction_id, reason)
    return entry


def purchase_of(charge_id: str) -> Transaction | None:
    """The credited purchase of a Telegram charge id."""
    return (
        Transaction.select()
        .where(
            (Transaction.payment_reference == charge_id)
            & (Transaction.type == "purchase")
            & (Transaction.status.in_(("completed", "refunded")))
        )
        .first()
    )


def stars_of(credits: int) -> int | None:
    """What a purchase of ``credits`` cost in Stars (by the pack that sells that many)."""
    for pack in PACKS:
        if pack.credits == credits:
            return pack.stars
    return None


@dataclass(frozen=True)
class Stats:
    people: int
    inactive: int
    erased: int
    active_today: int
    active_week: int
    daily_subscribers: int
    readings_by_spread: dict[str, int]
    stars_taken: int
    stars_refunded: int


def _active_since(since: dt.datetime) -> int:
    """People who read or paid since ``since`` (readings and ledger rows, nothing written)."""
    readers = Reading.select(Reading.user).where(Reading.created_at >= since)
    payers = Transaction.select(Transaction.user).where(
        (Transaction.created_at >= since) & (Transaction.type != "bonus")
    )
    union = readers | payers
    return User.select().where(User.id.in_(union)).count()


def stats(now: dt.datetime | None = None) -> Stats:
    now = now or utcnow()
    alive = User.erased_at.is_null()
    people = User.select().where(alive).count()
    inactive = User.select().where(alive & (User.is_active == False)).count()  # noqa: E712
    erased = User.select().where(User.erased_at.is_null(False)).count()
    daily = User.select().where(alive & (User.daily_enabled == True)).count()  # noqa: E712
    spreads = {
        row.spread_type: row.n
        for row in Reading.select(Reading.spread_type, peewee.fn.COUNT(Reading.id).alias("n"))
        .group_by(Reading.spread_type)
        .order_by(peewee.fn.COUNT(Reading.id).desc())
    }
    taken = refunded = 0
    for row in Transaction.select(Transaction.amount, Transaction.status).where(
        (Transaction.type == "purchase") & Transaction.status.in_(("completed", "refunded"))
    ):
        stars = stars_of(row.amount) or 0
        taken += stars
        if row.status == "refunded":
            refunded += stars
    return Stats(
        people=people,
        inactive=inactive,
        erased=erased,
        active_today=_active_since(now - dt.timedelta(days=1)),
        active_week=_active_since(now - dt.timedelta(days=7)),
        daily_subscribers=daily,
        readings_by_spread=spreads,
        stars_taken=taken,
        stars_refunded=refunded,
    )


def user_summary(user: User, readings: int = 5, transactions: int = 8):
    """The user with their last readings and transactions, newest first."""
    recent = list(
        Reading.select()
        .where(Reading.user == user.id)
        .order_by(Reading.created_at.desc(), Reading.id.desc())
        .limit(readings)
    )
    moves = list(
        Transaction.select()
        .where(Transaction.user == user.id)
        .order_by(Transaction.id.desc())
        .limit(transactions)
    )
    return recent, moves, ledger.balance(user.id)
