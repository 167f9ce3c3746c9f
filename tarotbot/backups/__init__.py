"""Encrypted, streamed backups and verified restores.

A backup is a consistent dump (``pg_dump --format=custom`` at an exported
snapshot, or an SQLite copy through the backup API) streamed through age
encryption into storage, then a JSON manifest written last: a backup
without its manifest does not exist. The machine taking backups holds only
public keys; verify and restore need the secret key. The files are plain
age files, so ``age -d -i key.txt FILE | pg_restore -d URL`` restores one
with the stock tools and nothing of ours.

- ``service``   create, list, verify (``--full``: restore into a scratch
                database and audit it), restore, prune: the operator's actions
- ``dump``      the database end: pg_dump/pg_restore as child processes with
                the password in their environment, the SQLite copy; byte meters
- ``manifest``  ids, object names, the manifest and the figures it records
- ``crypto``    age encryption and decryption as streams (pyrage)
- ``storage``   a folder or an S3-compatible bucket; objects appear only
                when complete
- ``lock``      the Redis lock that makes two concurrent runs one backup

The CLI is ``tarotbot/cli/backup.py``; the scheduled runs are ``jobs/backups.py``.
"""
