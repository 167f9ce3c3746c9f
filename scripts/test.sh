#!/usr/bin/env bash
# Set up .venv and run every test against the local PostgreSQL and Redis.
# Each run creates its own throwaway database and claims a free Redis DB index.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
redis_up() { .venv/bin/python -c 'import redis; redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()' 2>/dev/null; }
# A stopped PostgreSQL or Redis of this machine is started (as the README's commands do).
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect 15 main start 2>/dev/null || true
  for _ in $(seq 20); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break; sleep 0.5; done
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "PostgreSQL is not running on 127.0.0.1:5432; start it with: pg_ctlcluster --skip-systemctl-redirect 15 main start" >&2
  exit 2
fi
if ! redis_up && command -v redis-server >/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
  for _ in $(seq 20); do redis_up && break; sleep 0.5; done
fi
if ! redis_up; then
  echo 'Redis is not running on 127.0.0.1:6379; start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no' >&2
  exit 2
fi
.venv/bin/ruff check --output-format concise .
.venv/bin/ruff format --check --quiet .
.venv/bin/lint-imports --no-cache --no-logo  # the architecture's import contracts (pyproject.toml)
# the backup tests check interop with Debian's stock age CLI (they fail, not skip, without it)
if ! command -v age >/dev/null && [ "$(id -u)" = 0 ]; then
  { apt-get install -y -qq age >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq age >/dev/null; }; } \
    || echo "warning: could not install age (apt-get install -y age); the backup interop tests will fail" >&2
fi
export TZ=UTC
# by file on both cores (TEST_WORKERS=0: one process); a file's tests share its fixtures
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
