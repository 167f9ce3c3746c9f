"""``python -m botapi_emulator [--host 127.0.0.1] [--port 8081]``: serve until Ctrl-C.

The same foreground loop as the app's own ``emulator`` command (both end in
:func:`~botapi_emulator.server.serve_in_foreground`), without the app: no
settings, no environment variables. A busy port is one line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys

from botapi_emulator.server import BotAPIEmulator, serve_in_foreground

DEFAULT_PORT = 8081  # the port a self-hosted telegram-bot-api listens on by default


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m botapi_emulator",
        description="Serve a local Telegram Bot API (and its test driver) until Ctrl-C.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (IPv4; default %(default)s)"
    )
    parser.add_argument(
        "--port",
        default=DEFAULT_PORT,
        type=_port,
        help="TCP port; 0 picks a free one (default %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = BotAPIEmulator(args.host, args.port)
    try:
        server.start()
    except OSError as exc:
        parser.exit(1, f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
    serve_in_foreground(server)


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535")
    return port


if __name__ == "__main__":
    main(sys.argv[1:])
