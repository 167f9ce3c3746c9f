"""Broadcasts: one message to every reachable person, in resumable batches.

A broadcast is a row: ``draft`` (previewed to its admin), ``sending``, then
``done`` (or ``cancelled`` before it started). Recipients are taken in user
id order after ``cursor_user_id``; before a message goes out the row names
the person in ``inflight_user_id``, and afterwards the cursor moves past
them. A batch job that dies (SIGKILL, OOM) leaves at most that one person
uncertain; the job that resumes hands them to the sender again under the
same bundle id, whose delivery records say whether the message went out, so
nobody gets it twice and nobody is skipped (:mod:`jobs.admin`).
"""

from __future__ import annotations

from tarotbot.db import database
from tarotbot.models import Broadcast, User, utcnow

TEXT_LIMIT = 3500  # characters of a broadcast message


def recipients_query():
    """Everyone a broadcast or daily card may reach: active, not erased, a real chat."""
    return User.select(User.id, User.telegram_id).where(
        (User.is_active == True)  # noqa: E712
        & User.erased_at.is_null()
        & (User.telegram_id > 0)
    )


def audience() -> int:
    return recipients_query().count()


def create(admin_telegram_id: int, admin_chat_id: int, text: str) -> Broadcast:
    return Broadcast.create(
        admin_telegram_id=admin_telegram_id,
        admin_chat_id=admin_chat_id,
        text=text,
        total=audience(),
    )


def start(broadcast_id: int) -> Broadcast | None:
    """draft → sending, once; the broadcast, or None when it was not a draft any more."""
    now = utcnow()
    changed = (
        Broadcast.update(status="sending", started_at=now, updated_at=now, total=audience())
        .where((Broadcast.id == broadcast_id) & (Broadcast.status == "draft"))
        .execute()
    )
    return Broadcast.get_by_id(broadcast_id) if changed else None


def cancel(broadcast_id: int) -> bool:
    return (
        Broadcast.update(status="cancelled", finished_at=utcnow())
        .where((Broadcast.id == broadcast_id) & (Broadcast.status == "draft"))
        .execute()
        == 1
    )


def next_recipients(broadcast: Broadcast, limit: int) -> list[User]:
    return list(
        recipients_query().where(User.id > broadcast.cursor_user_id).order_by(User.id).limit(limit)
    )


def mark_inflight(broadcast_id: int, user_id: int) -> None:
    Broadcast.update(inflight_user_id=user_id, updated_at=utcnow()).where(
        Broadcast.id == broadcast_id
    ).execute()


def mark_done(broadcast_id: int, user_id: int, sent: bool) -> None:
    """The person is done with: the cursor moves past them; counted as sent or skipped."""
    counter = {"sent": Broadcast.sent + 1} if sent else {"skipped": Broadcast.skipped + 1}
    with database.atomic():
        Broadcast.update(
            cursor_user_id=user_id, inflight_user_id=None, updated_at=utcnow(), **counter
        ).where((Broadcast.id == broadcast_id) & (Broadcast.cursor_user_id < user_id)).execute()


def finish(broadcast_id: int) -> bool:
    return (
        Broadcast.update(status="done", finished_at=utcnow(), inflight_user_id=None)
        .where((Broadcast.id == broadcast_id) & (Broadcast.status == "sending"))
        .execute()
        == 1
    )


def stalled(older_than_seconds: float) -> list[Broadcast]:
    """Broadcasts still sending whose batch job has not moved for a while (a crash)."""
    import datetime as dt

    limit = utcnow() - dt.timedelta(seconds=older_than_seconds)
    return list(
        Broadcast.select().where((Broadcast.status == "sending") & (Broadcast.updated_at < limit))
    )
