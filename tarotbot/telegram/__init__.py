"""The Telegram edge: bot handlers, keyboards, texts, sender and the Bot API emulator."""
