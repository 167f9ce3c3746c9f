"""What is sold for Telegram Stars (currency ``XTR``): credit packs and subscriptions.

An invoice payload names the offer and the buyer (``pack:<id>:<telegram_id>``,
``sub:<tier>:<telegram_id>``), so a pre-checkout query or a successful
payment can be checked against what was offered: the pack or tier must
exist, the price must match, and the payer must be the user the invoice was
made for. What a tier gives is in :mod:`tarotbot.tiers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tarotbot.i18n import N_
from tarotbot.tiers import SOLD_TIERS, Tier

CURRENCY = "XTR"
PAYLOAD_RE = re.compile(r"^pack:([a-z0-9_]{1,16}):([0-9]{1,20})$")
SUBSCRIPTION_PAYLOAD_RE = re.compile(r"^sub:([a-z_]{1,16}):([0-9]{1,20})$")
SOLD_TIERS_BY_NAME = {tier.name: tier for tier in SOLD_TIERS}


@dataclass(frozen=True)
class Pack:
    id: str
    credits: int
    stars: int  # price in Telegram Stars
    label: str


PACKS = (
    Pack("small", 10, 50, N_("10 credits")),
    Pack("medium", 25, 110, N_("25 credits")),
    Pack("large", 60, 240, N_("60 credits")),
)
PACKS_BY_ID = {pack.id: pack for pack in PACKS}


class InvalidPayload(ValueError):
    """An invoice payload or payment that does not match any offer we made."""


def invoice_payload(pack: Pack, telegram_id: int) -> str:
    return f"pack:{pack.id}:{telegram_id}"


def check_payment(payload: str, currency: str, total_amount: int, payer_id: int) -> Pack:
    """The pack a payment buys; :class:`InvalidPayload` when anything is off."""
    match = PAYLOAD_RE.match(payload or "")
    if not match:
        raise InvalidPayload(N_("unknown invoice"))
    pack = PACKS_BY_ID.get(match.group(1))
    if pack is None:
        raise InvalidPayload(N_("this pack is no longer sold"))
    if int(match.group(2)) != payer_id:
        raise InvalidPayload(N_("this invoice was made for someone else"))
    if currency != CURRENCY or total_amount != pack.stars:
        raise InvalidPayload(N_("the price does not match the offer"))
    return pack


def subscription_payload(tier: Tier, telegram_id: int) -> str:
    return f"sub:{tier.name}:{telegram_id}"


def is_subscription(payload: str | None) -> bool:
    return bool(payload) and payload.startswith("sub:")


def check_subscription(
    payload: str, currency: str, total_amount: int, payer_id: int, renewal: bool = False
) -> Tier:
    """The tier a subscription payment pays for; :class:`InvalidPayload` when anything is off.

    A ``renewal`` is not checked against today's price: Telegram renews at
    the price of the link the person subscribed with, and Stars already
    taken must be credited even after a price change.
    """
    match = SUBSCRIPTION_PAYLOAD_RE.match(payload or "")
    if not match:
        raise InvalidPayload(N_("unknown invoice"))
    tier = SOLD_TIERS_BY_NAME.get(match.group(1))
    if tier is None:
        raise InvalidPayload(N_("this subscription is no longer sold"))
    if int(match.group(2)) != payer_id:
        raise InvalidPayload(N_("this invoice was made for someone else"))
    if currency != CURRENCY or (not renewal and total_amount != tier.stars):
        raise InvalidPayload(N_("the price does not match the offer"))
    return tier


def check_offer(payload: str, currency: str, total_amount: int, payer_id: int) -> Pack | Tier:
    """A pack or a subscription tier, whichever the payload names (pre-checkout)."""
    if is_subscription(payload):
        return check_subscription(payload, currency, total_amount, payer_id)
    return check_payment(payload, currency, total_amount, payer_id)
