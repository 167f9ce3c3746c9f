"""Encrypted, streamed backups and verified restores.

The README's "Backups and disaster recovery" is the operator's guide (what a
backup is, set-up, commands, schedule, runbook). The modules:

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
