"""CLI command ``emulator``: the local Telegram Bot API server.

Runs :class:`~botapi_emulator.BotAPIEmulator` in the foreground
until Ctrl-C (or SIGTERM) and prints the base URL to export as
``TELEGRAM_API_URL``. Nothing reaches the real Telegram. The emulator is a
dev tool outside the product package: it is imported only when this command
runs, so no production process loads it.
"""

from __future__ import annotations

import click

from tarotbot.cli import setup_logging
from tarotbot.exceptions import TarotBotError

DEFAULT_PORT = 8081  # the port a self-hosted telegram-bot-api listens on by default


@click.command("emulator")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on (IPv4). Env: TAROTBOT_EMULATOR_HOST.",
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port; 0 picks a free one. Env: TAROTBOT_EMULATOR_PORT.",
)
@click.option(
    "--bot",
    "default_bot",
    default=None,
    envvar="TAROTBOT_EMULATOR_BOT",
    help="Bot id (digits before the token's colon) the /_emulator/ driver addresses "
    "when a request names none. Env: TAROTBOT_EMULATOR_BOT.",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Log level (DEBUG logs every call by method name). Env: TAROTBOT_EMULATOR_LOG_LEVEL.",
)
def emulator(host: str, port: int, default_bot: str | None, log_level: str) -> None:
    """Serve a local Telegram Bot API (and its test driver) until Ctrl-C."""
    from botapi_emulator.server import BotAPIEmulator, serve_in_foreground

    setup_logging(log_level.upper())
    server = BotAPIEmulator(host, port, default_bot=_bot_id(default_bot))
    try:
        server.start()
    except OSError as exc:
        raise TarotBotError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    serve_in_foreground(server, click.echo)


def _bot_id(value: str | None) -> int | None:
    """Accept a bot id or a whole token; keep only the id (never hold the secret)."""
    if not value:
        return None
    digits = value.split(":", 1)[0].strip()
    if not digits.isdigit():
        raise click.BadParameter("must be a bot id (digits) or a token", param_hint="--bot")
    return int(digits)


COMMANDS = [emulator]
