"""Every word the bot says, in one place (Telegram HTML parse mode).

Texts are templates filled with :func:`render`, which escapes every value, so
a user's name or question can never break the markup.
"""

from __future__ import annotations

from tarotbot.tarot.telegram_text import render_html as render

__all__ = ["render"]

WELCOME = (
    "🌙 <b>Welcome, {name}.</b>\n\n"
    "I read tarot: you ask what is on your mind, I shuffle a full 78-card deck, "
    "lay out a spread and tell you what the cards say, with a picture of the spread.\n\n"
    "🎁 Here are <b>{bonus} free credits</b> to begin, enough for a three-card reading. "
    "You now hold <b>{balance}</b> credits.\n\n"
    "Tap <b>Get a reading</b> whenever you are ready."
)
WELCOME_BACK = (
    "🌙 <b>Welcome back, {name}.</b> You hold <b>{balance}</b> credits.\n\n"
    "Tap <b>Get a reading</b>, or see /history for your past readings."
)
HELP = (
    "🔮 <b>How this works</b>\n\n"
    "/reading – choose a spread, ask a question (or not), receive your reading\n"
    "/balance – your credits\n"
    "/buy – more credits with Telegram Stars\n"
    "/history – your past readings; tap one to open it again\n"
    "/settings – reversed cards on or off\n"
    "/cancel – stop what we are doing\n\n"
    "Each spread costs a few credits; you are charged only when your reading is ready. "
    "Every draw has a seed, so a reading can be verified later."
)
CHOOSE_SPREAD = "🃏 <b>Choose a spread.</b> You hold <b>{balance}</b> credits."
CHOOSE_SPREAD_NO_BALANCE = "🃏 <b>Choose a spread.</b>"
ASK_QUESTION = (
    "✨ <b>{title}</b> · {cost} credit(s)\n<i>{description}</i>\n\n"
    "Type your question (up to {limit} characters), or tap <b>No question</b> "
    "for a general reading."
)
SHUFFLING = "🔮 Shuffling the deck for <b>{title}</b>…"
QUESTION_TOO_LONG = (
    "That question is {length} characters long; please keep it to {limit} or fewer. "
    "A short, open question often gives the clearest reading."
)
QUESTION_EMPTY = "I could not find any words in that. Please type your question as text."
READING_FOOTER = "🪙 {cost} credit(s) used · <b>{balance}</b> left · seed <code>{seed}</code>"
READING_FOOTER_REOPENED = (
    "📜 Your reading of {when}, opened again · nothing charged · seed <code>{seed}</code>"
)
NOT_ENOUGH_CREDITS = (
    "🌘 <b>{title}</b> needs {cost} credits and you hold {balance}. "
    "You were not charged. Tap <b>Buy credits</b> or choose a smaller spread with /reading."
)
SPREAD_TOO_DEAR = (
    "🌘 <b>{title}</b> needs {cost} credits and you hold {balance}. "
    "Tap <b>Buy credits</b>, or choose a smaller spread."
)
READING_FAILED = (
    "😔 Something went wrong while I was preparing your reading, and I could not finish it. "
    "You were not charged for it. Please try again with /reading in a moment."
)
READING_UNDELIVERED = (
    "😔 Your reading was ready, but I could not send it to you, even after several tries. "
    "Your {cost} credit(s) are back: you hold <b>{balance}</b>. The reading is saved; "
    "you can try to open it from /history in a while."
)
BALANCE = "🪙 You hold <b>{balance}</b> credits."
BUY = (
    "⭐ <b>Buy credits with Telegram Stars</b>\n\n"
    "Choose a pack; Telegram will ask you to confirm the payment."
)
PAYMENT_THANKS = "🌟 Thank you! <b>{credits} credits</b> were added. You now hold <b>{balance}</b>."
PAYMENT_THANKS_NEW = (
    "🌟 Thank you, and welcome! <b>{credits} credits</b> were added, plus <b>{bonus}</b> free "
    "ones to begin: you hold <b>{balance}</b>. Tap <b>Get a reading</b> whenever you are ready."
)
REFUND_DONE = (
    "↩️ Your payment of {stars}⭐ was refunded, so its <b>{credits} credits</b> were taken back. "
    "You now hold <b>{balance}</b>."
)
REFUND_NOTED = "↩️ Your payment of {stars}⭐ was refunded."
PAYMENT_DECLINED = "This invoice is not valid any more. Please use /buy for a fresh one."
HISTORY_EMPTY = "📜 You have no readings yet. Tap <b>Get a reading</b> to make your first."
HISTORY_HEADER = "📜 <b>Your readings</b> (newest first). Tap one to open it again."
READING_NOT_FOUND = "I could not find that reading. Open /history to see yours."
SETTINGS = (
    "⚙️ <b>Settings</b>\n\nReversed cards: <b>{reversals}</b>\n"
    "Reversed cards add nuance: a blocked or inward side of the card's meaning."
)
SETTINGS_SAVED = "Saved. Reversed cards are now <b>{reversals}</b>."
CANCELLED = "Alright, we have stopped. Tap <b>Get a reading</b> when you want to begin again."
NOTHING_TO_CANCEL = "There was nothing to cancel. Tap <b>Get a reading</b> to begin."
UNKNOWN_COMMAND = (
    "I do not know {command}. Try /reading for a reading, /balance, /history or /help."
)
NOT_TEXT = "I can only read text messages. Type your question, or use /reading to begin."
FREE_TEXT_HINT = (
    "If that is a question for the cards, tap <b>Get a reading</b> and choose a spread first."
)
STALE_BUTTON = "That button has expired. Please start again with /reading."
STALE_HISTORY = "That page of your history has expired. Open /history again."
SLOW_DOWN = "One moment, your previous request is still on its way."
NOT_REGISTERED = "Please send /start first so I can set up your account."
WORKING = "Just a moment…"

# -- subscriptions, payment support, terms (issue 15) ---------------------------------
HELP_PAYMENTS = (
    "/subscription – your tier, its renewal date and what is left this month\n"
    "/paysupport – help with a payment\n"
    "/terms – the terms, in plain words"
)
TIER_LINE = (
    "<b>{title}</b> · {price}: {credits} credits a month, spreads {discount}% cheaper{extras}"
)
TIER_LINE_FREE = "<b>{title}</b> · free: pay per reading with credits"
TIER_DAILY_CARD = ", the daily card"
TIER_PRIORITY = ", your readings first in line"
TIER_PRICE = "{stars}⭐ a month"
SUBSCRIPTION_BASIC = (
    "🌟 <b>Subscriptions</b>\n\nYou are on <b>Basic</b>: you pay for each reading with credits. "
    "You hold <b>{balance}</b>."
)
SUBSCRIPTION_HOW = (
    "Telegram renews a subscription every 30 days until you cancel; you keep its benefits "
    "until the end of the period you paid for."
)
SUBSCRIPTION_ACTIVE = (
    "🌟 <b>{tier}</b> · {renewal} ({days} day(s) left in this period)\n\n"
    "This period's payment added <b>{credits}</b> credits; you hold <b>{balance}</b>. "
    "Spreads cost {discount}% less while it lasts."
)
SUBSCRIPTION_RENEWS = "renews on {until}"
SUBSCRIPTION_ENDS = "renewal cancelled: ends on {until}"
SUBSCRIPTION_LINK = (
    "✨ <b>{tier}</b> · {stars}⭐ every 30 days\n\n"
    "Tap <b>Subscribe</b> to confirm in Telegram. You can cancel any time with /subscription."
)
SUBSCRIPTION_INVOICE = (
    "{credits} credits every 30 days, cheaper spreads and more, until you cancel."
)
SUBSCRIPTION_LINK_FAILED = (
    "😔 I could not prepare the subscription just now. Please try again in a moment."
)
SUBSCRIBED = (
    "🌟 Welcome to <b>{tier}</b>! <b>{credits} credits</b> were added; you hold "
    "<b>{balance}</b>. Your subscription renews on {until}."
)
SUBSCRIPTION_RENEWED = (
    "🌟 Your <b>{tier}</b> subscription was renewed until {until}: <b>{credits} credits</b> "
    "were added, you hold <b>{balance}</b>."
)
SUBSCRIBED_BONUS = "🎁 Plus <b>{bonus}</b> free credits to welcome you."
NO_SUBSCRIPTION = "You have no subscription to change. See /subscription."
RENEWAL_CANCELED = (
    "Done: your <b>{tier}</b> subscription will not renew. You keep its benefits until {until}."
)
RENEWAL_RESUMED = "Done: your <b>{tier}</b> subscription will renew on {until} again."
RENEWAL_NOT_CHANGED = (
    "Telegram did not accept that change (the subscription may have ended). See /subscription."
)
SUBSCRIPTION_ENDED_BY_REFUND = "Your <b>{tier}</b> subscription ended with it."
ALREADY_SUBSCRIBED = (
    "You already have a subscription. To change tier, cancel it with /subscription and "
    "subscribe again when it ends."
)
BUY_CANCELLED = "Alright, nothing bought. Tap <b>Get a reading</b> when you are ready."
PAYSUPPORT = (
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
TERMS = (
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
            lines.append(render(TIER_LINE_FREE, title=tier.title))
            continue
        extras = (TIER_DAILY_CARD if tier.daily_card else "") + (
            TIER_PRIORITY if tier.priority else ""
        )
        lines.append(
            render(
                TIER_LINE,
                title=tier.title,
                price=render(TIER_PRICE, stars=tier.stars),
                credits=tier.monthly_credits,
                discount=tier.discount_percent,
                extras=extras,
            )
        )
    return "\n".join(lines)
