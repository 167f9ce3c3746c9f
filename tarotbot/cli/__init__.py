"""The ``python -m tarotbot`` command group.

Each module named in :data:`COMMAND_MODULES` exports ``COMMANDS``, a list of
click commands, so commands live next to the domain they drive. Every option
can also be given as an environment variable (``TAROTBOT_<COMMAND>_<OPTION>``,
or the variable named in the option's help).

Expected failures (:class:`~tarotbot.exceptions.TarotBotError`) end the
command with one line on stderr and a non-zero exit code, never a traceback;
anything else prints its traceback with the bot token redacted, as every log
line is (:mod:`tarotbot.redaction`).
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from tarotbot import __version__
from tarotbot.config import get_settings
from tarotbot.exceptions import TarotBotError
from tarotbot.redaction import RedactingFormatter, redacted_traceback

#: Each command and the module that defines it (in its ``COMMANDS`` list). A
#: module is imported only when one of its commands runs, so a process loads
#: what it uses: ``backup create`` starts without the bot, RQ or gunicorn.
COMMAND_MODULES = {
    "migrate": "tarotbot.cli.database",
    "cards": "tarotbot.cli.tarot",
    "draw": "tarotbot.cli.tarot",
    "content-report": "tarotbot.cli.content",
    "emulator": "tarotbot.cli.emulator",
    "worker": "tarotbot.cli.runtime",
    "scheduler": "tarotbot.cli.runtime",
    "bot": "tarotbot.cli.runtime",
    "web": "tarotbot.cli.runtime",
    "demo": "tarotbot.cli.runtime",
    "audit": "tarotbot.cli.audit",
    "reconcile": "tarotbot.cli.reconcile",
    "health": "tarotbot.cli.health",
    "backup": "tarotbot.cli.backup",
}


class _LazyGroup(click.Group):
    """A group that imports a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(name)
        if module is None:
            return None
        return next(c for c in importlib.import_module(module).COMMANDS if c.name == name)


@click.group(
    cls=_LazyGroup,
    context_settings={"auto_envvar_prefix": "TAROTBOT", "help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="tarotbot")
def cli() -> None:
    """TarotBot: tarot readings on Telegram.

    Run `python -m tarotbot COMMAND --help` for the options of each command.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn expected failures into one line."""
    try:
        cli.main(args=argv, prog_name="python -m tarotbot", standalone_mode=False)
    except TarotBotError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.BadParameter as exc:  # one line, naming the variable a bad value came from
        click.echo(f"error: {exc.format_message()}{_from_env(exc)}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug or an unexpected failure: report it, token-free
        click.echo(redacted_traceback(exc, _token()), err=True, nl=False)
        sys.exit(1)
    sys.exit(0)


def _from_env(exc: click.BadParameter) -> str:
    """`` (from VAR)`` when the bad value came from an environment variable, else ``""``."""
    from click.core import ParameterSource

    ctx, param = exc.ctx, exc.param
    if ctx is None or param is None or param.name is None:
        return ""
    if ctx.get_parameter_source(param.name) != ParameterSource.ENVIRONMENT:
        return ""
    name = param.envvar or f"{ctx.auto_envvar_prefix}_{param.name.upper()}"
    return f" (from {name if isinstance(name, str) else ', '.join(name)})"


def _token() -> str | None:
    """The configured bot token, to redact it (None when unset or unreadable)."""
    try:
        secret = get_settings().telegram_bot_token
    except TarotBotError:
        return None
    return secret.reveal() if secret else None


def setup_logging(level: str = "INFO", telegram: bool = True) -> None:
    """Plain one-line logs on stderr (the PaaS collects them), never showing the bot token.

    urllib3 stays at WARNING or above even at DEBUG: its request lines carry
    the Bot API URL, token included (redacted anyway; also too chatty).
    ``telegram=False``: a command that never talks to Telegram (backups)
    skips importing pyTelegramBotAPI just to reroute its logger (0.2 s).
    """
    numeric = getattr(logging, level, logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", token=_token())
    )
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    logging.getLogger("urllib3").setLevel(max(numeric, logging.WARNING))
    if not telegram:
        return
    # pyTelegramBotAPI gives its logger a handler of its own when imported: send
    # its lines through ours instead, so they are redacted too (and not twice).
    import telebot  # noqa: F401  (imported now, so its handler is added before we remove it)

    telebot_log = logging.getLogger("TeleBot")
    telebot_log.handlers.clear()
    telebot_log.propagate = True
