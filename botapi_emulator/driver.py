"""The user's side of Telegram, for tests: write, tap buttons, pay, block; inspect chats.

These functions act on one bot's state the way a Telegram user's client would:
each creates the update Telegram would deliver to the bot (a message, a
callback query, a pre-checkout query, ...). The inspection helpers return the
driver's ``view`` of what the bot sent, and the ``wait_*`` helpers block on the
bot's condition variable (no polling loops) until the bot has done something.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from botapi_emulator import media
from botapi_emulator.errors import ApiError
from botapi_emulator.formatting import utf16_len
from botapi_emulator.methods import store_photo
from botapi_emulator.payments import new_charge_id, record_payment, subscription_of
from botapi_emulator.state import (
    BotState,
    CallbackRecord,
    Charge,
    Chat,
    Checkout,
    StoredMessage,
    Subscription,
    UserInfo,
    now,
)


class DriverError(ApiError):
    """A driver request that cannot be carried out (unknown chat, message, bot...)."""

    def __init__(self, description: str, error_code: int = 400):
        super().__init__(error_code, description)


_SAMPLE_PNG: bytes | None = None


def _sample_png() -> bytes:
    global _SAMPLE_PNG
    if _SAMPLE_PNG is None:
        _SAMPLE_PNG = media.sample_png()
    return _SAMPLE_PNG


# -- writing -----------------------------------------------------------------


def send(
    bot: BotState,
    user_id: int,
    text: str | None = None,
    *,
    first_name: str | None = None,
    username: str | None = None,
    language_code: str | None = None,
    sticker: bool = False,
    photo: bool = False,
    caption: str | None = None,
    location: tuple[float, float] | list[float] | None = None,
) -> dict[str, Any]:
    """The user writes to the bot: text, a sticker, a photo or a location (latitude, longitude).

    Returns ids of the update.
    """
    if text is None and not sticker and not photo and location is None:
        raise DriverError("give text, sticker=true, photo=true or location=[lat, lon]")
    with bot.lock:
        chat = _user_chat(bot, int(user_id), first_name, username, language_code)
        chat.blocked = False  # writing to a bot restarts it
        if location is not None:
            fields = _location_content(location)
        else:
            fields = _user_content(bot, text, sticker=sticker, photo=photo, caption=caption)
        message = bot.add_message(chat, outgoing=False, method="user", **fields)
        update_id = bot.push_update("message", message.to_api())
        return {"update_id": update_id, "message_id": message.message_id, "chat_id": chat.id}


def _user_chat(bot, user_id, first_name, username, language_code) -> Chat:
    chat = bot.chats.get(user_id)
    if chat is None:
        user = UserInfo(user_id)
        user.update_from(first_name, username, language_code)
        return bot.ensure_chat(user)
    chat.user.update_from(first_name, username, language_code)
    return chat


def _user_content(
    bot: BotState, text: str | None, *, sticker: bool, photo: bool, caption: str | None
) -> dict[str, Any]:
    if sticker:
        return {"content": {"sticker": media.sticker_object()}}
    if photo:
        data = _sample_png()
        sizes = store_photo(bot, data, media.inspect_image(data))
        return {"photo": sizes, "photo_bytes": len(data), "caption": caption}
    return {"text": text, "entities": _command_entities(text or "")}


def _location_content(location: tuple[float, float] | list[float]) -> dict[str, Any]:
    try:
        latitude, longitude = (float(v) for v in location)
    except (TypeError, ValueError):
        raise DriverError("location is [latitude, longitude]") from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise DriverError("location is outside -90..90, -180..180")
    return {"content": {"location": {"latitude": latitude, "longitude": longitude}}}


def _command_entities(text: str) -> list[dict[str, Any]]:
    """A leading ``/command`` gets Telegram's bot_command entity."""
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


def tap(bot: BotState, user_id: int, message_id: int, data: str) -> dict[str, Any]:
    """The user presses an inline button of ``message_id``; ``data`` may be forged."""
    with bot.lock:
        chat = _existing_chat(bot, user_id)
        message = _existing_message(chat, message_id)
        query_id = str(secrets.randbits(63))
        bot.callback_queries[query_id] = CallbackRecord(query_id, time.monotonic())
        query = {
            "id": query_id,
            "from": chat.user.to_api(),
            "message": message.to_api(),
            "chat_instance": chat.chat_instance,
            "data": data,
        }
        update_id = bot.push_update("callback_query", query)
        return {"update_id": update_id, "callback_query_id": query_id}


def set_blocked(bot: BotState, user_id: int, blocked: bool = True) -> dict[str, Any]:
    """The user blocks (or unblocks) the bot; the bot gets a my_chat_member update."""
    with bot.lock:
        chat = _existing_chat(bot, user_id)
        if chat.blocked == blocked:
            return {"update_id": None, "blocked": blocked}
        chat.blocked = blocked
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        update = {
            "chat": chat.user.chat_api(),
            "from": chat.user.to_api(),
            "date": now(),
            "old_chat_member": _member(bot, old),
            "new_chat_member": _member(bot, new),
        }
        update_id = bot.push_update("my_chat_member", update)
        return {"update_id": update_id, "blocked": blocked}


def _member(bot: BotState, status: str) -> dict[str, Any]:
    member: dict[str, Any] = {"status": status, "user": bot.bot_user()}
    if status == "kicked":
        member["until_date"] = 0
    return member


# -- paying ------------------------------------------------------------------


def pay(
    bot: BotState,
    user_id: int,
    message_id: int | None = None,
    *,
    invoice_link: str | None = None,
    timeout: float | None = None,
    deliver: bool = True,
) -> dict[str, Any]:
    """The user pays an invoice: pre-checkout query, then (if the bot says ok) the payment.

    Blocks until the bot answers the pre-checkout query or ``timeout`` seconds
    pass (default: Telegram's 10 s). Returns ``status`` ``paid`` (with
    ``charge_id``), ``declined`` (with the bot's ``error_message``) or ``timeout``.
    An invoice link with a ``subscription_period`` starts a subscription
    (:func:`renew` advances it). ``deliver=False`` charges the user and books
    the transaction but never delivers the ``successful_payment`` update (a
    payment update lost on the way, for reconciliation tests).
    """
    limit = bot.settings.pre_checkout_timeout if timeout is None else float(timeout)
    with bot.lock:
        user, invoice = _invoice_to_pay(bot, user_id, message_id, invoice_link)
        checkout = _open_checkout(bot, user, invoice, limit)
        if checkout is None:
            return {"status": "timeout", "reason": "pre_checkout_query is not in allowed_updates"}
        bot.changed.wait_for(lambda: checkout.answered or bot.closing, timeout=limit)
        result: dict[str, Any] = {"pre_checkout_query_id": checkout.query_id}
        if not checkout.answered:
            return {**result, "status": "timeout"}
        if not checkout.ok:
            return {**result, "status": "declined", "error_message": checkout.error_message}
        return {**result, **_complete_payment(bot, user, invoice, deliver=deliver)}


def _invoice_to_pay(bot, user_id, message_id, invoice_link) -> tuple[UserInfo, dict[str, Any]]:
    if invoice_link:
        invoice = bot.invoice_links.get(invoice_link.rsplit("$", 1)[-1])
        if invoice is None:
            raise DriverError("invoice link not found", 404)
        chat = bot.chats.get(int(user_id))
        user = chat.user if chat else UserInfo(int(user_id))
        return user, invoice
    if message_id is None:
        raise DriverError("give message_id or invoice_link")
    chat = _existing_chat(bot, user_id)
    message = _existing_message(chat, message_id)
    if message.invoice is None or not message.outgoing:
        raise DriverError(f"message {message_id} is not an invoice from the bot")
    return chat.user, message.invoice


def _open_checkout(bot, user, invoice, limit) -> Checkout | None:
    query_id = str(secrets.randbits(63))
    created = time.monotonic()
    checkout = Checkout(query_id, created, deadline=created + limit)
    query = {
        "id": query_id,
        "from": user.to_api(),
        "currency": invoice["currency"],
        "total_amount": invoice["total_amount"],
        "invoice_payload": invoice["payload"],
    }
    if bot.push_update("pre_checkout_query", query) is None:
        return None
    bot.checkouts[query_id] = checkout
    return checkout


def _complete_payment(
    bot: BotState,
    user: UserInfo,
    invoice: dict[str, Any],
    *,
    deliver: bool = True,
    subscription: Subscription | None = None,
) -> dict[str, Any]:
    """Charge, book the transaction and deliver the successful_payment message.

    A subscription invoice's first payment starts a :class:`Subscription`;
    ``subscription`` given: this is its renewal for the next period.
    """
    period = invoice.get("subscription_period")
    charge = Charge(
        new_charge_id(),
        user,
        invoice["total_amount"],
        invoice["currency"],
        invoice["payload"],
        now(),
        subscription_period=period,
    )
    record_payment(bot, charge)
    payment: dict[str, Any] = {
        "currency": charge.currency,
        "total_amount": charge.amount,
        "invoice_payload": charge.payload,
        "telegram_payment_charge_id": charge.charge_id,
        "provider_payment_charge_id": "",
    }
    if period:
        if subscription is None:
            subscription = Subscription(user, invoice, [], charge.date)
            bot.subscriptions.append(subscription)
        subscription.charges.append(charge.charge_id)
        subscription.expires = max(subscription.expires, charge.date) + period
        payment["subscription_expiration_date"] = subscription.expires
        payment["is_recurring"] = True
        payment["is_first_recurring"] = len(subscription.charges) == 1
    chat = bot.ensure_chat(user)
    message = bot.add_message(
        chat, outgoing=False, method="payment", content={"successful_payment": payment}
    )
    update_id = bot.push_update("message", message.to_api()) if deliver else None
    result = {
        "status": "paid",
        "charge_id": charge.charge_id,
        "message_id": message.message_id,
        "update_id": update_id,
    }
    if period:
        result["subscription_expiration_date"] = subscription.expires
    return result


def renew(
    bot: BotState, user_id: int, charge_id: str | None = None, *, deliver: bool = True
) -> dict[str, Any]:
    """Advance the user's subscription to its next period, as Telegram does when one ends.

    The subscription is the one ``charge_id`` paid for, else the user's
    latest. Renewal charges the user again (no pre-checkout query, as on
    Telegram) and delivers a ``successful_payment`` with ``is_recurring`` and
    ``subscription_expiration_date`` one period later (unless ``deliver`` is
    false). A subscription the bot cancelled is not renewed: it ends, and
    ``status`` is ``ended``; otherwise ``paid`` with the new ``charge_id``.
    """
    with bot.lock:
        if charge_id:
            subscription = subscription_of(bot, int(user_id), charge_id)
        else:
            mine = [s for s in bot.subscriptions if s.user.id == int(user_id)]
            subscription = mine[-1] if mine else None
        if subscription is None:
            raise DriverError(f"user {user_id} has no such subscription", 404)
        if subscription.ended or subscription.canceled:
            subscription.ended = True
            return {"status": "ended", "subscription_expiration_date": subscription.expires}
        return _complete_payment(
            bot, subscription.user, subscription.invoice, deliver=deliver, subscription=subscription
        )


def subscriptions_view(bot: BotState, user_id: int) -> list[dict[str, Any]]:
    """The user's subscriptions: charges (first first), period end, cancelled, ended."""
    with bot.lock:
        return [
            {
                "charges": list(s.charges),
                "subscription_expiration_date": s.expires,
                "canceled": s.canceled,
                "ended": s.ended,
                "invoice_payload": s.invoice["payload"],
                "amount": s.invoice["total_amount"],
            }
            for s in bot.subscriptions
            if s.user.id == int(user_id)
        ]


def drop_updates(bot: BotState, update_ids: list[int] | None = None) -> list[int]:
    """Forget pending updates (all, or those named): Telegram keeps updates only 24 hours.

    Returns the ids dropped; a running poller never sees them.
    """
    with bot.lock:
        wanted = None if update_ids is None else {int(u) for u in update_ids}
        dropped = [
            u["update_id"] for u in bot.updates if wanted is None or u["update_id"] in wanted
        ]
        for update_id in dropped:
            bot.remove_update(update_id)
        return dropped


# -- inspecting ----------------------------------------------------------------


def _existing_chat(bot: BotState, user_id: int) -> Chat:
    chat = bot.chats.get(int(user_id))
    if chat is None:
        raise DriverError(f"chat {user_id} not found: the user has not written to the bot", 404)
    return chat


def _existing_message(chat: Chat, message_id: int) -> StoredMessage:
    message = chat.live_message(int(message_id))
    if message is None:
        raise DriverError(f"message {message_id} not found in chat {chat.id}", 404)
    return message


def chat_view(bot: BotState, chat_id: int, *, include_user: bool = False) -> dict[str, Any]:
    """Every message the bot sent in the chat (and the user's, if asked), plus chat actions."""
    with bot.lock:
        chat = _existing_chat(bot, chat_id)
        messages = [m.view() for m in chat.messages.values() if include_user or m.outgoing]
        return {
            "chat_id": chat.id,
            "user": chat.user.to_api(),
            "blocked": chat.blocked,
            "messages": messages,
            "actions": [dict(action) for action in chat.actions],
        }


def chat_actions(bot: BotState, chat_id: int) -> list[dict[str, Any]]:
    """The bot's chat actions in a chat, oldest first (copies); [] for unknown chats."""
    with bot.lock:
        chat = bot.chats.get(int(chat_id))
        return [dict(action) for action in chat.actions] if chat else []


def bot_messages(bot: BotState, chat_id: int) -> list[dict[str, Any]]:
    """The bot's messages in a chat (deleted ones included, flagged); [] for unknown chats."""
    with bot.lock:
        chat = bot.chats.get(int(chat_id))
        return [m.view() for m in chat.bot_messages()] if chat else []


def wait_until(bot: BotState, predicate: Callable[[], Any], timeout: float) -> Any:
    """Block until ``predicate()`` (called under the bot's lock) is truthy; return its value."""
    with bot.lock:
        value = bot.changed.wait_for(lambda: predicate() or bot.closing, timeout=timeout)
        return predicate() if value else value


def wait_for_messages(
    bot: BotState, chat_id: int, count: int, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Block until the bot has sent at least ``count`` messages to the chat; return them all."""

    def enough() -> bool:
        chat = bot.chats.get(int(chat_id))
        return chat is not None and len(chat.bot_messages()) >= count

    if not wait_until(bot, enough, timeout):
        have = len(bot_messages(bot, chat_id))
        raise DriverError(
            f"timed out after {timeout} s: the bot sent {have} of {count} messages "
            f"to chat {chat_id}",
            408,
        )
    return bot_messages(bot, chat_id)


def callback_answer(bot: BotState, query_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """Block until the bot answers the callback query; return the answer's fields."""

    def answer() -> dict[str, Any] | None:
        record = bot.callback_queries.get(query_id)
        return record.answer if record and record.answered else None

    result = wait_until(bot, answer, timeout)
    if not result:
        raise DriverError(f"callback query {query_id} was not answered in {timeout} s", 408)
    return result


def pending_updates(bot: BotState) -> list[dict[str, Any]]:
    """Updates not yet confirmed by the bot through getUpdates' offset."""
    with bot.lock:
        return [dict(u) for u in bot.updates]
