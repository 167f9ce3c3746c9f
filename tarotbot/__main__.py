"""``python -m tarotbot``: the command line."""

from tarotbot.cli import main

if __name__ == "__main__":
    main()
