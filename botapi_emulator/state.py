"""What the emulated Telegram remembers, per bot: chats, messages, updates, files, payments.

Each bot (identified by the digits before the token's colon, its user id on
Telegram) has one :class:`BotState` guarded by one lock, with two condition
variables on it: ``changed`` wakes the driver's waits (messages, answers,
payments) on anything the bot does, ``updates_changed`` wakes long polls and
webhook workers only when updates, the webhook or the state of polling change
(so a bot's sends do not wake its own waiting getUpdates). Nothing is shared
between bots, so two bots never mix.

Objects render themselves in the Bot API's JSON shapes (``to_api``) and in the
driver's inspection shape (``view``).
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from botapi_emulator.errors import bad_request, forbidden

# Update types sent when a bot never chose (Telegram leaves these three out).
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def first_update_id() -> int:
    """Where a bot's update ids start: a random 9-digit number, as on Telegram.

    Telegram numbers updates sequentially from an arbitrary point (and picks
    a new random one after a week without updates), so clients must not
    assume ids are small or unique forever; a fresh emulator with a database
    kept from an earlier run must not replay that run's update ids either.
    """
    return 100_000_000 + secrets.randbelow(800_000_000)


@dataclass
class Settings:
    """Emulator-wide behaviour; the defaults are Telegram's.

    ``pre_checkout_timeout``: seconds Telegram waits for answerPreCheckoutQuery.
    ``callback_answer_timeout``: seconds after which answerCallbackQuery is refused.
    ``max_long_poll``: cap in seconds on getUpdates' ``timeout``.
    ``strict_entities``: refuse an unescaped ``&`` in HTML (see formatting.py).
    ``refund_service_message``: deliver a ``refunded_payment`` message on refunds.
    ``set_webhook_interval``: seconds before setWebhook with a URL may be called
    again (Telegram answers 429 ``retry after 1`` sooner); 0 turns it off.
    ``star_balance``: the Stars each bot's balance starts with (and returns to
    on ``reset()``), e.g. ``100`` or ``"12.5"``; paid broadcasts draw on it.
    """

    pre_checkout_timeout: float = 10.0
    callback_answer_timeout: float = 15.0
    max_long_poll: float = 50.0
    strict_entities: bool = True
    refund_service_message: bool = True
    bot_first_name: str = "TarotBot (emulated)"
    set_webhook_interval: float = 1.0
    star_balance: int | float | str = 0


NANOSTARS_PER_STAR = 1_000_000_000
PAID_BROADCAST_FEE = NANOSTARS_PER_STAR // 10  # 0.1 Star per message sent with allow_paid_broadcast


def nanostars(stars: Any) -> int:
    """A number of Stars (int, float, numeric string or Decimal) in whole nanostars, exactly.

    Floats go through their shortest decimal form, so 0.1 is 100_000_000.
    """
    try:
        value = Decimal(str(stars).strip()) * NANOSTARS_PER_STAR
    except (InvalidOperation, ValueError):
        raise ValueError(f"not a number of Stars: {stars!r}") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"a Star balance has at most 9 decimals: {stars!r}")
    return int(value)


def star_amount(nanos: int) -> dict[str, int]:
    """The Bot API's StarAmount: whole Stars rounded toward zero, and the nanostars left.

    ``nanostar_amount`` has the sign of the balance and is left out when zero,
    as Telegram leaves out an optional field.
    """
    whole = abs(nanos) // NANOSTARS_PER_STAR
    part = abs(nanos) % NANOSTARS_PER_STAR
    sign = -1 if nanos < 0 else 1
    amount: dict[str, int] = {"amount": sign * whole}
    if part:
        amount["nanostar_amount"] = sign * part
    return amount


def now() -> int:
    """Telegram dates: unix seconds."""
    return int(time.time())


@dataclass
class UserInfo:
    """A Telegram user as the driver describes them."""

    id: int
    first_name: str = "Tester"
    username: str | None = None
    language_code: str | None = "en"
    last_name: str | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value:
                data[key] = value
        return data

    def chat_api(self) -> dict[str, Any]:
        """The private chat with this user."""
        data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data

    def update_from(self, first_name=None, username=None, language_code=None) -> None:
        """Refresh the profile with whatever the driver passed this time."""
        if first_name:
            self.first_name = first_name
        if username:
            self.username = username
        if language_code:
            self.language_code = language_code


@dataclass
class StoredMessage:
    """One message in a chat, sent by the bot (``outgoing``) or by the user."""

    message_id: int
    chat: Chat
    outgoing: bool
    sender: dict[str, Any]
    date: int = field(default_factory=now)
    method: str = ""
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    parse_mode: str | None = None
    photo: list[dict[str, Any]] | None = None
    photo_bytes: int | None = None
    reply_markup: dict[str, Any] | None = None
    invoice: dict[str, Any] | None = None
    content: dict[str, Any] = field(default_factory=dict)
    edits: list[dict[str, Any]] = field(default_factory=list)
    edit_date: int | None = None
    deleted: bool = False
    paid_broadcast: bool = False  # sent with allow_paid_broadcast (0.1 Star)
    #: ``time.monotonic()`` when the message was stored: precise timings for
    #: tests and benchmarks in this process (``date`` has whole seconds).
    stored_at: float = field(default_factory=time.monotonic, repr=False)

    def to_api(self) -> dict[str, Any]:
        """The Bot API Message object."""
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat.user.chat_api(),
            "date": self.date,
        }
        if self.edit_date:
            data["edit_date"] = self.edit_date
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        if self.photo is not None:
            data["photo"] = self.photo
        if self.caption is not None:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        if self.invoice is not None:
            data["invoice"] = {
                key: self.invoice[key]
                for key in ("title", "description", "start_parameter", "currency", "total_amount")
            }
        data.update(self.content)
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            data["reply_markup"] = {"inline_keyboard": self.reply_markup["inline_keyboard"]}
        return data

    def view(self) -> dict[str, Any]:
        """The driver's inspection record: content, markup, edits, deletion."""
        record: dict[str, Any] = {
            "message_id": self.message_id,
            "from": "bot" if self.outgoing else "user",
            "method": self.method,
            "date": self.date,
            "text": self.text,
            "caption": self.caption,
            "parse_mode": self.parse_mode,
            "entities": self.entities or self.caption_entities,
            "photo_size": self.photo_bytes,
            "photo": self.photo,
            "reply_markup": self.reply_markup,
            "invoice": self.invoice,
            "edits": list(self.edits),
            "deleted": self.deleted,
        }
        if self.paid_broadcast:
            record["paid_broadcast"] = True
        record.update(self.content)
        return record


@dataclass
class Chat:
    """A private chat between the bot and one user."""

    user: UserInfo
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    #: sendChatAction calls, oldest first: ``{"action", "date", "stored_at"}``, where
    #: ``date`` is ``time.time()`` and ``stored_at`` the clock of messages' ``stored_at``.
    actions: list[dict[str, Any]] = field(default_factory=list)
    blocked: bool = False
    chat_instance: str = field(default_factory=lambda: str(secrets.randbits(62)))
    _next_id: int = 1

    @property
    def id(self) -> int:
        return self.user.id

    def next_message_id(self) -> int:
        """message_id increases by one per message in this chat, both directions."""
        message_id = self._next_id
        self._next_id += 1
        return message_id

    def live_message(self, message_id: int) -> StoredMessage | None:
        message = self.messages.get(message_id)
        return None if message is None or message.deleted else message

    def bot_messages(self) -> list[StoredMessage]:
        return [m for m in self.messages.values() if m.outgoing]


@dataclass
class FileRecord:
    """A stored file: the bytes, or the original to downscale on first download."""

    file_id: str
    file_unique_id: str
    file_size: int
    file_path: str
    data: bytes | None = None
    source: bytes | None = None
    max_side: int | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


@dataclass
class CallbackRecord:
    """A callback query waiting for answerCallbackQuery."""

    query_id: str
    created: float
    answered: bool = False
    answer: dict[str, Any] | None = None


@dataclass
class Checkout:
    """A pre-checkout query waiting for answerPreCheckoutQuery."""

    query_id: str
    created: float
    deadline: float
    answered: bool = False
    ok: bool | None = None
    error_message: str | None = None


@dataclass
class WebhookConfig:
    """A webhook set with setWebhook, and the last delivery error getWebhookInfo reports.

    A new object per setWebhook: the delivery threads compare identities to
    notice that the webhook they serve was replaced or deleted.
    """

    url: str
    secret_token: str
    max_connections: int
    ip_address: str
    allowed_updates: frozenset[str] | None
    last_error_date: int | None = None
    last_error_message: str | None = None

    def record_error(self, message: str) -> None:
        self.last_error_date = now()
        self.last_error_message = message


@dataclass
class Charge:
    """A paid invoice, refundable once."""

    charge_id: str
    user: UserInfo
    amount: int
    currency: str
    payload: str
    date: int
    refunded: bool = False
    subscription_period: int | None = None  # seconds; set for subscription payments


@dataclass
class Subscription:
    """A Stars subscription: bought through an invoice link, renewed each period.

    ``charges`` lists its payments' charge ids, the first payment first;
    ``expires`` is the end of the paid period (unix seconds). Renewal stops
    when the bot cancels it (editUserStarSubscription) or it has ended.
    """

    user: UserInfo
    invoice: dict[str, Any]
    charges: list[str]
    expires: int
    canceled: bool = False
    ended: bool = False


class BotState:
    """Everything one bot has: chats, pending updates, files, payments, commands."""

    def __init__(self, bot_id: int, settings: Settings):
        self.bot_id = bot_id
        self.settings = settings
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # anything: the driver's waits
        self.updates_changed = threading.Condition(self.lock)  # long polls, webhook workers
        # Update ids only ever grow, even across reset(): a running client keeps
        # its offset, and a restarted counter would make it confirm new updates.
        self.update_ids = itertools.count(first_update_id())
        self.poll_generation = 0
        self.closing = False
        # The webhook outlives reset(), as a polling client keeps polling; the
        # claims (queue key -> update id being posted) belong to delivery
        # threads that may still be running after a reset or a new webhook.
        self.webhook: WebhookConfig | None = None
        self.webhook_claims: dict[tuple[str, int], int] = {}
        self._clear()

    def _clear(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.allowed_updates: frozenset[str] | None = None
        self.chats: dict[int, Chat] = {}
        self.files: dict[str, FileRecord] = {}
        self.files_by_path: dict[str, FileRecord] = {}
        self.kept_uploads: deque[list[FileRecord]] = deque()
        self.photos: dict[str, list[dict[str, Any]]] = {}
        self.photo_bytes: dict[str, int] = {}
        self.documents: dict[str, dict[str, Any]] = {}  # file_id -> Document object
        self.callback_queries: dict[str, CallbackRecord] = {}
        self.checkouts: dict[str, Checkout] = {}
        self.charges: dict[str, Charge] = {}
        self.subscriptions: list[Subscription] = []
        self.transactions: list[dict[str, Any]] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.invoice_links: dict[str, dict[str, Any]] = {}
        self.last_set_webhook_at = float("-inf")
        # The bot's Stars, exactly: payments add, refunds and paid broadcasts take.
        self.star_nanos = nanostars(self.settings.star_balance)

    def reset(self) -> None:
        """Forget chats, updates, files and payments; keep the lock, update counter and webhook.

        A webhook stays set with its allowed_updates (getUpdates cannot change
        them while it is set); only its last error is forgotten.
        """
        with self.lock:
            self._clear()
            if self.webhook is not None:
                self.allowed_updates = self.webhook.allowed_updates
                self.webhook.last_error_date = self.webhook.last_error_message = None
            self.updates_moved()

    def close(self) -> None:
        """Release every waiter (long polls return, payment waits give up)."""
        with self.lock:
            self.closing = True
            self.updates_moved()

    def updates_moved(self) -> None:
        """Updates, the webhook or polling changed: wake polls, webhook workers and the driver.

        The caller holds the lock. Everything else the bot does wakes only the
        driver's waits, through ``changed.notify_all()``.
        """
        self.updates_changed.notify_all()
        self.changed.notify_all()

    # -- identity -----------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        """The bot as a User object (``from`` of its messages)."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.settings.bot_first_name,
            "username": f"emulated_{self.bot_id}_bot",
        }

    # -- chats --------------------------------------------------------------

    def ensure_chat(self, user: UserInfo) -> Chat:
        """The private chat with ``user``, created when they first write."""
        chat = self.chats.get(user.id)
        if chat is None:
            chat = self.chats[user.id] = Chat(user)
        return chat

    def chat_for(self, raw_chat_id: Any, *, sending: bool = False) -> Chat:
        """The chat a method addresses; Telegram's errors when there is none."""
        if raw_chat_id is None or raw_chat_id == "":
            raise bad_request("chat_id is empty")
        try:
            chat_id = int(str(raw_chat_id).strip())
        except ValueError:
            raise bad_request("chat not found") from None
        chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        if sending and chat.blocked:
            raise forbidden("bot was blocked by the user")
        return chat

    def add_message(self, chat: Chat, *, outgoing: bool, **fields: Any) -> StoredMessage:
        """Store a new message in ``chat`` and wake whoever waits for it."""
        sender = self.bot_user() if outgoing else chat.user.to_api()
        message = StoredMessage(
            chat.next_message_id(), chat, outgoing=outgoing, sender=sender, **fields
        )
        chat.messages[message.message_id] = message
        self.changed.notify_all()
        return message

    # -- updates ------------------------------------------------------------

    def wants(self, kind: str) -> bool:
        """Whether the bot's allowed_updates lets an update of ``kind`` be created."""
        if self.allowed_updates is None:
            return kind not in DEFAULT_EXCLUDED_UPDATES
        return kind in self.allowed_updates

    def push_update(self, kind: str, payload: dict[str, Any]) -> int | None:
        """Queue an update for getUpdates; None when allowed_updates filters it out."""
        if not self.wants(kind):
            return None
        update_id = next(self.update_ids)
        self.updates.append({"update_id": update_id, kind: payload})
        self.updates_moved()
        return update_id

    def remove_update(self, update_id: int) -> bool:
        """Forget one update (delivered to the webhook); False if it was already gone."""
        for index, update in enumerate(self.updates):
            if update["update_id"] == update_id:
                del self.updates[index]
                self.updates_moved()
                return True
        return False

    def confirm(self, offset: int) -> None:
        """Apply getUpdates' ``offset``: forget confirmed (or, if negative, older) updates."""
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]

    def set_allowed_updates(self, kinds: list[str] | None) -> None:
        """``[]`` means Telegram's default set; None keeps the previous choice."""
        if kinds is None:
            return
        self.allowed_updates = frozenset(kinds) if kinds else None
