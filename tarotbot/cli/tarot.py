"""CLI commands over the pure tarot package: ``cards`` and ``draw``."""

COMMANDS: list = []
