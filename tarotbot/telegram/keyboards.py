"""Inline keyboards and the callback data they carry.

Callback data is short text (Telegram allows 64 bytes) in a fixed grammar;
:func:`parse_callback` accepts only that grammar, so a stale or forged button
becomes :class:`ForgedCallback` and a polite answer, never a crash or a write.
Everything a callback names (spread, reading id, cursor) is checked again by
the code that acts on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tarotbot.packs import PACKS, PACKS_BY_ID
from tarotbot.tarot.spreads import SPREADS
from tarotbot.tiers import SOLD_TIERS, TIERS_BY_NAME, Tier, spread_price


class ForgedCallback(ValueError):
    """Callback data that no keyboard of ours produced."""


@dataclass(frozen=True)
class Action:
    """One kind of button: the grammar of its data and how the bot treats a press.

    ``handler`` names the :class:`~tarotbot.telegram.bot.TarotBot` method
    that handles it; ``keeps_step``: pressing it does not end a half-done
    reading request (the buttons of that request); ``needs_account``: only
    for people who have sent /start.
    """

    name: str
    pattern: re.Pattern
    handler: str
    keeps_step: bool = False
    needs_account: bool = False
    allowed: frozenset[str] | None = None  # the values its first argument may take


#: The dispatch table: a button's first character names its action.
ACTIONS = {
    "m": Action("menu", re.compile(r"^m:(read|hist|buy|help|sub)$"), "on_menu_button"),
    "s": Action(
        "spread",
        re.compile(r"^s:([a-z_]{1,20})$"),
        "on_spread_button",
        keeps_step=True,
        needs_account=True,
        allowed=frozenset(SPREADS),
    ),
    "q": Action(
        "noq",
        re.compile(r"^q:([a-z_]{1,20})$"),
        "on_no_question_button",
        keeps_step=True,
        needs_account=True,
        allowed=frozenset(SPREADS),
    ),
    "x": Action("cancel", re.compile(r"^x(?::(buy))?$"), "on_cancel_button", keeps_step=True),
    "h": Action("hist", re.compile(r"^h:([on]):([0-9a-z.]{1,40})$"), "on_history_button"),
    "r": Action("open", re.compile(r"^r:([0-9]{1,19})$"), "on_open_button"),
    "v": Action("rev", re.compile(r"^v:(on|off)$"), "on_reversals_button", needs_account=True),
    "b": Action(
        "buy",
        re.compile(r"^b:([a-z0-9_]{1,16})$"),
        "on_buy_button",
        allowed=frozenset(PACKS_BY_ID),
    ),
    "u": Action(
        "subscription",
        re.compile(r"^u:([a-z_]{1,16})$"),
        "on_subscription_button",
        needs_account=True,
        allowed=frozenset(tier.name for tier in SOLD_TIERS) | {"cancel", "resume"},
    ),
}


@dataclass(frozen=True)
class Callback:
    action: str  # menu, spread, noq, cancel, hist, open, rev, buy, subscription
    arg: str = ""
    arg2: str = ""
    rule: Action | None = None  # the table's entry (None only when built by hand)


def parse_callback(data: str | None) -> Callback:
    """Parse callback data strictly; anything else is :class:`ForgedCallback`."""
    if not data or len(data.encode()) > 64:
        raise ForgedCallback(data)
    rule = ACTIONS.get(data[0])
    match = rule.pattern.fullmatch(data) if rule else None
    if not match:
        raise ForgedCallback(data)
    callback = Callback(rule.name, *(match.groups()[:2]), rule=rule)
    if rule.allowed is not None and callback.arg not in rule.allowed:
        raise ForgedCallback(data)
    return callback


def button(text: str, data: str) -> dict:
    return {"text": text, "callback_data": data}


def markup(rows: list[list[dict]]) -> dict:
    """Bot API ``InlineKeyboardMarkup`` as plain JSON (it travels in job payloads)."""
    return {"inline_keyboard": rows}


def main_menu() -> dict:
    return markup(
        [
            [button("🔮 Get a reading", "m:read")],
            [button("📜 History", "m:hist"), button("⭐ Buy credits", "m:buy")],
        ]
    )


#: Marks a spread the balance cannot cover in the /reading menu.
UNAFFORDABLE = "🔒"


def spreads_menu(balance: int | None = None, tier: Tier | None = None) -> dict:
    """The nine spreads at ``tier``'s prices; those ``balance`` cannot cover are marked 🔒."""
    tier = tier or TIERS_BY_NAME["basic"]
    rows = []
    for spread in sorted(SPREADS.values(), key=lambda s: (s.cost, s.title)):
        price = spread_price(tier, spread.cost)
        mark = f"{UNAFFORDABLE} " if balance is not None and balance < price else ""
        rows.append([button(f"{mark}{spread.title} · {price}🪙", f"s:{spread.name}")])
    rows.append([button("✖️ Cancel", "x")])
    return markup(rows)


def question_menu(spread_name: str) -> dict:
    return markup([[button("🌌 No question", f"q:{spread_name}"), button("✖️ Cancel", "x")]])


def after_reading() -> dict:
    return markup([[button("🔮 Another reading", "m:read"), button("📜 History", "m:hist")]])


def buy_menu() -> dict:
    rows = [[button(f"{p.label} · {p.stars}⭐", f"b:{p.id}")] for p in PACKS]
    rows.append([button("🌟 Subscriptions", "m:sub"), button("✖️ Cancel", "x:buy")])
    return markup(rows)


def subscription_offers() -> dict:
    """One button per tier sold (/subscription while on Basic)."""
    rows = [[button(f"🌟 {t.title} · {t.stars}⭐ a month", f"u:{t.name}")] for t in SOLD_TIERS]
    rows.append([button("✖️ Cancel", "x:buy")])
    return markup(rows)


def subscription_manage(canceled: bool) -> dict:
    """Cancel renewal, or turn it on again (/subscription while subscribed)."""
    if canceled:
        return markup([[button("🔁 Renew automatically again", "u:resume")]])
    return markup([[button("✖️ Cancel renewal", "u:cancel")]])


def subscribe_link(url: str, stars: int) -> dict:
    """The invoice link Telegram opens to confirm a subscription."""
    return markup([[{"text": f"⭐ Subscribe · {stars}⭐ a month", "url": url}]])


def not_enough_credits() -> dict:
    return markup([[button("⭐ Buy credits", "m:buy"), button("🃏 Smaller spread", "m:read")]])


def settings_menu(reversals: bool) -> dict:
    label, data = ("Turn reversals off", "v:off") if reversals else ("Turn reversals on", "v:on")
    return markup([[button(label, data)]])


#: Characters of a history button's label (longer ones are cut).
HISTORY_LABEL_LIMIT = 60


def history_menu(items: list[tuple[int, str]], older: str | None, newer: str | None) -> dict:
    """One button per reading, then Newer/Older navigation."""
    rows = [[button(label[:HISTORY_LABEL_LIMIT], f"r:{reading_id}")] for reading_id, label in items]
    nav = []
    if newer:
        nav.append(button("◀️ Newer", f"h:n:{newer}"))
    if older:
        nav.append(button("Older ▶️", f"h:o:{older}"))
    if nav:
        rows.append(nav)
    return markup(rows)
