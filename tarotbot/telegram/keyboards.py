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
from urllib.parse import quote

from babel import Locale

from tarotbot.i18n import current_language
from tarotbot.i18n import gettext as _
from tarotbot.localtime import CITIES, OFFSETS, offset_name
from tarotbot.packs import PACKS, PACKS_BY_ID
from tarotbot.tarot.languages import LANGUAGES, localized_spread
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
    "l": Action(
        "language",
        re.compile(r"^l:([a-z]{2})$"),
        "on_language_button",
        needs_account=True,
        allowed=frozenset(LANGUAGES),
    ),
    "c": Action("card", re.compile(r"^c:([0-9]{1,19}):([1-9][0-9]?)$"), "on_card_button"),
    "v": Action("rev", re.compile(r"^v:(on|off)$"), "on_reversals_button", needs_account=True),
    "b": Action(
        "buy",
        re.compile(r"^b:([a-z0-9_]{1,16})$"),
        "on_buy_button",
        allowed=frozenset(PACKS_BY_ID),
    ),
    # issue 16: verify, share, erase, the daily card and its settings, admin confirmations
    "f": Action("verify", re.compile(r"^f:([0-9]{1,19})$"), "on_verify_button", needs_account=True),
    "p": Action("share", re.compile(r"^p:([0-9]{1,19})$"), "on_share_button", needs_account=True),
    "e": Action(
        "erase", re.compile(r"^e:(yes|no)$"), "on_erase_button", allowed=frozenset({"yes", "no"})
    ),
    "n": Action("extra", re.compile(r"^n:(daily|invite)$"), "on_extra_menu", needs_account=True),
    "d": Action(
        "daily",
        re.compile(r"^d:(on|off|stop|time|tz|quiet|back)$"),
        "on_daily_button",
        needs_account=True,
    ),
    "t": Action("time", re.compile(r"^t:([0-9]{1,4})$"), "on_time_button", needs_account=True),
    "z": Action(
        "zone",
        re.compile(r"^z:(c[0-9]{1,2}|o-?[0-9]{1,4}|offsets|cities)$"),
        "on_zone_button",
        needs_account=True,
    ),
    "k": Action(
        "quiet",
        re.compile(r"^k:(off|[0-9]{1,4}-[0-9]{1,4})$"),
        "on_quiet_button",
        needs_account=True,
    ),
    "a": Action("admin", re.compile(r"^a:(send|cancel):([0-9]{1,19})$"), "on_admin_button"),
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
    action: str  # menu, spread, noq, cancel, hist, open, card, rev, buy, and those of ACTIONS
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
            [button(_("🔮 Get a reading"), "m:read")],
            [button(_("📜 History"), "m:hist"), button(_("⭐ Buy credits"), "m:buy")],
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
        title = localized_spread(spread.name, current_language()).title
        rows.append([button(f"{mark}{title} · {price}🪙", f"s:{spread.name}")])
    rows.append([button(_("✖️ Cancel"), "x")])
    return markup(rows)


def question_menu(spread_name: str) -> dict:
    return markup([[button(_("🌌 No question"), f"q:{spread_name}"), button(_("✖️ Cancel"), "x")]])


#: "More about card N" buttons per row under a reading.
CARD_BUTTONS_PER_ROW = 7


def after_reading(reading_id: int | None = None, cards: int = 0) -> dict:
    """Under a reading: "More about" each card (free), another reading, the history."""
    rows = []
    if reading_id is not None and cards == 1:
        rows.append([button(_("🔎 More about this card"), f"c:{reading_id}:1")])
    elif reading_id is not None and cards > 1:
        more = [button(f"🔎 {n}", f"c:{reading_id}:{n}") for n in range(1, cards + 1)]
        rows += [more[i : i + CARD_BUTTONS_PER_ROW] for i in range(0, cards, CARD_BUTTONS_PER_ROW)]
    rows.append([button(_("🔮 Another reading"), "m:read"), button(_("📜 History"), "m:hist")])
    return markup(rows)


def language_menu() -> dict:
    """One button per language, each named in itself (CLDR's names: English, Русский)."""
    names = {code: Locale.parse(code).get_display_name(code).capitalize() for code in LANGUAGES}
    return markup([[button(names[code], f"l:{code}") for code in LANGUAGES]])


def buy_menu() -> dict:
    rows = [[button(f"{_(p.label)} · {p.stars}⭐", f"b:{p.id}")] for p in PACKS]
    rows.append([button(_("🌟 Subscriptions"), "m:sub"), button(_("✖️ Cancel"), "x:buy")])
    return markup(rows)


def subscription_offers() -> dict:
    """One button per tier sold (/subscription while on Basic)."""
    a_month = _("{stars}⭐ a month")
    rows = [
        [button(f"🌟 {_(t.title)} · {a_month.format(stars=t.stars)}", f"u:{t.name}")]
        for t in SOLD_TIERS
    ]
    rows.append([button(_("✖️ Cancel"), "x:buy")])
    return markup(rows)


def subscription_manage(canceled: bool) -> dict:
    """Cancel renewal, or turn it on again (/subscription while subscribed)."""
    if canceled:
        return markup([[button(_("🔁 Renew automatically again"), "u:resume")]])
    return markup([[button(_("✖️ Cancel renewal"), "u:cancel")]])


def subscribe_link(url: str, stars: int) -> dict:
    """The invoice link Telegram opens to confirm a subscription."""
    label = _("⭐ Subscribe · {stars}⭐ a month").format(stars=stars)
    return markup([[{"text": label, "url": url}]])


def not_enough_credits() -> dict:
    return markup(
        [[button(_("⭐ Buy credits"), "m:buy"), button(_("🃏 Smaller spread"), "m:read")]]
    )


def settings_menu(reversals: bool, daily: bool | None = None) -> dict:
    """Reversed cards; with ``daily`` given, the daily-card rows too."""
    label, data = (
        (_("Turn reversals off"), "v:off") if reversals else (_("Turn reversals on"), "v:on")
    )
    rows = [[button(label, data)]]
    if daily is not None:
        rows += settings_rows(daily)
    return markup(rows)


#: Characters of a history button's label (longer ones are cut).
HISTORY_LABEL_LIMIT = 60


def history_menu(items: list[tuple[int, str]], older: str | None, newer: str | None) -> dict:
    """One button per reading (and its 🔍 verify button), then Newer/Older navigation."""
    rows = [
        [button(label[:HISTORY_LABEL_LIMIT], f"r:{reading_id}"), button(_("🔍"), f"f:{reading_id}")]
        for reading_id, label in items
    ]
    nav = []
    if newer:
        nav.append(button(_("◀️ Newer"), f"h:n:{newer}"))
    if older:
        nav.append(button(_("Older ▶️"), f"h:o:{older}"))
    if nav:
        rows.append(nav)
    return markup(rows)


# -- issue 16: verify, share, erase, daily card, settings, admin -----------------------

#: Local times offered for the daily card (minutes of the day).
DAILY_TIMES = (6 * 60, 7 * 60, 8 * 60, 9 * 60, 10 * 60, 12 * 60, 18 * 60, 20 * 60, 21 * 60)
#: Quiet hours offered (local minutes, start-end).
QUIET_CHOICES = ((22 * 60, 8 * 60), (23 * 60, 7 * 60), (21 * 60, 9 * 60))


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def with_rows(markup: dict, rows: list[list[dict]]) -> dict:
    """``markup`` with ``rows`` added below its own."""
    return {"inline_keyboard": [*markup.get("inline_keyboard", []), *rows]}


def reading_extras(reading_id: int) -> list[list[dict]]:
    """The rows under a reading: verify it, share it."""
    return [[button(_("🔍 Verify"), f"f:{reading_id}"), button(_("💌 Share"), f"p:{reading_id}")]]


def share_link(url: str, text: str) -> dict:
    """A button opening Telegram's own share sheet with ``url`` and ``text``."""
    link = f"https://t.me/share/url?url={quote(url, safe='')}&text={quote(text, safe='')}"
    return markup([[{"text": _("📤 Send to a friend"), "url": link}]])


def confirm_erase() -> dict:
    return markup(
        [[button(_("🗑 Yes, delete everything"), "e:yes"), button(_("Keep my data"), "e:no")]]
    )


def settings_rows(daily: bool) -> list[list[dict]]:
    """The daily-card rows of /settings."""
    first = (
        button(_("🌅 Daily card: stop"), "d:off")
        if daily
        else button(_("🌅 Daily card: start"), "d:on")
    )
    return [
        [first],
        [
            button(_("🕘 Time"), "d:time"),
            button(_("🌍 Timezone"), "d:tz"),
            button(_("🌙 Quiet hours"), "d:quiet"),
        ],
    ]


def offer_daily() -> dict:
    return markup(
        [[button(_("🌅 Yes, a card each morning"), "d:on"), button(_("No, thanks"), "d:back")]]
    )


def daily_card_menu() -> dict:
    """Under a pushed card of the day: one tap to stop, and a full reading."""
    return markup(
        [[button(_("🔮 Full reading"), "m:read"), button(_("🔕 Stop daily cards"), "d:stop")]]
    )


def time_menu() -> dict:
    rows, row = [], []
    for minute in DAILY_TIMES:
        row.append(button(hhmm(minute), f"t:{minute}"))
        if len(row) == 3:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    return markup(rows)


def zone_menu() -> dict:
    rows, row = [], []
    for index, (label, _zone) in enumerate(CITIES):
        row.append(button(_(label), f"z:c{index}"))
        if len(row) == 3:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    rows.append([button(_("UTC offsets…"), "z:offsets")])
    return markup(rows)


def offset_menu() -> dict:
    rows, row = [], []
    for minutes in sorted(OFFSETS):
        row.append(button(offset_name(minutes).replace("UTC", ""), f"z:o{minutes}"))
        if len(row) == 5:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    rows.append([button(_("◀️ Cities"), "z:cities")])
    return markup(rows)


def location_keyboard() -> dict:
    """A reply keyboard whose button shares the person's location (one tap, then it goes away)."""
    return {
        "keyboard": [[{"text": _("📍 Share my location"), "request_location": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }


def quiet_menu() -> dict:
    rows = [[button(f"{hhmm(a)}–{hhmm(b)}", f"k:{a}-{b}")] for a, b in QUIET_CHOICES]
    rows.append([button(_("No quiet hours"), "k:off")])
    return markup(rows)


def broadcast_confirm(broadcast_id: int) -> dict:
    return markup(
        [
            [
                button(_("📣 Send to everyone"), f"a:send:{broadcast_id}"),
                button(_("✖️ Cancel"), f"a:cancel:{broadcast_id}"),
            ]
        ]
    )
