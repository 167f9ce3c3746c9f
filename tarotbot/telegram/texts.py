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
