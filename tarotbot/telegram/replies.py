"""Builders for outbound items: what the bot and the jobs hand to the sender.

A text given here as one of :mod:`~tarotbot.telegram.texts`' messages, unfilled,
is put in the current language (:mod:`tarotbot.i18n`); a text already rendered
is no catalog entry and passes unchanged.
"""

from __future__ import annotations

from tarotbot.i18n import N_, gettext
from tarotbot.packs import CURRENCY, Pack, invoice_payload
from tarotbot.telegram.outgoing import Outgoing


def _said(html: str | None) -> str | None:
    return gettext(html) if html else html


def text(chat_id: int, html: str, markup: dict | None = None) -> Outgoing:
    return Outgoing(kind="text", chat_id=chat_id, text=_said(html), reply_markup=markup)


def photo(
    chat_id: int, photo_key: str, caption: str | None = None, markup: dict | None = None
) -> Outgoing:
    return Outgoing(
        kind="photo",
        chat_id=chat_id,
        photo_key=photo_key,
        text=_said(caption),
        reply_markup=markup,
    )


def edit_text(chat_id: int, message_id: int, html: str, markup: dict | None = None) -> Outgoing:
    return Outgoing(
        kind="edit_text",
        chat_id=chat_id,
        message_id=message_id,
        text=_said(html),
        reply_markup=markup,
    )


def edit_markup(chat_id: int, message_id: int, markup: dict | None) -> Outgoing:
    """Change (None: remove) the keyboard of a message the bot sent."""
    return Outgoing(kind="edit_markup", chat_id=chat_id, message_id=message_id, reply_markup=markup)


def action(chat_id: int, name: str = "typing") -> Outgoing:
    return Outgoing(kind="chat_action", chat_id=chat_id, action=name)


def invoice(chat_id: int, pack: Pack, telegram_id: int) -> Outgoing:
    return Outgoing(
        kind="invoice",
        chat_id=chat_id,
        title=gettext(N_("{label} for TarotBot")).format(label=gettext(pack.label)),
        description=gettext(
            N_("{credits} credits for tarot readings. Credits never expire.")
        ).format(credits=pack.credits),
        payload=invoice_payload(pack, telegram_id),
        currency=CURRENCY,
        prices=[{"label": gettext(pack.label), "amount": pack.stars}],
    )


def document(chat_id: int, key: str, file_name: str, caption: str | None = None) -> Outgoing:
    """A file sent as a document; its bytes go to the sender's ``photos`` under ``key``."""
    return Outgoing(
        kind="document", chat_id=chat_id, photo_key=key, file_name=file_name, text=_said(caption)
    )
