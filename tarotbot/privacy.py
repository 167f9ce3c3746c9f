"""A person's own data: everything we keep about them (/export), and erasing it (/delete).

Erasure keeps the books true: the ``users`` row and its ledger rows stay, so
every balance still equals the sum of its transactions and ``audit`` stays
clean, but the row no longer names anyone (``telegram_id`` becomes ``-id``,
names and settings are cleared) and readings, questions and daily cards are
deleted. A keyed digest of the Telegram id (:func:`users.erased_digest`) is
kept so that someone who starts again is not given the welcome bonus twice.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import redis

from tarotbot import ledger
from tarotbot.cache import ReadingCache
from tarotbot.db import database, is_postgres
from tarotbot.models import (
    DailyCard,
    ErasedAccount,
    InviteReward,
    Reading,
    Transaction,
    User,
    utcnow,
)
from tarotbot.sessions import SessionCache
from tarotbot.users import erased_digest

EXPORT_FORMAT = "tarotbot-export-v1"


def _when(value: dt.datetime | dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def export_user(user: User) -> dict[str, Any]:
    """Everything stored about ``user``, as JSON-ready data (no other person's data)."""
    transactions = [
        {
            "id": t.id,
            "type": t.type,
            "amount": t.amount,
            "credits_before": t.credits_before,
            "credits_after": t.credits_after,
            "status": t.status,
            "payment_reference": t.payment_reference,
            "reason": t.reason,
            "created_at": _when(t.created_at),
            "completed_at": _when(t.completed_at),
        }
        for t in Transaction.select().where(Transaction.user == user.id).order_by(Transaction.id)
    ]
    readings = [
        {
            "id": r.id,
            "spread": r.spread_type,
            "question": r.question,
            "cards": r.cards,
            "interpretation": r.interpretation,
            "created_at": _when(r.created_at),
            "transaction_id": r.transaction_id,
        }
        for r in Reading.select().where(Reading.user == user.id).order_by(Reading.id)
    ]
    daily = [
        {"day": _when(c.day), "reading_id": c.reading_id}
        for c in DailyCard.select().where(DailyCard.user == user.id).order_by(DailyCard.day)
    ]
    invited = InviteReward.select().where(InviteReward.inviter == user.id).count()
    invited_by = InviteReward.get_or_none(InviteReward.invitee == user.id)
    return {
        "format": EXPORT_FORMAT,
        "exported_at": utcnow().isoformat(),
        "profile": {
            "user_id": user.id,
            "telegram_id": user.telegram_id,
            "username": user.username,
            "first_name": user.first_name,
            "created_at": _when(user.created_at),
            "last_active_at": _when(user.last_active_at),
            "is_active": user.is_active,
            "subscription_tier": user.subscription_tier,
            "subscription_expires_at": _when(user.subscription_expires_at),
        },
        "settings": {
            "reversed_cards": user.reads_reversals,
            "timezone": user.timezone or "UTC",
            "daily_card": user.daily_enabled,
            "daily_time_minutes": user.daily_minute,
            "quiet_hours_minutes": (
                None if user.quiet_start is None else [user.quiet_start, user.quiet_end]
            ),
        },
        "balance": ledger.balance(user.id),
        "transactions": transactions,
        "readings": readings,
        "daily_cards": daily,
        "invitations": {
            "friends_rewarded": invited,
            "invited_by_user_id": invited_by.inviter_id if invited_by else None,
        },
    }


def export_json(user: User) -> bytes:
    return json.dumps(export_user(user), ensure_ascii=False, indent=2).encode("utf-8")


def erase_user(telegram_id: int, secret: bytes, conn: redis.Redis | None = None) -> int | None:
    """Erase the person's readings, questions and personal fields; keep anonymised ledger rows.

    Returns the (kept, anonymised) user id, or None when there is nobody to
    erase (unknown, or erased already): idempotent.
    """
    with database.atomic():
        query = User.select().where(User.telegram_id == telegram_id)
        user = (query.for_update() if is_postgres() else query).first()
        if user is None:
            return None
        reading_ids = [r.id for r in Reading.select(Reading.id).where(Reading.user == user.id)]
        DailyCard.delete().where(DailyCard.user == user.id).execute()
        Reading.delete().where(Reading.user == user.id).execute()
        # free-text reasons may quote what a person wrote to an operator
        Transaction.update(reason=None, error_message=None).where(
            Transaction.user == user.id
        ).execute()
        User.update(
            telegram_id=-user.id,
            username=None,
            first_name=None,
            timezone=None,
            daily_enabled=False,
            daily_next_at=None,
            quiet_start=None,
            quiet_end=None,
            last_active_at=None,
            is_active=False,
            erased_at=utcnow(),
        ).where(User.id == user.id).execute()
        ErasedAccount.insert(
            digest=erased_digest(telegram_id, secret)
        ).on_conflict_ignore().execute()
    if conn is not None:
        try:
            conn.delete(SessionCache(conn).key(telegram_id))
            cache = ReadingCache(conn)
            for reading_id in reading_ids:
                cache.delete(reading_id)
        except redis.RedisError:
            pass  # sessions rebuild from the database, which no longer knows the person
    return user.id
