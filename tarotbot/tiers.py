"""What each subscription tier gives: the one table every part of the bot reads.

``basic`` is free and everyone's; ``premium`` and ``professional`` are sold
as Telegram Stars subscriptions (30-day periods, renewed by Telegram until
cancelled). A tier gives, per paid period:

* ``monthly_credits``: credits added with each payment (the first and every
  renewal), through the ledger, once per Telegram charge;
* ``discount_percent``: off each spread's price (rounded up, never below 1
  credit; :func:`spread_price`);
* ``daily_card``: the daily card (read by the daily-card feature);
* ``priority``: readings go to the higher-priority queue, which workers
  take before the ordinary one.

A tier counts while ``subscription_expires_at`` is in the future
(:func:`effective_tier`): the expiry job sets the row back to ``basic``
within minutes, but nothing waits for it. Pure data and arithmetic: no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tarotbot.i18n import N_

#: Telegram's only subscription period, in seconds (30 days).
SUBSCRIPTION_PERIOD = 30 * 24 * 3600
BASIC = "basic"


@dataclass(frozen=True)
class Tier:
    name: str  # stable id, as stored in users.subscription_tier
    title: str
    stars: int  # price of a 30-day period in Telegram Stars; 0: free
    monthly_credits: int
    discount_percent: int  # off each spread's price
    daily_card: bool
    priority: bool  # readings on the priority queue

    @property
    def sold(self) -> bool:
        return self.stars > 0


TIERS = (
    Tier(BASIC, N_("Basic"), 0, 0, 0, daily_card=False, priority=False),
    Tier("premium", N_("Premium"), 150, 30, 25, daily_card=True, priority=False),
    Tier("professional", N_("Professional"), 400, 100, 50, daily_card=True, priority=True),
)
TIERS_BY_NAME = {tier.name: tier for tier in TIERS}
SOLD_TIERS = tuple(tier for tier in TIERS if tier.sold)


def get_tier(name: str | None) -> Tier:
    """The tier called ``name``; an unknown or missing name is basic."""
    return TIERS_BY_NAME.get(name or BASIC, TIERS_BY_NAME[BASIC])


def effective_tier(
    name: str | None, expires_at: dt.datetime | None, now: dt.datetime | None = None
) -> Tier:
    """The tier that applies now: ``name`` until ``expires_at`` (None: no end), then basic."""
    tier = get_tier(name)
    if tier.name == BASIC or expires_at is None:
        return tier
    now = now or dt.datetime.now(dt.UTC)
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    return tier if expires_at > now else TIERS_BY_NAME[BASIC]


def spread_price(tier: Tier, cost: int) -> int:
    """A spread's price in credits for ``tier``: ``cost`` less the discount, rounded up, ≥ 1."""
    return max(1, -(-cost * (100 - tier.discount_percent) // 100))
