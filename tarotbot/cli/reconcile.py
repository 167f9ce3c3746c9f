"""``python -m tarotbot reconcile``: compare the ledger with Telegram's Stars transactions once."""

from __future__ import annotations

import click

from tarotbot.cli.database import open_database
from tarotbot.exceptions import ConfigError


@click.command()
@click.option(
    "--max-pages",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="Pages of 100 transactions read at most (env TAROTBOT_RECONCILE_MAX_PAGES).",
)
def reconcile(max_pages: int) -> None:
    """Read Telegram's Stars transactions from the stored checkpoint; credit what is missing.

    Every incoming payment the ledger lacks is credited through the ordinary,
    idempotent payment path (and logged as recovered); a refund the ledger
    lacks is applied. Prints one line with the figures. The scheduler runs
    the same every 15 minutes; `audit` then reports any purchase in the
    ledger that Telegram does not list.
    """
    from tarotbot.cli import setup_logging

    settings = open_database(process="reconcile")
    setup_logging(settings.log_level)
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN", "is required to read Telegram's Stars transactions")
    from jobs.reconcile import reconcile_star_transactions

    result = reconcile_star_transactions(max_pages)
    line = (
        f"reconciled: {result['read']} transaction(s) read, {result['recovered']} payment(s) "
        f"recovered, {result['refunds']} refund(s) applied, {result['unusable']} unusable; "
        f"checkpoint at {result['offset']}"
    )
    if not result["complete"]:
        line += "; more to read: run it again"
    click.echo(line)


COMMANDS = [reconcile]
