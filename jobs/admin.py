"""RQ entry points for admin commands (ADMIN_IDS only; the bot checks before it queues them).

Each checks again that its caller is an admin (a job could be queued by
anything that reaches Redis), logs what it did and records it
(:mod:`tarotbot.admin`). Broadcasts: :func:`broadcast_preview` makes the
draft, :func:`broadcast_confirm` starts it, :func:`broadcast_batch` sends in
batches on the ``bulk`` queue, reporting progress to the admin by editing
one message, and resumes exactly where a killed batch stopped
(:mod:`tarotbot.broadcasts`).
"""

from __future__ import annotations

import html
import logging
import secrets

import redis
from telebot.apihelper import ApiTelegramException

from jobs import get_app, job_context
from tarotbot import admin, broadcasts, ledger
from tarotbot.exceptions import InsufficientCredits, NotRefundable, UnknownUser
from tarotbot.localtime import format_local
from tarotbot.models import Broadcast
from tarotbot.queue import QUEUE_BULK, QUEUE_NAMES, job_id
from tarotbot.redaction import redact
from tarotbot.telegram import keyboards, replies, texts
from tarotbot.telegram.bulk import pacer_for, unreachable
from tarotbot.tiers import TIERS, TIERS_BY_NAME

log = logging.getLogger("tarotbot.admin")

BATCH = 50  # broadcast recipients per batch job
LOCK_TTL = 5  # seconds a batch job's hold on its broadcast lasts without renewal


def _say(app, key: str, chat_id: int, html_text: str, markup: dict | None = None) -> None:
    app.sender.deliver(key, chat_id, [replies.text(chat_id, html_text, markup)])


def _allowed(app, admin_id: int) -> bool:
    if admin.is_admin(admin_id, app.settings.admin_ids):
        return True
    log.warning("admin job refused for %s: not in ADMIN_IDS", admin_id)
    return False


def _who(user) -> str:
    name = f"@{user.username}" if user.username else (user.first_name or "user")
    return f"{name} (#{user.id})"


@job_context
def show_stats(admin_id: int, chat_id: int, key: str) -> dict:
    app = get_app()
    if not _allowed(app, admin_id):
        return {"status": "refused"}
    from rq.registry import FailedJobRegistry

    figures = admin.stats()
    spreads = (
        "\n".join(
            f"{texts.local_spread(name).title}: {count}"
            for name, count in figures.readings_by_spread.items()
        )
        or "none yet"
    )
    queues = []
    for name in QUEUE_NAMES:
        queue = app.queue(name)
        failed = FailedJobRegistry(queue=queue).count
        queues.append(f"{name}: {queue.count} / {failed}")
    message = texts.render(
        texts.ADMIN_STATS,
        people=figures.people,
        inactive=figures.inactive,
        erased=figures.erased,
        today=figures.active_today,
        week=figures.active_week,
        daily=figures.daily_subscribers,
        spreads=spreads,
        stars=figures.stars_taken,
        refunded=figures.stars_refunded,
        queues="\n".join(queues),
    )
    admin.record(admin_id, "stats")
    _say(app, key, chat_id, message)
    return {"status": "shown", "people": figures.people}


def _target(app, who: str, chat_id: int, key: str):
    try:
        return admin.find_user(who)
    except UnknownUser:
        _say(app, key, chat_id, texts.render(texts.ADMIN_NO_USER, who=who))
        return None


def _moved(app, key: str, chat_id: int, template, amount: int, user, entry) -> None:
    """Tell the admin a grant or revoke went through, with the new balance."""
    message = texts.render(
        template,
        amount=amount,
        who=_who(user),
        balance=entry.balance_after,
        txn=entry.transaction_id,
    )
    _say(app, key, chat_id, message)


@job_context
def grant(admin_id: int, chat_id: int, who: str, amount: int, reason: str, key: str) -> dict:
    app = get_app()
    if not _allowed(app, admin_id):
        return {"status": "refused"}
    user = _target(app, who, chat_id, key)
    if user is None:
        return {"status": "no-user"}
    entry = admin.grant(admin_id, user, amount, reason, key=f"admin-{key}")
    _moved(app, key, chat_id, texts.ADMIN_GRANTED, amount, user, entry)
    return {"status": "granted", "transaction_id": entry.transaction_id}


@job_context
def revoke(admin_id: int, chat_id: int, who: str, amount: int, reason: str, key: str) -> dict:
    app = get_app()
    if not _allowed(app, admin_id):
        return {"status": "refused"}
    user = _target(app, who, chat_id, key)
    if user is None:
        return {"status": "no-user"}
    try:
        entry = admin.revoke(admin_id, user, amount, reason, key=f"admin-{key}")
    except InsufficientCredits as short:
        message = texts.render(texts.ADMIN_SHORT, who=_who(user), balance=short.balance)
        _say(app, key, chat_id, message)
        return {"status": "short"}
    _moved(app, key, chat_id, texts.ADMIN_REVOKED, amount, user, entry)
    return {"status": "revoked", "transaction_id": entry.transaction_id}


@job_context
def refund(admin_id: int, chat_id: int, charge_id: str, key: str) -> dict:
    """refundStarPayment, then the ledger (the same keys as Telegram's refund notice uses)."""
    app = get_app()
    if not _allowed(app, admin_id):
        return {"status": "refused"}
    purchase = admin.purchase_of(charge_id)
    if purchase is None:
        _say(app, key, chat_id, texts.render(texts.ADMIN_REFUND_UNKNOWN, charge=charge_id))
        return {"status": "unknown"}
    user = purchase.user
    balance = ledger.balance(user.id)
    if purchase.status == "completed" and balance < purchase.amount:
        message = texts.render(
            texts.ADMIN_REFUND_SPENT, who=_who(user), balance=balance, credits=purchase.amount
        )
        _say(app, key, chat_id, message)
        return {"status": "spent"}
    try:
        app.sender.bot.refund_star_payment(user.telegram_id, charge_id)
    except ApiTelegramException as exc:
        if "ALREADY_REFUNDED" not in (exc.description or ""):
            reason = redact(exc.description, app.sender.bot.token)
            _say(app, key, chat_id, texts.render(texts.ADMIN_REFUND_REFUSED, reason=reason))
            return {"status": "refused-by-telegram"}
    try:
        entry = ledger.refund(
            purchase.idempotency_key,
            key=f"refund-{charge_id}",
            reason=f"refunded by admin {admin_id}",
        )
    except (NotRefundable, InsufficientCredits) as problem:
        log.error("refund of %s: Stars returned but the ledger refused: %s", charge_id, problem)
        raise
    if not entry.replayed:
        admin.record(admin_id, "refund", user.id, entry.transaction_id, charge_id)
    message = texts.render(
        texts.ADMIN_REFUNDED,
        charge=charge_id,
        stars=admin.stars_of(purchase.amount) or "?",
        who=_who(user),
        credits=-entry.amount,
        balance=entry.balance_after,
    )
    _say(app, key, chat_id, message)
    return {"status": "refunded", "transaction_id": entry.transaction_id}


@job_context
def show_user(admin_id: int, chat_id: int, who: str, key: str) -> dict:
    app = get_app()
    if not _allowed(app, admin_id):
        return {"status": "refused"}
    user = _target(app, who, chat_id, key)
    if user is None:
        return {"status": "no-user"}
    readings, moves, balance = admin.user_summary(user)
    reading_lines = "\n".join(
        f"#{r.id} {format_local(r.created_at, None)} · {texts.local_spread(r.spread_type).title}"
        for r in readings
    ) or texts.render(texts.NONE)
    move_lines = "\n".join(
        f"#{t.id} {t.type} {t.amount:+d} → {t.credits_after} ({t.status})" for t in moves
    ) or texts.render(texts.NONE)
    state = texts.render(
        texts.STATE_ERASED
        if user.erased_at
        else (texts.STATE_ACTIVE if user.is_active else texts.STATE_INACTIVE)
    )
    message = texts.render(
        texts.ADMIN_USER,
        who=_who(user),
        user_id=user.id,
        telegram_id=user.telegram_id,
        joined=format_local(user.created_at, None),
        state=state,
        tier=texts.tier_title(TIERS_BY_NAME.get(user.subscription_tier or "basic", TIERS[0])),
        balance=balance,
        readings=reading_lines,
        transactions=move_lines,
    )
    admin.record(admin_id, "user", user.id)
    _say(app, key, chat_id, message)
    return {"status": "shown"}


# -- broadcasts ----------------------------------------------------------------------


@job_context
def broadcast_preview(admin_id: int, chat_id: int, text: str, key: str) -> dict:
    """A draft, shown to its admin exactly as people will see it, with Send / Cancel."""
    app = get_app()
    if not _allowed(app, admin_id):
        return {"status": "refused"}
    draft = broadcasts.create(admin_id, chat_id, text)
    admin.record(admin_id, "broadcast-draft", detail=f"broadcast {draft.id}")
    app.sender.deliver(
        key,
        chat_id,
        [
            replies.text(
                chat_id, texts.render(texts.BROADCAST_PREVIEW, id=draft.id, count=draft.total)
            ),
            replies.text(chat_id, html.escape(text, quote=False)),
            replies.text(
                chat_id,
                texts.render(texts.BROADCAST_CONFIRM, id=draft.id, count=draft.total),
                keyboards.broadcast_confirm(draft.id),
            ),
        ],
    )
    return {"status": "draft", "broadcast_id": draft.id}


@job_context
def broadcast_confirm(
    admin_id: int, chat_id: int, broadcast_id: int, send: bool, message_id: int, key: str
) -> dict:
    app = get_app()
    if not _allowed(app, admin_id):
        return {"status": "refused"}
    draft = Broadcast.get_or_none(Broadcast.id == broadcast_id)
    if draft is None:
        _say(app, key, chat_id, texts.STALE_BUTTON)
        return {"status": "unknown"}
    if not send:
        if broadcasts.cancel(broadcast_id):
            admin.record(admin_id, "broadcast-cancel", detail=f"broadcast {broadcast_id}")
            text = texts.render(texts.BROADCAST_CANCELLED, id=broadcast_id)
        else:
            text = texts.render(texts.BROADCAST_STALE, id=broadcast_id, status=draft.status)
        app.sender.deliver(key, chat_id, [replies.edit_text(chat_id, message_id, text)])
        return {"status": "cancelled"}
    started = broadcasts.start(broadcast_id)
    if started is None:
        text = texts.render(texts.BROADCAST_STALE, id=broadcast_id, status=draft.status)
        app.sender.deliver(key, chat_id, [replies.edit_text(chat_id, message_id, text)])
        return {"status": "stale"}
    admin.record(admin_id, "broadcast-send", detail=f"broadcast {broadcast_id} to {started.total}")
    progress = texts.render(
        texts.BROADCAST_PROGRESS, id=broadcast_id, done=0, total=started.total, sent=0, skipped=0
    )
    app.sender.deliver(key, chat_id, [replies.edit_text(chat_id, message_id, progress)])
    Broadcast.update(progress_message_id=message_id).where(Broadcast.id == broadcast_id).execute()
    _next_batch(app, broadcast_id, 0)
    return {"status": "sending", "total": started.total}


def _next_batch(app, broadcast_id: int, cursor: int, suffix: str = "") -> None:
    app.enqueue(
        QUEUE_BULK,
        "jobs.admin.broadcast_batch",
        broadcast_id,
        key=job_id("broadcast", broadcast_id, cursor, suffix)
        if suffix
        else job_id("broadcast", broadcast_id, cursor),
        timeout=600,
    )


def resume_stalled_broadcasts(older_than: float) -> int:
    """Queue the next batch of broadcasts whose batch job died (called every minute)."""
    app = get_app()
    stalled = broadcasts.stalled(older_than)
    for item in stalled:
        log.warning("broadcast %s stalled at user %s; resuming", item.id, item.cursor_user_id)
        _next_batch(app, item.id, item.cursor_user_id, suffix=secrets.token_hex(3))
    return len(stalled)


class _Hold:
    """A broadcast's lock in Redis: one batch job sends for it at a time."""

    def __init__(self, conn: redis.Redis, broadcast_id: int):
        self.conn = conn
        self.key = f"tarotbot:broadcast-lock:{broadcast_id}"
        self.token = secrets.token_hex(8)

    def take(self, wait: float = LOCK_TTL + 1) -> bool:
        """Take the lock, waiting up to ``wait`` s for a dead holder's to lapse."""
        import time

        deadline = time.monotonic() + wait
        while not self.conn.set(self.key, self.token, nx=True, ex=LOCK_TTL):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)
        return True

    def renew(self) -> bool:
        if self.conn.get(self.key) != self.token.encode():
            return False
        self.conn.expire(self.key, LOCK_TTL)
        return True

    def release(self) -> None:
        if self.conn.get(self.key) == self.token.encode():
            self.conn.delete(self.key)


def _report(app, item: Broadcast, final: bool) -> None:
    if not item.progress_message_id:
        return
    done = item.sent + item.skipped
    if final:
        text = texts.render(texts.BROADCAST_DONE, id=item.id, sent=item.sent, skipped=item.skipped)
    else:
        text = texts.render(
            texts.BROADCAST_PROGRESS,
            id=item.id,
            done=done,
            total=max(item.total, done),
            sent=item.sent,
            skipped=item.skipped,
        )
    bundle = f"bcast-{item.id}-report-{'done' if final else done}"
    app.sender.deliver(
        bundle,
        item.admin_chat_id,
        [replies.edit_text(item.admin_chat_id, item.progress_message_id, text)],
    )
    if final:
        app.sender.deliver(
            f"bcast-{item.id}-finished",
            item.admin_chat_id,
            [replies.text(item.admin_chat_id, text)],
        )


def _send_one(app, gate, item: Broadcast, user_id: int, telegram_id: int) -> bool:
    """Send the broadcast to one person, once; False when they cannot be reached."""
    from tarotbot.models import User

    gate.wait_turn()
    result = app.sender.deliver(
        f"bcast-{item.id}-{user_id}",
        telegram_id,
        [replies.text(telegram_id, html.escape(item.text, quote=False))],
        at_most_once=True,  # a message whose call a crash cut short is not sent again
    )
    if unreachable(result):
        User.update(is_active=False).where(User.id == user_id).execute()
        return False
    return not result.dropped


@job_context
def broadcast_batch(broadcast_id: int) -> dict:
    """Send the next batch of a broadcast, then queue the one after (or finish)."""
    app = get_app()
    hold = _Hold(app.redis, broadcast_id)
    if not hold.take():
        return {"status": "busy"}  # another batch job sends for it right now
    outcome: dict = {}
    try:
        outcome = _batch(app, hold, broadcast_id)
    finally:
        hold.release()
    if outcome.get("status") == "continuing":  # after the release, so the next job finds it free
        _next_batch(app, broadcast_id, outcome["cursor"])
    return outcome


def _batch(app, hold: _Hold, broadcast_id: int) -> dict:
    """One batch: the person a dead batch left uncertain, then up to BATCH more."""
    from tarotbot.models import User

    item = Broadcast.get_or_none(Broadcast.id == broadcast_id)
    if item is None or item.status != "sending":
        return {"status": "not-sending"}
    gate = pacer_for(app)
    if item.inflight_user_id is not None:  # a batch died while sending to this person
        person = User.get_or_none(User.id == item.inflight_user_id)
        ok = (
            person is not None
            and person.telegram_id > 0
            and _send_one(app, gate, item, person.id, person.telegram_id)
        )
        broadcasts.mark_done(broadcast_id, item.inflight_user_id, ok)
    item = Broadcast.get_by_id(broadcast_id)
    people = broadcasts.next_recipients(item, BATCH)
    for person in people:
        if not hold.renew():
            log.warning("broadcast %s: lost its lock; leaving the rest to its holder", broadcast_id)
            return {"status": "lost-lock"}
        broadcasts.mark_inflight(broadcast_id, person.id)
        ok = _send_one(app, gate, item, person.id, person.telegram_id)
        broadcasts.mark_done(broadcast_id, person.id, ok)
    item = Broadcast.get_by_id(broadcast_id)
    if len(people) < BATCH:
        if broadcasts.finish(broadcast_id):
            admin.record(
                item.admin_telegram_id,
                "broadcast-done",
                detail=f"broadcast {item.id}: {item.sent} sent",
            )
            _report(app, Broadcast.get_by_id(broadcast_id), final=True)
        return {"status": "done", "sent": item.sent}
    _report(app, item, final=False)
    return {"status": "continuing", "cursor": item.cursor_user_id}
