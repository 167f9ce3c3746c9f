"""``python -m tarotbot audit``: check the credits ledger, exit 1 on any violation."""

from __future__ import annotations

import sys

import click
from tqdm import tqdm

from tarotbot import audit as ledger_audit
from tarotbot.cli.database import open_database
from tarotbot.db import connection
from tarotbot.exceptions import AuditFailed


@click.command()
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=ledger_audit.DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Users per batch (env TAROTBOT_AUDIT_BATCH_SIZE).",
)
@click.option(
    "--limit",
    type=click.IntRange(0),
    default=200,
    show_default=True,
    help="Violations printed at most; 0 prints all (env TAROTBOT_AUDIT_LIMIT).",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Progress bar over users on stderr (env TAROTBOT_AUDIT_PROGRESS).",
)
def audit(batch_size: int, limit: int, progress: bool) -> None:
    """Recompute every balance from the transactions and check the ledger's rules.

    Prints a table of violations (user, check, expected, actual) and exits 1,
    or prints "ledger consistent: N users, M transactions" and exits 0.
    """
    open_database()
    with connection():
        total = ledger_audit.user_count()
        bar = tqdm(
            total=total,
            desc="audit",
            unit="user",
            file=sys.stderr,
            disable=not progress or not sys.stderr.isatty(),  # no \r noise in PaaS logs
        )
        with bar:
            report = ledger_audit.run_audit(batch_size=batch_size, on_users=bar.update)
    if report.violations:
        click.echo(ledger_audit.format_table(report.violations, limit or None))
        raise AuditFailed(
            f"{len(report.violations)} ledger violation(s) in {report.users} users, "
            f"{report.transactions} transactions"
        )
    click.echo(f"ledger consistent: {report.users} users, {report.transactions} transactions")


COMMANDS = [audit]
