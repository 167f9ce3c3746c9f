"""setWebhook, deleteWebhook and getWebhookInfo, with Telegram's checks and wording.

Setting a webhook only records it (:class:`WebhookConfig` on the bot's state);
``delivery.py`` notices and posts the pending updates there. The checks, and
where the emulator relaxes Telegram's rules (plain http to loopback, any
port), are in docs/emulator.md ("Webhooks").
"""

from __future__ import annotations

import ipaddress
import re
import time
from typing import Any
from urllib.parse import SplitResult, urlsplit

from botapi_emulator.errors import bad_request, too_many_requests
from botapi_emulator.params import Params
from botapi_emulator.registry import Described, api_method
from botapi_emulator.state import BotState, WebhookConfig

DEFAULT_MAX_CONNECTIONS = 40
MAX_CONNECTIONS = 100
MAX_SECRET_TOKEN = 256
SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]*$")
INVALID_URL = "invalid webhook URL specified"
HTTPS_REQUIRED = "bad webhook: An HTTPS URL must be provided for webhook"


def webhook_target(url: str) -> SplitResult:
    """The URL split into parts; like Telegram, a URL without a scheme means HTTPS."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    try:
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise bad_request(INVALID_URL) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise bad_request(INVALID_URL)
    if parts.scheme.lower() == "http" and not is_loopback(parts.hostname):
        raise bad_request(HTTPS_REQUIRED)
    return parts


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: the only hosts plain HTTP may be posted to."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ip_address(host: str) -> str:
    """What getWebhookInfo shows as ``ip_address`` (no DNS lookups here)."""
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return "<unknown>"


def _secret_token(p: Params) -> str:
    """The optional secret_token: at most 256 characters of A-Z, a-z, 0-9, _ and -."""
    secret = p.string("secret_token", "") or ""
    if len(secret) > MAX_SECRET_TOKEN:
        raise bad_request("secret token is too long")
    if not SECRET_TOKEN_RE.match(secret):
        raise bad_request("secret token contains unallowed characters")
    return secret


def _max_connections(p: Params) -> int:
    """Clamped to 1-100 as Telegram does (no error for values outside)."""
    value = p.integer("max_connections", DEFAULT_MAX_CONNECTIONS)
    return min(MAX_CONNECTIONS, max(1, DEFAULT_MAX_CONNECTIONS if value is None else value))


def _throttle(bot: BotState) -> None:
    """Telegram refuses a second setWebhook with a URL within a second: 429 retry after 1."""
    at = time.monotonic()
    with bot.lock:
        if at < bot.last_set_webhook_at + bot.settings.set_webhook_interval:
            raise too_many_requests(1)
        bot.last_set_webhook_at = at


@api_method("setWebhook")
def set_webhook(bot: BotState, p: Params) -> Described:
    """Record the webhook; an empty ``url`` deletes it, as on Telegram."""
    url = p.string("url", "") or ""
    if not url:
        return _delete(bot, p.flag("drop_pending_updates"))
    _throttle(bot)
    target = webhook_target(url)
    secret = _secret_token(p)
    max_connections = _max_connections(p)
    kinds = p.decoded_json("allowed_updates", error="can't parse allowed_updates JSON object")
    drop = p.flag("drop_pending_updates")
    with bot.lock:
        current = bot.webhook
        unchanged = current is not None and (current.url, current.secret_token) == (url, secret)
        bot.set_allowed_updates(kinds if isinstance(kinds, list) else None)
        if unchanged and current.max_connections == max_connections and not drop:
            current.allowed_updates = bot.allowed_updates
            return Described(True, "Webhook is already set")
        if drop:
            bot.updates.clear()
        bot.webhook = WebhookConfig(
            url=url,
            secret_token=secret,
            max_connections=max_connections,
            ip_address=_ip_address(target.hostname or ""),
            allowed_updates=bot.allowed_updates,
        )
        bot.updates_moved()  # a waiting getUpdates ends with 409
    return Described(True, "Webhook was set")


@api_method("deleteWebhook")
def delete_webhook(bot: BotState, p: Params) -> Described:
    """Stop deliveries; pending updates wait for getUpdates (or are dropped if asked)."""
    return _delete(bot, p.flag("drop_pending_updates"))


def _delete(bot: BotState, drop_pending_updates: bool) -> Described:
    with bot.lock:
        was_set = bot.webhook is not None
        bot.webhook = None
        if drop_pending_updates:
            bot.updates.clear()
        bot.updates_moved()
    return Described(True, "Webhook was deleted" if was_set else "Webhook is already deleted")


@api_method("getWebhookInfo")
def get_webhook_info(bot: BotState, p: Params) -> dict[str, Any]:
    """Telegram's WebhookInfo: optional fields appear only when they have a value."""
    with bot.lock:
        hook = bot.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if hook is not None:
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
            info["max_connections"] = hook.max_connections
            info["ip_address"] = hook.ip_address
        if bot.allowed_updates is not None:
            info["allowed_updates"] = sorted(bot.allowed_updates)
        return info
