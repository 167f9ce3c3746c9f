"""RQ entry points for a person's own account: verify a reading, export, erase, share, invite."""

from __future__ import annotations

import logging

from jobs import get_app, job_context
from tarotbot import history, ledger, privacy, users
from tarotbot.config import seed_secret_bytes
from tarotbot.exceptions import UnknownUser
from tarotbot.i18n import current_language
from tarotbot.localtime import format_local
from tarotbot.models import Reading, User
from tarotbot.tarot.draw import Draw
from tarotbot.tarot.render import render_spread
from tarotbot.telegram import keyboards, replies, texts
from tarotbot.telegram.links import invite_link
from tarotbot.verification import verification_of

log = logging.getLogger("tarotbot.jobs.account")


def _user(app, telegram_id: int, chat_id: int, key: str) -> User | None:
    try:
        return users.by_telegram_id(telegram_id)
    except UnknownUser:
        app.sender.deliver(f"{key}-nouser", chat_id, [replies.text(chat_id, texts.NOT_REGISTERED)])
        return None


def _say(app, key: str, chat_id: int, html: str, markup: dict | None = None) -> None:
    app.sender.deliver(key, chat_id, [replies.text(chat_id, html, markup)])


def verification_text(reading: Reading, zone: str | None) -> str:
    check = verification_of(reading)
    if check.commitment:
        sealed = texts.render(texts.VERIFY_SEALED, commitment=check.commitment, seed=check.seed)
    else:
        sealed = texts.render(texts.VERIFY_UNSEALED)
    ok = check.matches and check.seal_holds
    verdict = (
        texts.render(texts.VERIFY_MATCH, count=len(check.recomputed))
        if ok
        else texts.render(texts.VERIFY_MISMATCH)
    )
    head = texts.render(
        texts.VERIFY_HEAD,
        reading_id=reading.id,
        title=texts.local_spread(reading.spread_type).title,
        when=format_local(reading.created_at, zone),
        seed=check.seed,
    )
    body = texts.render(texts.VERIFY_BODY, command=check.command, cards="\n".join(check.recomputed))
    return head + sealed + body + verdict


@job_context
def verify_reading(telegram_id: int, chat_id: int, reading_id: int | None, key: str) -> dict:
    """/verify and the 🔍 buttons: how to check one of the person's readings, recomputed now."""
    app = get_app()
    user = _user(app, telegram_id, chat_id, key)
    if user is None:
        return {"status": "unknown-user"}
    if reading_id is None:
        reading = (
            Reading.select()
            .where(Reading.user == user.id)
            .order_by(Reading.created_at.desc(), Reading.id.desc())
            .first()
        )
        if reading is None:
            _say(app, key, chat_id, texts.VERIFY_NONE, keyboards.main_menu())
            return {"status": "none"}
    else:
        reading = history.reading_for_user(user.id, reading_id)
        if reading is None:
            _say(app, key, chat_id, texts.READING_NOT_FOUND)
            return {"status": "not-found"}
    _say(app, key, chat_id, verification_text(reading, user.timezone))
    return {"status": "shown", "reading_id": reading.id}


@job_context
def export_data(telegram_id: int, chat_id: int, key: str) -> dict:
    """/export: everything kept about the person, as a JSON document in the chat."""
    app = get_app()
    user = User.get_or_none(User.telegram_id == telegram_id)
    if user is None:
        _say(app, key, chat_id, texts.EXPORT_NOTHING)
        return {"status": "nothing"}
    data = privacy.export_json(user)
    file_key = f"export:{key}"
    app.sender.deliver(
        key,
        chat_id,
        [replies.document(chat_id, file_key, "tarotbot-my-data.json", texts.EXPORT_CAPTION)],
        photos={file_key: data},
    )
    log.info("exported the data of user %s (%d bytes)", user.id, len(data))
    return {"status": "sent", "bytes": len(data)}


@job_context
def erase_data(telegram_id: int, chat_id: int, message_id: int | None, key: str) -> dict:
    """/delete, confirmed: erase readings, questions and personal fields; idempotent."""
    app = get_app()
    user_id = privacy.erase_user(telegram_id, seed_secret_bytes(app.settings), app.redis)
    items = []
    if message_id:
        items.append(replies.edit_text(chat_id, message_id, texts.DELETE_DONE))
    if user_id is None:
        _say(app, key, chat_id, texts.DELETE_NOTHING)
        return {"status": "nothing"}
    log.info("erased the data of user %s on their request", user_id)
    app.sender.deliver(key, chat_id, items or [replies.text(chat_id, texts.DELETE_DONE)])
    return {"status": "erased", "user_id": user_id}


@job_context
def confirm_erase(telegram_id: int, chat_id: int, key: str) -> dict:
    """/delete: ask first, saying what will be lost."""
    app = get_app()
    user = User.get_or_none(User.telegram_id == telegram_id)
    if user is None:
        _say(app, key, chat_id, texts.DELETE_NOTHING)
        return {"status": "nothing"}
    message = texts.render(texts.DELETE_CONFIRM, balance=ledger.balance(user.id))
    _say(app, key, chat_id, message, keyboards.confirm_erase())
    return {"status": "asked"}


@job_context
def send_invite(telegram_id: int, chat_id: int, key: str) -> dict:
    """/invite: the person's link and what it gives."""
    app = get_app()
    user = _user(app, telegram_id, chat_id, key)
    if user is None:
        return {"status": "unknown-user"}
    link = invite_link(app.sender.bot, app.settings, user.id)
    message = texts.render(
        texts.INVITE, link=link, bonus=app.settings.invite_bonus, cap=app.settings.invite_daily_cap
    )
    _say(app, key, chat_id, message, keyboards.share_link(link, texts.render(texts.SHARE_TEXT)))
    return {"status": "sent"}


@job_context
def share_reading(telegram_id: int, chat_id: int, reading_id: int, key: str) -> dict:
    """💌 Share: the reading's picture with a short text and the invitation link, to forward."""
    app = get_app()
    user = _user(app, telegram_id, chat_id, key)
    if user is None:
        return {"status": "unknown-user"}
    reading = history.reading_for_user(user.id, reading_id)
    if reading is None:
        _say(app, key, chat_id, texts.READING_NOT_FOUND)
        return {"status": "not-found"}
    the_draw = Draw.from_record(reading.cards)
    link = invite_link(app.sender.bot, app.settings, user.id)
    shown = texts.local_draw(the_draw)
    cards = "\n".join(f"{dc.position.name}: {dc.card.name} {dc.mark}" for dc in shown.cards)
    caption = texts.render(texts.SHARE_CAPTION, title=shown.spread.title, cards=cards, link=link)
    picture = render_spread(
        the_draw,
        image_format="jpeg",
        date=reading.created_at,
        brand="TarotBot",
        language=current_language(),
    )
    photo_key = f"photo:{key}"
    app.sender.deliver(
        key,
        chat_id,
        [
            replies.photo(
                chat_id,
                photo_key,
                caption,
                keyboards.share_link(link, texts.render(texts.SHARE_TEXT)),
            )
        ],
        photos={photo_key: picture},
    )
    return {"status": "sent"}
