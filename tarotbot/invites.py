"""Invitations: a link per person; a new account started through it rewards both, once.

A code names the inviter and carries a keyed tag (``i<id in base 36>-<tag>``),
so it needs no table and cannot be guessed for someone else. The rules:

* only a *new* account is rewarded (not someone who already had one, nor
  someone whose earlier account was erased and who starts again);
* nobody is rewarded for their own code;
* one reward per new account (``invite_rewards`` is keyed by the invitee,
  and the ledger keys derive from it);
* at most ``INVITE_DAILY_CAP`` rewarded invitations per inviter and UTC day
  (checked under a lock on the inviter's row).

Both bonuses are ledger rows (``bonus``), written in one transaction with
the reward row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from tarotbot import ledger
from tarotbot.db import database, is_postgres
from tarotbot.models import InviteReward, User, utcnow

CODE_RE = re.compile(r"^i([0-9a-z]{1,13})-([0-9a-f]{8})$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = _DIGITS[rest] + out
        if not number:
            return out


def _tag(secret: bytes, user_id: int) -> str:
    return hmac.new(secret, f"invite:{user_id}".encode(), hashlib.sha256).hexdigest()[:8]


def code_for(user_id: int, secret: bytes) -> str:
    """The person's invitation code (a valid Telegram start parameter)."""
    return f"i{_base36(user_id)}-{_tag(secret, user_id)}"


def inviter_of(code: str | None, secret: bytes) -> int | None:
    """The user id a code names, or None for anything we did not make."""
    match = CODE_RE.match(code or "")
    if not match:
        return None
    user_id = int(match.group(1), 36)
    return user_id if hmac.compare_digest(match.group(2), _tag(secret, user_id)) else None


@dataclass(frozen=True)
class Reward:
    inviter_id: int
    inviter_telegram_id: int
    bonus: int
    inviter_balance: int


def redeem(
    invitee: User, code: str | None, secret: bytes, bonus: int, daily_cap: int
) -> Reward | None:
    """Reward a new account started through ``code`` and its inviter; None when nothing is due.

    Call it only for an account this very /start created. Idempotent: the
    reward row and the ledger keys derive from the invitee.
    """
    inviter_id = inviter_of(code, secret)
    if inviter_id is None or inviter_id == invitee.id or bonus <= 0:
        return None
    today = utcnow().date()
    with database.atomic():
        query = User.select().where(User.id == inviter_id)
        inviter = (query.for_update() if is_postgres() else query).first()
        if (
            inviter is None
            or inviter.erased_at is not None
            or inviter.created_at > invitee.created_at
        ):
            return None
        if InviteReward.get_or_none(InviteReward.invitee == invitee.id) is not None:
            return None
        given = (
            InviteReward.select()
            .where((InviteReward.inviter == inviter_id) & (InviteReward.day == today))
            .count()
        )
        if given >= daily_cap:
            return None
        InviteReward.create(invitee=invitee.id, inviter=inviter_id, day=today)
        ledger.grant_bonus(invitee.id, bonus, key=f"invite-{invitee.id}-new", reason="invited")
        entry = ledger.grant_bonus(
            inviter_id, bonus, key=f"invite-{invitee.id}-inviter", reason="invited a friend"
        )
    return Reward(inviter_id, inviter.telegram_id, bonus, entry.balance_after)
