#!/usr/bin/env bash
# The bot's message catalogs, with Babel: extract | update | compile | init LANGUAGE.
#   extract  collect every marked message (N_, Plural) into tarotbot/locale/tarotbot.pot
#   update   merge the template into each language's tarotbot.po (new ids become empty)
#   compile  write each language's tarotbot.mo (what the bot reads)
#   init LL  start a catalog for a new language LL
set -euo pipefail
cd "$(dirname "$0")/.."
locale=tarotbot/locale
pybabel=".venv/bin/pybabel --quiet"
case "${1:-}" in
  extract)
    $pybabel extract -F babel.cfg -k N_ -k Plural:1,2 --no-location --sort-output \
      --omit-header --no-wrap -o "$locale/tarotbot.pot" . ;;
  update)
    $pybabel update -D tarotbot -i "$locale/tarotbot.pot" -d "$locale" --no-fuzzy-matching --no-wrap \
      --ignore-obsolete ;;
  compile)
    $pybabel compile -D tarotbot -d "$locale" --statistics ;;
  init)
    $pybabel init -D tarotbot -i "$locale/tarotbot.pot" -d "$locale" -l "${2:?language code}" ;;
  *)
    echo "usage: $0 extract|update|compile|init LANGUAGE" >&2; exit 2 ;;
esac
