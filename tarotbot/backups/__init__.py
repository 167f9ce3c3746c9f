"""Encrypted, streamed backups and verified restores."""
