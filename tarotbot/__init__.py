"""TarotBot: tarot readings on Telegram, paid with credits, run from RQ workers."""

__version__ = "0.1.0"
