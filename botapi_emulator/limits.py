"""Flood limits, injected faults and call statistics.

Flood limits (off until enabled) are token buckets per bot, one per chat and
one for the bot overall, drawn on by the methods registered as counted; an
empty bucket answers 429 with ``retry_after`` and consumes nothing. A message
sent with ``allow_paid_broadcast`` draws on the bot's paid bucket (1000/s)
instead of the overall one; its chat's bucket still applies. The rates,
bursts and answers are in docs/emulator.md ("Faults, flood limits, statistics").
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from botapi_emulator.errors import FAULT_DESCRIPTIONS, ApiError, too_many_requests


@dataclass
class FloodConfig:
    """What is enforced; rates in messages per second, bursts in messages."""

    enforce: bool = False
    per_chat_rate: float = 1.0
    per_chat_burst: int = 3
    global_rate: float = 30.0
    global_burst: int = 30
    paid_rate: float = 1000.0  # messages sent with allow_paid_broadcast
    paid_burst: int = 1000


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second."""

    def __init__(self, rate: float, burst: int, at: float):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = at

    def _refill(self, at: float) -> None:
        self.tokens = min(self.burst, self.tokens + (at - self.updated) * self.rate)
        self.updated = at

    def wait(self, at: float) -> float:
        """Seconds until one token is available (0 when one is there now)."""
        self._refill(at)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


class FloodControl:
    """Per-bot and per-chat buckets; raises 429 when either is empty."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config = FloodConfig()
        self.buckets: dict[tuple[int, int | str], TokenBucket] = {}

    def configure(self, **changes: Any) -> FloodConfig:
        """Change the limits; buckets restart full."""
        with self.lock:
            known = {k: v for k, v in changes.items() if k in FloodConfig.__dataclass_fields__}
            self.config = FloodConfig(**{**asdict(self.config), **known})
            self.buckets.clear()
            return self.config

    def check(self, bot_id: int, chat_id: int | None, *, paid: bool = False) -> None:
        """Admit one counted call or raise 429 with Telegram's retry_after.

        ``paid``: a paid broadcast, drawn from the paid bucket instead of the
        bot's overall one.
        """
        with self.lock:
            if not self.config.enforce:
                return
            at = time.monotonic()
            buckets = [self._bucket(bot_id, "paid" if paid else "all", at)]
            if chat_id is not None:
                buckets.append(self._bucket(bot_id, chat_id, at))
            wait = max(bucket.wait(at) for bucket in buckets)
            if wait > 0:
                raise too_many_requests(wait)
            for bucket in buckets:
                bucket.take()

    def _bucket(self, bot_id: int, scope: int | str, at: float) -> TokenBucket:
        """The bucket of a chat (its id), of the bot overall ("all") or of its paid broadcasts."""
        key = (bot_id, scope)
        bucket = self.buckets.get(key)
        if bucket is None:
            cfg = self.config
            if scope == "all":
                bucket = TokenBucket(cfg.global_rate, cfg.global_burst, at)
            elif scope == "paid":
                bucket = TokenBucket(cfg.paid_rate, cfg.paid_burst, at)
            else:
                bucket = TokenBucket(cfg.per_chat_rate, cfg.per_chat_burst, at)
            self.buckets[key] = bucket
        return bucket

    def reset(self) -> None:
        with self.lock:
            self.config = FloodConfig()
            self.buckets.clear()


@dataclass
class Fault:
    """The next ``remaining`` calls of a method fail this way."""

    error_code: int
    description: str
    retry_after: int | None
    remaining: int
    disconnect: bool = False

    def error(self) -> ApiError:
        return ApiError(self.error_code, self.description, retry_after=self.retry_after)


def make_fault(
    error_code: int | None = None,
    description: str | None = None,
    retry_after: int | None = None,
    count: int = 1,
    disconnect: bool = False,
) -> Fault:
    """A fault with Telegram's wording filled in where the caller gave none."""
    code = int(error_code or (502 if disconnect else 500))
    if code == 429:
        retry_after = int(retry_after or 1)
        description = description or f"Too Many Requests: retry after {retry_after}"
    return Fault(
        error_code=code,
        description=description or FAULT_DESCRIPTIONS.get(code, f"Error {code}"),
        retry_after=retry_after if code == 429 else None,
        remaining=int(count),
        disconnect=disconnect,
    )


class Faults:
    """Injected failures and delays, keyed by lower-case method name (``*`` = any)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queued: dict[str, list[Fault]] = {}
        self.delays: dict[str, float] = {}

    def add(self, method: str, fault: Fault) -> None:
        """Queue ``fault``; a count of 0 clears the method's queued faults instead."""
        key = method.lower()
        with self.lock:
            if fault.remaining <= 0:
                self.queued.pop(key, None)
                return
            self.queued.setdefault(key, []).append(fault)

    def set_delay(self, method: str, delay_ms: float) -> None:
        """Slow every call of ``method`` by ``delay_ms``; 0 removes the delay."""
        key = method.lower()
        with self.lock:
            if delay_ms and delay_ms > 0:
                self.delays[key] = delay_ms / 1000.0
            else:
                self.delays.pop(key, None)

    def delay_for(self, method: str) -> float:
        with self.lock:
            return self.delays.get(method.lower(), 0.0) + self.delays.get("*", 0.0)

    def take(self, method: str) -> Fault | None:
        """The fault this call must suffer, if any (consumes one count)."""
        with self.lock:
            for key in (method.lower(), "*"):
                faults = self.queued.get(key)
                if faults:
                    fault = faults[0]
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        faults.pop(0)
                    return fault
            return None

    def pending(self) -> dict[str, int]:
        with self.lock:
            return {k: sum(f.remaining for f in v) for k, v in self.queued.items() if v}

    def reset(self) -> None:
        with self.lock:
            self.queued.clear()
            self.delays.clear()


@dataclass
class Stats:
    """Calls per method, errors per method and code, the 429s served, webhook posts.

    ``webhook_deliveries`` counts updates a webhook accepted (2xx);
    ``webhook_failures`` counts posts that failed and will be retried.
    ``paid_broadcasts`` counts messages sent with ``allow_paid_broadcast``,
    ``paid_broadcast_nanostars`` the Stars they cost (exactly, in nanostars).
    """

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    calls: Counter = field(default_factory=Counter)
    errors: dict[str, Counter] = field(default_factory=dict)
    responses_429: int = 0
    flood_limited: int = 0
    faults_injected: int = 0
    webhook_deliveries: int = 0
    webhook_failures: int = 0
    paid_broadcasts: int = 0
    paid_broadcast_nanostars: int = 0

    def record(self, method: str, error: ApiError | None, *, flood=False, fault=False) -> None:
        with self.lock:
            self.calls[method] += 1
            if error is None:
                return
            self.errors.setdefault(method, Counter())[error.error_code] += 1
            if error.error_code == 429:
                self.responses_429 += 1
            self.flood_limited += int(flood)
            self.faults_injected += int(fault)

    def record_paid_broadcast(self, fee_nanostars: int) -> None:
        with self.lock:
            self.paid_broadcasts += 1
            self.paid_broadcast_nanostars += fee_nanostars

    def record_webhook(self, *, delivered: bool) -> None:
        with self.lock:
            if delivered:
                self.webhook_deliveries += 1
            else:
                self.webhook_failures += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": dict(self.calls),
                "total_calls": sum(self.calls.values()),
                "errors": {m: {str(c): n for c, n in e.items()} for m, e in self.errors.items()},
                "responses_429": self.responses_429,
                "flood_limited": self.flood_limited,
                "faults_injected": self.faults_injected,
                "webhook_deliveries": self.webhook_deliveries,
                "webhook_failures": self.webhook_failures,
                "paid_broadcasts": self.paid_broadcasts,
                "paid_broadcast_stars": self.paid_broadcast_nanostars / 1_000_000_000,
                "paid_broadcast_nanostars": self.paid_broadcast_nanostars,
            }

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.errors.clear()
            self.responses_429 = self.flood_limited = self.faults_injected = 0
            self.webhook_deliveries = self.webhook_failures = 0
            self.paid_broadcasts = self.paid_broadcast_nanostars = 0
