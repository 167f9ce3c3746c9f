"""The emulator without HTTP: bots by id, the call pipeline, and the Python driver API.

A Bot API call goes through :meth:`Emulator.call`: token check (401), method
lookup (404), injected delay, injected fault, the paid broadcast's fee (400
when the bot's Stars cannot cover it), flood limits (429), then the method
itself; a fee taken for a call that then fails is given back. Statistics count
every call. The token is never logged: a bot is named by the digits before the
colon, its user id.

After each call the bot's webhook delivery is brought in step with its
webhook (started by setWebhook, stopped by deleteWebhook and by close()).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from botapi_emulator import (  # noqa: F401  (registers methods)
    driver,
    methods,
    payments,
    webhooks,
)
from botapi_emulator.delivery import Deliveries
from botapi_emulator.driver import DriverError
from botapi_emulator.errors import NOT_FOUND, UNAUTHORIZED, ApiError, bad_request
from botapi_emulator.limits import Faults, FloodControl, Stats, make_fault
from botapi_emulator.params import Params
from botapi_emulator.registry import Method, find_method
from botapi_emulator.state import (
    PAID_BROADCAST_FEE,
    BotState,
    Settings,
    nanostars,
    star_amount,
)

log = logging.getLogger("botapi_emulator")

TOKEN_RE = re.compile(r"^(\d+):([A-Za-z0-9_-]+)$")
# The emulator's wording: Telegram's own text for this refusal is not known.
NOT_ENOUGH_STARS = "not enough Stars to pay for the broadcast"


class Disconnect(Exception):
    """An injected fault that drops the connection instead of answering."""


def bot_id_of(token: str) -> int | None:
    """The bot's user id (digits before the colon), or None for a malformed token."""
    match = TOKEN_RE.match(token)
    return int(match.group(1)) if match else None


def _chat_id(values: dict[str, Any]) -> int | None:
    try:
        return int(str(values.get("chat_id")).strip())
    except (TypeError, ValueError):
        return None


class Emulator:
    """Telegram's Bot API for any number of bots, plus the user-side driver.

    ``default_bot`` (a token or bot id) is the bot driver calls address when
    they name none; without it, the only bot that has been seen is used.
    Keyword arguments override :class:`Settings` (e.g. ``pre_checkout_timeout``).
    """

    def __init__(self, *, default_bot: str | int | None = None, **settings: Any):
        self.settings = Settings(**settings)
        nanostars(self.settings.star_balance)  # a bad star_balance fails here, not later
        self.bots: dict[int, BotState] = {}
        self._bots_lock = threading.Lock()
        self.faults = Faults()
        self.flood = FloodControl()
        self.stats = Stats()
        self.webhooks = Deliveries(self.stats, self._webhook_reply)
        self.default_bot_id = self._bot_id(default_bot) if default_bot is not None else None

    # -- bots --------------------------------------------------------------

    def _bot_id(self, bot: str | int) -> int:
        if isinstance(bot, int):
            return bot
        text = str(bot).strip()
        if text.isdigit():
            return int(text)
        bot_id = bot_id_of(text)
        if bot_id is None:
            raise DriverError("bot must be a bot id or a token of the form <digits>:<secret>")
        return bot_id

    def bot_state(self, bot: str | int) -> BotState:
        """The state of one bot, created on first mention."""
        bot_id = self._bot_id(bot)
        with self._bots_lock:
            state = self.bots.get(bot_id)
            if state is None:
                state = self.bots[bot_id] = BotState(bot_id, self.settings)
            return state

    def resolve_bot(self, bot: str | int | None = None) -> BotState:
        """The bot a driver call addresses: the named one, the default, or the only one."""
        if bot is not None:
            return self.bot_state(bot)
        if self.default_bot_id is not None:
            return self.bot_state(self.default_bot_id)
        with self._bots_lock:
            known = list(self.bots.values())
        if len(known) == 1:
            return known[0]
        if not known:
            raise DriverError("no bot has called the API yet: name the bot (bot_id or token)")
        raise DriverError("several bots are known: name the bot (bot_id or token)")

    # -- the Bot API -------------------------------------------------------

    def call(self, token: str, method_name: str, values: dict[str, Any]) -> Any:
        """Run one Bot API call; return its result or raise ApiError / Disconnect."""
        bot_id = bot_id_of(token)
        if bot_id is None:
            self.stats.record(method_name, UNAUTHORIZED)
            raise UNAUTHORIZED
        method = find_method(method_name)
        if method is None:
            log.info("bot %s: %s is not emulated (404)", bot_id, method_name)
            self.stats.record(method_name, NOT_FOUND)
            raise NOT_FOUND
        bot = self.bot_state(bot_id)
        self._delay(method.name)
        self._injected_fault(method.name)
        params = Params(values)
        paid = method.paid_broadcast and params.flag("allow_paid_broadcast")
        if paid:
            self._take_fee(bot, method.name)
        try:
            if method.flood_counted:
                self._flood_limit(bot, method.name, values, paid=paid)
            result = self._run(bot, method, params)
        except BaseException:
            if paid:
                with bot.lock:
                    bot.star_nanos += PAID_BROADCAST_FEE  # nothing was sent: no charge
            raise
        if paid:
            self._paid_broadcast_sent(bot, result)
        self.webhooks.sync(bot)
        return result

    def _run(self, bot: BotState, method: Method, params: Params) -> Any:
        """The method itself, counted in the statistics."""
        try:
            result = method.handler(bot, params)
        except ApiError as exc:
            log.debug(
                "bot %s: %s -> %s %s", bot.bot_id, method.name, exc.error_code, exc.description
            )
            self.stats.record(method.name, exc)
            raise
        self.stats.record(method.name, None)
        log.debug("bot %s: %s -> ok", bot.bot_id, method.name)
        return result

    def _take_fee(self, bot: BotState, name: str) -> None:
        """Withdraw a paid broadcast's 0.1 Star, or refuse the call (400) if the balance is short."""
        with bot.lock:
            if bot.star_nanos < PAID_BROADCAST_FEE:
                error = bad_request(NOT_ENOUGH_STARS)
                self.stats.record(name, error)
                log.debug(
                    "bot %s: %s -> 400, not enough Stars for a paid broadcast", bot.bot_id, name
                )
                raise error
            bot.star_nanos -= PAID_BROADCAST_FEE

    def _paid_broadcast_sent(self, bot: BotState, result: Any) -> None:
        """Count a paid broadcast and mark its message as one in the driver's view."""
        self.stats.record_paid_broadcast(PAID_BROADCAST_FEE)
        if not isinstance(result, dict) or "message_id" not in result:
            return
        with bot.lock:
            chat = bot.chats.get(result.get("chat", {}).get("id"))
            message = chat.messages.get(result["message_id"]) if chat else None
            if message is not None:
                message.paid_broadcast = True

    def _webhook_reply(self, bot_id: int, method: str, values: dict[str, Any]) -> None:
        """Run the Bot API call a webhook answered with, as that bot (the result is dropped)."""
        self.call(f"{bot_id}:webhook-reply", method, values)

    def _delay(self, name: str) -> None:
        delay = self.faults.delay_for(name)
        if delay:
            time.sleep(delay)

    def _injected_fault(self, name: str) -> None:
        """Fail this call if a fault is queued for the method (counted in stats)."""
        fault = self.faults.take(name)
        if fault is None:
            return
        error = fault.error()
        self.stats.record(name, error, fault=True)
        log.debug(
            "%s: injected fault %s", name, "disconnect" if fault.disconnect else error.error_code
        )
        if fault.disconnect:
            raise Disconnect(name)
        raise error

    def _flood_limit(
        self, bot: BotState, name: str, values: dict[str, Any], *, paid: bool = False
    ) -> None:
        """429 when the bot or the chat is over Telegram's rate (if limits are enforced).

        ``paid``: a paid broadcast, counted against the bot's paid rate instead.
        """
        try:
            self.flood.check(bot.bot_id, _chat_id(values), paid=paid)
        except ApiError as exc:
            self.stats.record(name, exc, flood=True)
            raise

    def file_content(self, token: str, file_path: str) -> bytes | None:
        bot_id = bot_id_of(token)
        if bot_id is None or bot_id not in self.bots:
            return None
        return methods.file_content(self.bots[bot_id], file_path)

    # -- the user's side (driver) ----------------------------------------

    def send(self, user_id: int, text: str | None = None, *, bot=None, **options) -> dict:
        """User ``user_id`` writes ``text`` (or ``sticker=True`` / ``photo=True``).

        Options: ``first_name``, ``username``, ``language_code``, ``caption``.
        Returns ``{"update_id", "message_id", "chat_id"}``.
        """
        return driver.send(self.resolve_bot(bot), user_id, text, **options)

    def tap(self, user_id: int, message_id: int, data: str, *, bot=None) -> dict:
        """User taps a button of ``message_id`` with callback ``data`` (need not exist)."""
        return driver.tap(self.resolve_bot(bot), user_id, message_id, data)

    def pay(
        self,
        user_id: int,
        message_id: int | None = None,
        *,
        invoice_link: str | None = None,
        timeout: float | None = None,
        deliver: bool = True,
        bot=None,
    ) -> dict:
        """User pays an invoice; blocks until the bot answers pre-checkout (or times out).

        ``deliver=False``: the payment happens but its update is lost on the way.
        """
        return driver.pay(
            self.resolve_bot(bot),
            user_id,
            message_id,
            invoice_link=invoice_link,
            timeout=timeout,
            deliver=deliver,
        )

    def renew(
        self, user_id: int, charge_id: str | None = None, *, deliver: bool = True, bot=None
    ) -> dict:
        """Advance the user's subscription to its next period (a renewal, or its end)."""
        return driver.renew(self.resolve_bot(bot), user_id, charge_id, deliver=deliver)

    def subscriptions(self, user_id: int, *, bot=None) -> list[dict]:
        """The user's subscriptions (charges, period end, cancelled, ended)."""
        return driver.subscriptions_view(self.resolve_bot(bot), user_id)

    def drop_updates(self, update_ids: list[int] | None = None, *, bot=None) -> list[int]:
        """Forget pending updates (all, or those named), as Telegram does after 24 hours."""
        return driver.drop_updates(self.resolve_bot(bot), update_ids)

    def block(self, user_id: int, blocked: bool = True, *, bot=None) -> dict:
        """User blocks the bot (sends then get 403) or, with ``blocked=False``, unblocks it."""
        return driver.set_blocked(self.resolve_bot(bot), user_id, blocked)

    def chat(self, chat_id: int, *, include_user: bool = False, bot=None) -> dict:
        """The chat as the driver sees it: bot messages with edits and deletions, actions."""
        return driver.chat_view(self.resolve_bot(bot), chat_id, include_user=include_user)

    def messages(self, chat_id: int, *, bot=None) -> list[dict]:
        """The bot's messages in the chat, oldest first ([] if the chat is unknown)."""
        return driver.bot_messages(self.resolve_bot(bot), chat_id)

    def actions(self, chat_id: int, *, bot=None) -> list[dict]:
        """The bot's chat actions in the chat, oldest first ([] if the chat is unknown).

        Each is ``{"action", "date", "stored_at"}``: ``date`` is ``time.time()``,
        ``stored_at`` is on the clock of a stored message's ``stored_at``
        (``time.monotonic()``), so the two can be compared.
        """
        return driver.chat_actions(self.resolve_bot(bot), chat_id)

    def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 5.0, *, bot=None
    ) -> list[dict]:
        """Block until the bot has sent ``count`` messages to the chat; DriverError on timeout."""
        return driver.wait_for_messages(self.resolve_bot(bot), chat_id, count, timeout)

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0, *, bot=None) -> Any:
        """Block until ``predicate()`` is truthy (re-checked whenever the bot acts)."""
        return driver.wait_until(self.resolve_bot(bot), predicate, timeout)

    def callback_answer(self, query_id: str, timeout: float = 5.0, *, bot=None) -> dict:
        """Block until the bot answers callback query ``query_id``; return the answer."""
        return driver.callback_answer(self.resolve_bot(bot), query_id, timeout)

    def pending_updates(self, *, bot=None) -> list[dict]:
        """Updates the bot has not confirmed yet."""
        return driver.pending_updates(self.resolve_bot(bot))

    # -- faults, limits, statistics ----------------------------------------

    def inject_fault(
        self,
        method: str,
        error_code: int | None = None,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        count: int = 1,
        disconnect: bool = False,
    ) -> None:
        """The next ``count`` calls of ``method`` (``*``: any) fail with ``error_code``.

        ``disconnect=True`` drops the connection without an answer instead.
        ``count=0`` clears the method's pending faults.
        """
        fault = make_fault(error_code, description, retry_after, count, disconnect)
        self.faults.add(method, fault)

    def set_delay(self, method: str, delay_ms: float) -> None:
        """Slow every call of ``method`` (``*``: any) by ``delay_ms``; 0 removes it."""
        self.faults.set_delay(method, delay_ms)

    def set_limits(self, enforce: bool = True, **rates: Any) -> dict:
        """Enforce (or stop enforcing) flood limits; see limits.FloodConfig for ``rates``."""
        return asdict(self.flood.configure(enforce=enforce, **rates))

    def set_star_balance(self, stars: int | float | str, *, bot=None) -> dict:
        """Set the bot's Stars balance (e.g. ``100`` or ``"0.3"``); returns it as a StarAmount."""
        try:
            nanos = nanostars(stars)
        except ValueError as exc:
            raise DriverError(str(exc)) from None
        state = self.resolve_bot(bot)
        with state.lock:
            state.star_nanos = nanos
            return star_amount(nanos)

    def star_balance(self, *, bot=None) -> dict:
        """The bot's Stars balance as getMyStarBalance answers it (a StarAmount)."""
        state = self.resolve_bot(bot)
        with state.lock:
            return star_amount(state.star_nanos)

    def get_stats(self) -> dict:
        """Calls per method, errors per method and code, 429s served."""
        snapshot = self.stats.snapshot()
        snapshot["pending_faults"] = self.faults.pending()
        snapshot["limits"] = asdict(self.flood.config)
        return snapshot

    def reset_stats(self) -> None:
        self.stats.reset()

    def reset(self) -> None:
        """Forget every chat, update, payment, fault, limit and statistic."""
        with self._bots_lock:
            bots = list(self.bots.values())
        for bot in bots:
            bot.reset()
        self.faults.reset()
        self.flood.reset()
        self.stats.reset()

    def close(self) -> None:
        """Release every waiting long poll and payment (and answer later polls at once).

        Webhook deliveries stop too, posts in flight are cut (their updates stay
        pending); this waits for the delivery threads for about a second at most.
        """
        with self._bots_lock:
            bots = list(self.bots.values())
        for bot in bots:
            bot.close()
        self.webhooks.close()

    def reopen(self) -> None:
        """Undo :meth:`close`: long polls wait again, webhooks are delivered again."""
        with self._bots_lock:
            bots = list(self.bots.values())
        for bot in bots:
            bot.closing = False
            self.webhooks.sync(bot)
