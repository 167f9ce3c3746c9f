"""Credit packs sold for Telegram Stars (currency ``XTR``), and invoice payloads.

An invoice payload names the pack and the buyer (``pack:<id>:<telegram_id>``),
so a pre-checkout query or a successful payment can be checked against what
was offered: the pack must exist, the price must match, and the payer must be
the user the invoice was made for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CURRENCY = "XTR"
PAYLOAD_RE = re.compile(r"^pack:([a-z0-9_]{1,16}):([0-9]{1,20})$")


@dataclass(frozen=True)
class Pack:
    id: str
    credits: int
    stars: int  # price in Telegram Stars
    label: str


PACKS = (
    Pack("small", 10, 50, "10 credits"),
    Pack("medium", 25, 110, "25 credits"),
    Pack("large", 60, 240, "60 credits"),
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
        raise InvalidPayload("unknown invoice")
    pack = PACKS_BY_ID.get(match.group(1))
    if pack is None:
        raise InvalidPayload("this pack is no longer sold")
    if int(match.group(2)) != payer_id:
        raise InvalidPayload("this invoice was made for someone else")
    if currency != CURRENCY or total_amount != pack.stars:
        raise InvalidPayload("the price does not match the offer")
    return pack
