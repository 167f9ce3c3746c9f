#!/usr/bin/env bash
# Set up .venv and run TarotBot: the local demo chat without a token, the real bot with one.
#   ./scripts/run.sh                             chat in this terminal (or pipe a script in)
#   TELEGRAM_BOT_TOKEN=... ./scripts/run.sh      the real bot (embedded: SQLite + in-process queue;
#                                                set DATABASE_URL/REDIS_URL and run workers to scale)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export TZ=UTC
if [ -n "${TELEGRAM_BOT_TOKEN:-}" ]; then
  .venv/bin/python -m tarotbot migrate
  exec .venv/bin/python -m tarotbot bot "$@"
fi
exec .venv/bin/python -m tarotbot demo "$@"
