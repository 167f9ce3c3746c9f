"""Every word the bot says, in one place (Telegram HTML parse mode).

Texts are templates filled with :func:`render`, which escapes every value, so
a user's name or question can never break the markup.
"""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date, format_datetime

from tarotbot.i18n import N_, Plural, current_language, gettext, ngettext
from tarotbot.tarot.draw import Draw
from tarotbot.tarot.languages import localize, localized_spread
from tarotbot.tarot.spreads import Spread
from tarotbot.tarot.telegram_text import render_html

__all__ = [
    "day",
    "local_draw",
    "local_spread",
    "moment",
    "render",
    "tier_title",
    "translate",
]


def translate(message: str | Plural, **values) -> str:
    """``message`` in the current language (:mod:`tarotbot.i18n`), not yet filled in."""
    if isinstance(message, Plural):
        return ngettext(message.singular, message.plural, int(values[message.count]))
    return gettext(message)


def render(message: str | Plural, **values) -> str:
    """``message`` in the current language, filled in with ``values`` (escaped)."""
    return render_html(translate(message, **values), **values)


def local_spread(spread: Spread | str) -> Spread:
    """The spread with its title, description and positions in the current language."""
    return localized_spread(spread if isinstance(spread, str) else spread.name, current_language())


def local_draw(draw: Draw) -> Draw:
    """The draw with its spread's and cards' names in the current language."""
    return localize(draw, current_language())


def tier_title(tier) -> str:
    """A subscription tier's name in the current language."""
    return gettext(tier.title)


def day(when: dt.date | dt.datetime | None) -> str:
    """A date as the current language writes it briefly ("30 Nov 2026", "30 нояб. 2026")."""
    if when is None:
        return "-"
    return format_date(when, "dd MMM y", locale=current_language())


def moment(when: dt.datetime) -> str:
    """A date and time, briefly, in the current language ("30 Nov 2026, 19:05")."""
    return format_datetime(when, "dd MMM y, HH:mm", tzinfo=when.tzinfo, locale=current_language())


FRIEND = N_("friend")  # the name of someone whose Telegram name is empty
ON = N_("on")
OFF = N_("off")
NONE = N_("none")
STATE_ACTIVE = N_("active")  # a person's state, on the admin's /user page
STATE_INACTIVE = N_("inactive (blocked the bot)")
STATE_ERASED = N_("erased")  # no quiet hours, no readings: a setting or a list left empty
LANGUAGE_CHOOSE = N_("🌐 Which language should I speak? Your readings will be in it too.")
LANGUAGE_SAVED = N_("🌐 Done: I will speak English from now on.")
WELCOME = N_(
    "🌙 <b>Welcome, {name}.</b>\n\n"
    "I read tarot: you ask what is on your mind, I shuffle a full 78-card deck, "
    "lay out a spread and tell you what the cards say, with a picture of the spread.\n\n"
    "🎁 Here are <b>{bonus} free credits</b> to begin, enough for a three-card reading. "
    "You now hold <b>{balance}</b> credits.\n\n"
    "Tap <b>Get a reading</b> whenever you are ready."
)
WELCOME_BACK = Plural(
    "🌙 <b>Welcome back, {name}.</b> You hold <b>{balance}</b> credit.\n\nTap <b>Get a reading</b>, or see /history for your past readings.",
    "🌙 <b>Welcome back, {name}.</b> You hold <b>{balance}</b> credits.\n\nTap <b>Get a reading</b>, or see /history for your past readings.",
    "balance",
)
HELP = N_(
    "🔮 <b>How this works</b>\n\n"
    "/reading – choose a spread, ask a question (or not), receive your reading\n"
    "/balance – your credits\n"
    "/buy – more credits with Telegram Stars\n"
    "/history – your past readings; tap one to open it again\n"
    "/settings – reversed cards, the daily card, your timezone\n"
    "/daily – your free card of the day\n"
    "/verify – how to check a reading's cards yourself\n"
    "/invite – a link for friends: bonus credits for both of you\n"
    "/export – all your data as a file · /delete – erase it\n"
    "/language – English or Russian\n"
    "/cancel – stop what we are doing\n\n"
    "Each spread costs a few credits; you are charged only when your reading is ready. "
    "Every draw has a seed sealed before your question, so a reading can be verified: /verify."
)
CHOOSE_SPREAD = Plural(
    "🃏 <b>Choose a spread.</b> You hold <b>{balance}</b> credit.",
    "🃏 <b>Choose a spread.</b> You hold <b>{balance}</b> credits.",
    "balance",
)
CHOOSE_SPREAD_NO_BALANCE = N_("🃏 <b>Choose a spread.</b>")
ASK_QUESTION = Plural(
    "✨ <b>{title}</b> · {cost} credit\n<i>{description}</i>\n\nType your question (up to {limit} characters), or tap <b>No question</b> for a general reading.",
    "✨ <b>{title}</b> · {cost} credits\n<i>{description}</i>\n\nType your question (up to {limit} characters), or tap <b>No question</b> for a general reading.",
    "cost",
)
SHUFFLING = N_("🔮 Shuffling the deck for <b>{title}</b>…")
QUESTION_TOO_LONG = N_(
    "That question is {length} characters long; please keep it to {limit} or fewer. "
    "A short, open question often gives the clearest reading."
)
QUESTION_EMPTY = N_("I could not find any words in that. Please type your question as text.")
READING_FOOTER = Plural(
    "🪙 {cost} credit used · <b>{balance}</b> left · seed <code>{seed}</code>",
    "🪙 {cost} credits used · <b>{balance}</b> left · seed <code>{seed}</code>",
    "cost",
)
READING_FOOTER_REOPENED = N_(
    "📜 Your reading of {when}, opened again · nothing charged · seed <code>{seed}</code>"
)
NOT_ENOUGH_CREDITS = N_(
    "🌘 <b>{title}</b> needs {cost} credits and you hold {balance}. "
    "You were not charged. Tap <b>Buy credits</b> or choose a smaller spread with /reading."
)
SPREAD_TOO_DEAR = N_(
    "🌘 <b>{title}</b> needs {cost} credits and you hold {balance}. "
    "Tap <b>Buy credits</b>, or choose a smaller spread."
)
READING_FAILED = N_(
    "😔 Something went wrong while I was preparing your reading, and I could not finish it. "
    "You were not charged for it. Please try again with /reading in a moment."
)
READING_UNDELIVERED = Plural(
    "😔 Your reading was ready, but I could not send it to you, even after several tries. Your {cost} credit is back: you hold <b>{balance}</b>. The reading is saved; you can try to open it from /history in a while.",
    "😔 Your reading was ready, but I could not send it to you, even after several tries. Your {cost} credits are back: you hold <b>{balance}</b>. The reading is saved; you can try to open it from /history in a while.",
    "cost",
)
BALANCE = Plural(
    "🪙 You hold <b>{balance}</b> credit.", "🪙 You hold <b>{balance}</b> credits.", "balance"
)
BUY = N_(
    "⭐ <b>Buy credits with Telegram Stars</b>\n\n"
    "Choose a pack; Telegram will ask you to confirm the payment."
)
PAYMENT_THANKS = Plural(
    "🌟 Thank you! <b>{credits} credit</b> was added. You now hold <b>{balance}</b>.",
    "🌟 Thank you! <b>{credits} credits</b> were added. You now hold <b>{balance}</b>.",
    "credits",
)
PAYMENT_THANKS_NEW = N_(
    "🌟 Thank you, and welcome! <b>{credits} credits</b> were added, plus <b>{bonus}</b> free "
    "ones to begin: you hold <b>{balance}</b>. Tap <b>Get a reading</b> whenever you are ready."
)
REFUND_DONE = N_(
    "↩️ Your payment of {stars}⭐ was refunded, so its <b>{credits} credits</b> were taken back. "
    "You now hold <b>{balance}</b>."
)
REFUND_NOTED = N_("↩️ Your payment of {stars}⭐ was refunded.")
CHECKOUT_REFUSED = N_(
    "Sorry, {problem}. This invoice is not valid any more. Please use /buy for a fresh one."
)
HISTORY_EMPTY = N_("📜 You have no readings yet. Tap <b>Get a reading</b> to make your first.")
HISTORY_HEADER = N_("📜 <b>Your readings</b> (newest first). Tap one to open it again.")
READING_NOT_FOUND = N_("I could not find that reading. Open /history to see yours.")
SETTINGS = N_(
    "⚙️ <b>Settings</b>\n\nReversed cards: <b>{reversals}</b>\n"
    "Reversed cards add nuance: a blocked or inward side of the card's meaning."
)
SETTINGS_SAVED = N_("Saved. Reversed cards are now <b>{reversals}</b>.")
CANCELLED = N_("Alright, we have stopped. Tap <b>Get a reading</b> when you want to begin again.")
NOTHING_TO_CANCEL = N_("There was nothing to cancel. Tap <b>Get a reading</b> to begin.")
UNKNOWN_COMMAND = N_(
    "I do not know {command}. Try /reading for a reading, /balance, /history or /help."
)
NOT_TEXT = N_("I can only read text messages. Type your question, or use /reading to begin.")
FREE_TEXT_HINT = N_(
    "If that is a question for the cards, tap <b>Get a reading</b> and choose a spread first."
)
STALE_BUTTON = N_("That button has expired. Please start again with /reading.")
STALE_HISTORY = N_("That page of your history has expired. Open /history again.")
SLOW_DOWN = N_("One moment, your previous request is still on its way.")
NOT_REGISTERED = N_("Please send /start first so I can set up your account.")
WORKING = N_("Just a moment…")

# -- issue 16: verifying, your data, the daily card, invitations, admin ---------------

SEALED = N_("🔒 The cards for this reading are already sealed: <code>{commitment}</code>")
SHUFFLING_SEALED = N_("🔒 Sealed before your question: <code>{commitment}</code>")
VERIFY_HEAD = N_(
    "🔍 <b>How to check reading #{reading_id}</b> · {title}, {when}\n\n"
    "<b>Seed</b>: <code>{seed}</code>\n"
)
VERIFY_BODY = N_(
    "<b>Reproduce the cards</b> with TarotBot's open draw:\n<code>{command}</code>\n\n"
    "<b>Recomputed just now from the seed</b>:\n{cards}\n\n"
)
VERIFY_SEALED = N_(
    "<b>Seal shown before your question</b>: <code>{commitment}</code>\n"
    "The seal is the seed's SHA-256: <code>printf %s {seed} | sha256sum</code>\n\n"
)
VERIFY_UNSEALED = N_(
    "<i>This reading was drawn before seals were published, so only the seed can be checked.</i>\n\n"
)
VERIFY_MATCH = Plural(
    "✅ The card matches what you were shown.",
    "✅ All {count} cards match what you were shown.",
    "count",
)
VERIFY_MISMATCH = N_(
    "⚠️ The stored cards differ from what this seed draws now; the drawing rules may have "
    "changed since. Please tell us."
)
VERIFY_NONE = N_("You have no readings to verify yet. Tap <b>Get a reading</b> to make one.")
VERIFY_USAGE = N_("Send /verify for your latest reading, or /verify NUMBER for another one.")
READING_WITH_QUESTION = N_("🃏 <b>Choose a spread</b> for your question:\n<i>{question}</i>")

EXPORT_CAPTION = N_(
    "📦 Everything I keep about you: profile, settings, balance, every transaction and "
    "every reading with its text."
)
EXPORT_NOTHING = N_("I keep no data about you: you have not started yet (or deleted it).")
DELETE_CONFIRM = Plural(
    "🗑 <b>Delete your data?</b>\n\nI will erase your readings, your questions and your name. Your <b>{balance}</b> credit will be lost. The record of payments stays, without anything that names you, because the books must add up.\n\nThis cannot be undone. /export first if you want a copy.",
    "🗑 <b>Delete your data?</b>\n\nI will erase your readings, your questions and your name. Your <b>{balance}</b> credits will be lost. The record of payments stays, without anything that names you, because the books must add up.\n\nThis cannot be undone. /export first if you want a copy.",
    "balance",
)
DELETE_DONE = N_(
    "🗑 Done: your readings, questions and personal details are erased. "
    "If you come back with /start you begin afresh (the welcome credits are given once per person)."
)
DELETE_KEPT = N_("Nothing was deleted. Your readings are still here.")
DELETE_NOTHING = N_("There is nothing to delete: I keep no data about you.")
WELCOME_AFRESH = N_(
    "🌙 <b>Welcome back, {name}.</b> You start afresh: your earlier data was deleted as you "
    "asked. The welcome credits are given once per person, so you hold <b>{balance}</b> credits. "
    "/buy adds more."
)

SETTINGS_DAILY = N_(
    "\n\n🌅 Daily card: <b>{daily}</b> at <b>{time}</b> · timezone <b>{zone}</b> · "
    "quiet hours <b>{quiet}</b>"
)
DAILY_OFFER = N_(
    "🌅 Would you like a <b>card of the day</b>, free, each morning at 09:00 your time? "
    "You can change the time or stop it any moment."
)
DAILY_ON = N_(
    "🌅 Your card of the day comes at <b>{time}</b> ({zone}); the next one {when}. "
    "Set the time, your timezone or quiet hours in /settings."
)
DAILY_OFF = N_("🔕 No more daily cards. /settings turns them on again whenever you like.")
DAILY_LATER = N_("Alright. /settings has the daily card if you change your mind.")
DAILY_CHOOSE_TIME = N_("🕘 When should your card of the day arrive (your local time)?")
DAILY_CHOOSE_ZONE = N_("🌍 Where are you? Choose a city nearby, or a UTC offset.")
DAILY_CHOOSE_OFFSET = N_("🌍 Choose your offset from UTC (fixed: no daylight saving).")
DAILY_SHARE_LOCATION = N_(
    "…or share your location with the button below: I use only its longitude, to set "
    "your offset from UTC, and keep nothing else."
)
DAILY_CHOOSE_QUIET = N_(
    "🌙 During quiet hours I send no daily card; one due then waits until they end."
)
DAILY_SAVED = N_("Saved. {summary}")
DAILY_SUMMARY = N_(
    "Daily card <b>{daily}</b> at <b>{time}</b>, timezone <b>{zone}</b>, quiet hours <b>{quiet}</b>."
)
ZONE_FROM_LOCATION = N_("📍 Your timezone is now <b>{zone}</b> (from your location's longitude).")
DAILY_CARD_CAPTION = N_("🌅 <b>Your card for {day}</b>\n{cards}")
DAILY_AGAIN = N_("🌅 You drew today's card already; here it is again. A new one comes tomorrow.")
DAILY_NOT_ALLOWED = N_("🌅 The daily card is not part of your plan. See /buy.")

INVITE = N_(
    "💌 <b>Invite a friend</b>\n\nShare this link: {link}\n\n"
    "When someone new starts TarotBot through it, you both get <b>{bonus}</b> free credits "
    "(up to {cap} friends a day)."
)
INVITE_REWARD_NEW = N_(
    "💌 You came through a friend's invitation: <b>{bonus}</b> extra credits are yours."
)
INVITE_REWARD_INVITER = N_(
    "💌 Someone started TarotBot through your invitation: <b>{bonus}</b> credits for you. "
    "You hold <b>{balance}</b>."
)
SHARE_CAPTION = N_("🔮 My {title} from TarotBot:\n{cards}\n\nGet your own reading: {link}")
SHARE_TEXT = N_("My tarot reading from TarotBot. Get your own, with free credits to begin:")

ADMIN_STATS = N_(
    "📊 <b>Stats</b>\n\n"
    "People: <b>{people}</b> ({inactive} inactive, {erased} erased)\n"
    "Active today: <b>{today}</b> · this week: <b>{week}</b>\n"
    "Daily-card subscribers: <b>{daily}</b>\n\n"
    "<b>Readings by spread</b>\n{spreads}\n\n"
    "Stars taken: <b>{stars}</b>⭐ · refunded: <b>{refunded}</b>⭐\n\n"
    "<b>Queues</b> (waiting / failed)\n{queues}"
)
ADMIN_USAGE_GRANT = N_("Usage: /grant USER N REASON (USER: a Telegram id, #user_id or @username).")
ADMIN_USAGE_REVOKE = N_("Usage: /revoke USER N REASON.")
ADMIN_USAGE_REFUND = N_("Usage: /refund CHARGE_ID (the telegram_payment_charge_id).")
ADMIN_USAGE_USER = N_("Usage: /user USER (a Telegram id, #user_id or @username).")
ADMIN_USAGE_BROADCAST = N_("Usage: /broadcast TEXT (plain text, up to {limit} characters).")
ADMIN_NO_USER = N_("No such user: {who}.")
ADMIN_GRANTED = N_(
    "✅ Granted <b>{amount}</b> credit(s) to {who}: balance <b>{balance}</b> (transaction #{txn})."
)
ADMIN_REVOKED = N_(
    "✅ Revoked <b>{amount}</b> credit(s) from {who}: balance <b>{balance}</b> (transaction #{txn})."
)
ADMIN_SHORT = N_("❌ {who} holds only <b>{balance}</b> credit(s); nothing was revoked.")
ADMIN_REFUNDED = N_(
    "✅ Charge <code>{charge}</code> refunded: {stars}⭐ back to {who}, {credits} credit(s) "
    "taken back (balance <b>{balance}</b>)."
)
ADMIN_REFUND_UNKNOWN = N_("❌ No credited purchase with charge id <code>{charge}</code>.")
ADMIN_REFUND_SPENT = N_(
    "❌ {who} has spent those credits (balance <b>{balance}</b>, the purchase gave {credits}); "
    "nothing was refunded."
)
ADMIN_REFUND_REFUSED = N_(
    "❌ Telegram refused the refund: {reason}. Nothing changed in the ledger."
)
ADMIN_USER = N_(
    "👤 <b>{who}</b> · user #{user_id} · Telegram id <code>{telegram_id}</code>\n"
    "Joined {joined} · {state} · tier <b>{tier}</b>\n"
    "Balance: <b>{balance}</b> credits\n\n<b>Last readings</b>\n{readings}\n\n"
    "<b>Last transactions</b>\n{transactions}"
)
BROADCAST_PREVIEW = N_(
    "📣 <b>Preview</b> of broadcast #{id}: it goes to <b>{count}</b> people. The message follows."
)
BROADCAST_CONFIRM = N_("Send broadcast #{id} to {count} people?")
BROADCAST_PROGRESS = N_(
    "📣 Broadcast #{id}: <b>{done}</b> of {total} ({sent} sent, {skipped} skipped)…"
)
BROADCAST_DONE = N_(
    "📣 Broadcast #{id} finished: <b>{sent}</b> sent, {skipped} skipped (blocked or gone)."
)
BROADCAST_CANCELLED = N_("Broadcast #{id} cancelled; nothing was sent.")
BROADCAST_STALE = N_("Broadcast #{id} is {status} already.")

# -- subscriptions, payment support, terms (issue 15) ---------------------------------
HELP_PAYMENTS = N_(
    "/subscription – your tier, its renewal date and what is left this month\n"
    "/paysupport – help with a payment\n"
    "/terms – the terms, in plain words"
)
TIER_LINE = N_(
    "<b>{title}</b> · {price}: {credits} credits a month, spreads cheaper by {discount}%{extras}"
)
TIER_LINE_FREE = N_("<b>{title}</b> · free: pay per reading with credits")
TIER_DAILY_CARD = N_(", the daily card")
TIER_PRIORITY = N_(", your readings first in line")
TIER_PRICE = N_("{stars}⭐ a month")
SUBSCRIPTION_BASIC = N_(
    "🌟 <b>Subscriptions</b>\n\nYou are on <b>Basic</b>: you pay for each reading with credits. "
    "You hold <b>{balance}</b>."
)
SUBSCRIPTION_HOW = N_(
    "Telegram renews a subscription every 30 days until you cancel; you keep its benefits "
    "until the end of the period you paid for."
)
SUBSCRIPTION_ACTIVE = N_(
    "🌟 <b>{tier}</b> · {renewal} ({days} day(s) left in this period)\n\n"
    "This period's payment added <b>{credits}</b> credits; you hold <b>{balance}</b>. "
    "While it lasts, spreads are discounted by {discount}%."
)
SUBSCRIPTION_RENEWS = N_("renews on {until}")
SUBSCRIPTION_ENDS = N_("renewal cancelled: ends on {until}")
SUBSCRIPTION_LINK = N_(
    "✨ <b>{tier}</b> · {stars}⭐ every 30 days\n\n"
    "Tap <b>Subscribe</b> to confirm in Telegram. You can cancel any time with /subscription."
)
SUBSCRIPTION_INVOICE = N_(
    "{credits} credits every 30 days, cheaper spreads and more, until you cancel."
)
SUBSCRIPTION_LINK_FAILED = N_(
    "😔 I could not prepare the subscription just now. Please try again in a moment."
)
SUBSCRIBED = N_(
    "🌟 Welcome to <b>{tier}</b>! <b>{credits} credits</b> were added; you hold "
    "<b>{balance}</b>. Your subscription renews on {until}."
)
SUBSCRIPTION_RENEWED = N_(
    "🌟 Your <b>{tier}</b> subscription was renewed until {until}: <b>{credits} credits</b> "
    "were added, you hold <b>{balance}</b>."
)
SUBSCRIBED_BONUS = N_("🎁 Plus <b>{bonus}</b> free credits to welcome you.")
NO_SUBSCRIPTION = N_("You have no subscription to change. See /subscription.")
RENEWAL_CANCELED = N_(
    "Done: your <b>{tier}</b> subscription will not renew. You keep its benefits until {until}."
)
RENEWAL_RESUMED = N_("Done: your <b>{tier}</b> subscription will renew on {until} again.")
RENEWAL_NOT_CHANGED = N_(
    "Telegram did not accept that change (the subscription may have ended). See /subscription."
)
SUBSCRIPTION_ENDED_BY_REFUND = N_("Your <b>{tier}</b> subscription ended with it.")
ALREADY_SUBSCRIBED = N_(
    "You already have a subscription. To change tier, cancel it with /subscription and "
    "subscribe again when it ends."
)
BUY_CANCELLED = N_("Alright, nothing bought. Tap <b>Get a reading</b> when you are ready.")
PAYSUPPORT = N_(
    "🧾 <b>Help with a payment</b>\n\n"
    "• Credits and subscriptions are added within a minute of paying. If one is missing, "
    "wait a quarter of an hour: I compare my records with Telegram's own list of your "
    "payments and add anything missing by myself.\n"
    "• Still missing, charged twice, or want a refund? Write to the people who run this bot "
    "(the contact is in the bot's description) with the date, the amount in Stars and, "
    "if you have it, the receipt Telegram showed you. Refunds go back to your Stars balance; "
    "the credits they bought are taken back.\n"
    "• Telegram's own support cannot help with purchases made in bots.\n\n"
    "Your balance: /balance · your subscription: /subscription"
)
TERMS = N_(
    "📜 <b>Terms, in plain words</b>\n\n"
    "• Readings are for reflection and entertainment. They are not medical, legal, "
    "financial or psychological advice, and they do not predict the future.\n"
    "• You pay with Telegram Stars. A credit pack adds credits that never expire; "
    "a reading costs the credits shown before you choose it, and you are charged only "
    "when it is ready. A reading that cannot be delivered is refunded automatically.\n"
    "• A subscription renews every 30 days until you cancel it (/subscription). Each payment "
    "adds that tier's monthly credits; cancelling stops the next payment, and you keep the "
    "tier until the paid period ends.\n"
    "• A refunded payment takes back what it bought (its credits, or the subscription).\n"
    "• We keep your Telegram id, name, readings and payments to run the service, and "
    "nothing else.\n"
    "• Help with a payment: /paysupport."
)


def tier_lines() -> str:
    """One line per tier, from the table in :mod:`tarotbot.tiers` (for /help and /subscription)."""
    from tarotbot.tiers import TIERS

    lines = []
    for tier in TIERS:
        if not tier.sold:
            lines.append(render(TIER_LINE_FREE, title=tier_title(tier)))
            continue
        extras = (translate(TIER_DAILY_CARD) if tier.daily_card else "") + (
            translate(TIER_PRIORITY) if tier.priority else ""
        )
        lines.append(
            render(
                TIER_LINE,
                title=tier_title(tier),
                price=render(TIER_PRICE, stars=tier.stars),
                credits=tier.monthly_credits,
                discount=tier.discount_percent,
                extras=extras,
            )
        )
    return "\n".join(lines)
