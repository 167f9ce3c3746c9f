"""CLI command ``emulator``: the local Telegram Bot API server."""

COMMANDS: list = []
