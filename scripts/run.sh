#!/usr/bin/env bash
# Set up .venv and run TarotBot: the local demo chat without a token, the real bot with one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ -n "${TELEGRAM_BOT_TOKEN:-}" ]; then
  .venv/bin/python -m tarotbot migrate
  exec .venv/bin/python -m tarotbot bot "$@"
fi
.venv/bin/python -m tarotbot migrate
echo "The embedded database is ready. The demo chat arrives with the bot (issue 6)." >&2
