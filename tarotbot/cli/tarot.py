"""CLI commands over the pure tarot package: ``cards`` and ``draw``.

``python -m tarotbot cards [--json]`` lists the deck.
``python -m tarotbot draw SPREAD [--question TEXT] [--seed HEX] [--no-reversals]
[--json] [--picture FILE]`` draws, interprets and prints a reading.

Every option can also come from the environment: ``TAROTBOT_CARDS_JSON``,
``TAROTBOT_DRAW_SPREAD``, ``TAROTBOT_DRAW_QUESTION``, ``TAROTBOT_DRAW_SEED``,
``TAROTBOT_DRAW_NO_REVERSALS``, ``TAROTBOT_DRAW_JSON``, ``TAROTBOT_DRAW_PICTURE``.
Bad input (unknown spread, malformed seed, over-long question) is a one-line
usage error, never a traceback.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import click

from tarotbot.tarot.deck import load_deck
from tarotbot.tarot.errors import (
    DeckError,
    InvalidSeed,
    PhrasingError,
    QuestionTooLong,
    UnknownSpread,
)
from tarotbot.tarot.languages import DEFAULT_LANGUAGE, LANGUAGES, localize, localized_deck
from tarotbot.tarot.spreads import SPREADS

__all__ = ["COMMANDS", "cards", "draw_command", "load_tarot_data"]

_SPREAD_LIST = ", ".join(SPREADS)


def load_tarot_data(*languages: str):
    """The deck, its reading texts and the composer's phrasing in ``languages`` (default:
    every language), validated; broken data is one line, not a traceback."""
    from tarotbot.tarot.card_texts import load_card_texts
    from tarotbot.tarot.phrasing import load_phrasing

    try:
        deck = load_deck()
        for language in languages or LANGUAGES:
            localized_deck(language)
            load_card_texts(language=language)
            load_phrasing(language=language)
    except (DeckError, PhrasingError) as exc:
        raise click.ClickException(f"the card data is broken: {exc}") from None
    return deck


@click.command("cards")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    envvar="TAROTBOT_CARDS_JSON",
    show_envvar=True,
    help="Print JSON.",
)
def cards(as_json: bool) -> None:
    """List the 78 cards of the deck in deck order."""
    deck = load_tarot_data()
    if as_json:
        rows = [
            {
                "key": c.key,
                "name": c.name,
                "arcana": c.arcana,
                "number": c.number,
                "numeral": c.numeral,
                "suit": c.suit,
                "rank": c.rank,
                "element": c.element,
                "yes_no": c.yes_no,
                "keywords_upright": list(c.keywords_upright),
                "keywords_reversed": list(c.keywords_reversed),
            }
            for c in deck
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    header = f"{'':2} {'#':>5}  {'card':<22} {'element':<7}  {'yes/no':<6}  keywords (upright)"
    click.echo(header)
    click.echo("-" * len(header))
    for c in deck:
        keywords = ", ".join(c.keywords_upright[:3])
        click.echo(
            f"{c.symbol:2} {c.numeral:>5}  {c.name:<22} {c.element:<7}  {c.yes_no:<6}  {keywords}"
        )
    click.echo(
        f"\n{len(deck)} cards: {len(deck.majors)} Major Arcana, {len(deck) - len(deck.majors)} Minor"
    )


def _plain(text: str, width: int = 88) -> str:
    """Wrap each line of a plain-text reading for the terminal, keeping blank lines."""
    out = []
    for line in text.splitlines():
        out.append(textwrap.fill(line, width) if line.strip() else "")
    return "\n".join(out)


@click.command("draw")
@click.argument("spread", envvar="TAROTBOT_DRAW_SPREAD")
@click.option(
    "--question",
    "-q",
    envvar="TAROTBOT_DRAW_QUESTION",
    show_envvar=True,
    help="The question to ask.",
)
@click.option(
    "--seed",
    envvar="TAROTBOT_DRAW_SEED",
    show_envvar=True,
    help="16-64 hex characters; the same seed repeats the same draw (default: a new one).",
)
@click.option(
    "--no-reversals",
    is_flag=True,
    envvar="TAROTBOT_DRAW_NO_REVERSALS",
    show_envvar=True,
    help="Draw upright only.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    envvar="TAROTBOT_DRAW_JSON",
    show_envvar=True,
    help="Print JSON.",
)
@click.option(
    "--language",
    type=click.Choice(LANGUAGES),
    default=DEFAULT_LANGUAGE,
    show_default=True,
    envvar="TAROTBOT_DRAW_LANGUAGE",
    show_envvar=True,
    help="The language of the reading and the picture.",
)
@click.option(
    "--picture",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    envvar="TAROTBOT_DRAW_PICTURE",
    show_envvar=True,
    help="Also save the spread picture (PNG) to this file.",
)
def draw_command(
    spread: str,
    question: str | None,
    seed: str | None,
    no_reversals: bool,
    as_json: bool,
    language: str,
    picture: Path | None,
) -> None:
    """Draw SPREAD and print the reading.

    SPREAD is one of: single, three, celtic, relationship, career, week_ahead,
    monthly_guidance, yearly_path, life_path (or set TAROTBOT_DRAW_SPREAD).
    Repeat a reading exactly with --seed.
    """
    from tarotbot.config import get_settings
    from tarotbot.interpreter import interpret
    from tarotbot.tarot.draw import draw, new_seed, normalize_seed
    from tarotbot.tarot.safety import assess_question, clean_question

    if spread not in SPREADS:
        raise click.BadParameter(
            f"unknown spread {spread!r}; choose one of: {_SPREAD_LIST}", param_hint="SPREAD"
        )
    try:
        seed = normalize_seed(seed) if seed else new_seed()
    except InvalidSeed as exc:
        raise click.BadParameter(str(exc), param_hint="--seed") from None
    try:
        question = clean_question(question) or None
    except QuestionTooLong as exc:
        raise click.BadParameter(str(exc), param_hint="--question") from None

    note = assess_question(question, language)
    if note and not note.proceed:
        from tarotbot.tarot.telegram_text import strip_html

        if as_json:
            payload = {"safety": note.category, "language": language, "text": strip_html(note.html)}
            click.echo(json.dumps(payload, ensure_ascii=False))
        else:
            click.echo(_plain(strip_html(note.html)))
        return

    settings = get_settings()
    load_tarot_data(language)
    try:
        result = draw(
            spread,
            seed,
            reversal_probability=settings.reversal_probability,
            reversals=not no_reversals,
        )
    except (UnknownSpread, InvalidSeed) as exc:  # pragma: no cover - checked above
        raise click.UsageError(str(exc)) from None
    reading = interpret(result, question, settings, language)
    text = reading.plain_text()
    if note:
        from tarotbot.tarot.telegram_text import strip_html

        text = strip_html(note.html) + "\n\n" + text

    if picture is not None:
        import datetime as dt

        from tarotbot.tarot.render import render_spread

        try:
            image = render_spread(
                result,
                question=question,
                date=dt.datetime.now(dt.UTC),
                brand="TarotBot",
                language=language,
            )
            picture.write_bytes(image)
        except OSError as exc:
            raise click.ClickException(f"cannot write the picture to {picture}: {exc}") from None

    if as_json:
        shown = localize(result, language)
        payload = {
            "spread": result.spread.name,
            "seed": result.seed,
            "language": language,
            "cards": [
                {"position": dc.position.key, "name": dc.card.name, "reversed": dc.reversed}
                for dc in shown.cards
            ],
            "interpretation": text,
            "author": reading.author,
        }
        if note:
            payload["safety"] = note.category
        if picture is not None:
            payload["picture"] = str(picture)
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    click.echo(_plain(text))
    click.echo(f"\nseed {result.seed}  (repeat this draw with --seed {result.seed})")
    if picture is not None:
        click.echo(f"picture saved to {picture}")


COMMANDS = [cards, draw_command]
