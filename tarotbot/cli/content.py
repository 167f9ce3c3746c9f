"""``content-report``: the composer's output measured (length, repetition, template slips)."""

from __future__ import annotations

import json
import sys

import click
from tqdm import tqdm

from tarotbot.cli.tarot import load_tarot_data
from tarotbot.tarot.languages import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["COMMANDS", "content_report_command"]


@click.command("content-report")
@click.option(
    "--readings",
    type=click.IntRange(1, 10_000),
    default=30,
    show_default=True,
    help="Readings per spread.",
)
@click.option("--examples/--no-examples", default=True, help="Show the most repeated sentences.")
@click.option(
    "--language",
    type=click.Choice(LANGUAGES),
    default=DEFAULT_LANGUAGE,
    show_default=True,
    help="The language of the readings.",
)
def content_report_command(readings: int, examples: bool, language: str) -> None:
    """Write READINGS readings of every spread and report words, repetition and slips.

    Questions come from a fixed list (open, yes/no, every topic, and questions
    that get no verdict); seeds are fixed, so two runs print the same figures.
    Ends with one line of JSON.
    """
    from tarotbot.tarot.report import spread_report
    from tarotbot.tarot.spreads import SPREADS

    load_tarot_data(language)
    results = {}
    problems = []
    click.echo(f"{'spread':<18} {'words median':>12} {'max':>5} {'target':>10} {'repeated':>9}")
    bar = tqdm(SPREADS, desc="content", unit="spread", disable=not sys.stderr.isatty())
    for name in bar:
        report = spread_report(name, readings, language)
        figures = report.as_dict()
        results[name] = figures
        low, high = figures["target"]
        target = f"{low}–{high}" if high else "–"
        click.echo(
            f"{name:<18} {figures['words_median']:>12} {figures['words_max']:>5} "
            f"{target:>10} {figures['repeated_share']:>8.1%}"
        )
        if examples:
            for line in report.examples[:3]:
                click.echo(f"    {line[:110]}")
        problems += [f"{name}: {p}" for p in report.problems]
    for line in problems[:20]:
        click.echo(f"slip: {line}")
    click.echo(f"template slips: {len(problems)}")
    worst = max(r["repeated_share"] for r in results.values())
    summary = {"report": "content", "language": language, "readings_per_spread": readings}
    summary["spreads"] = results
    summary |= {"max_repeated_share": worst, "slips": len(problems)}
    click.echo(json.dumps(summary, sort_keys=True))


COMMANDS = [content_report_command]
