"""RQ entry point for outbound bundles the sender rescheduled (rate limit, 429, failures).

:func:`deliver_bundle` takes plain data (bundle id, chat id, items as dicts)
and hands it back to the process's :class:`~tarotbot.telegram.sender.Sender`,
which skips what an earlier attempt already delivered. No database is
touched, so the job does not use :func:`jobs.job_context`.

The sender is the process app's, built once from the settings (a forked work horse
builds its own, which costs no network call). Its token comes from
``TELEGRAM_BOT_TOKEN`` and never enters the job's arguments or result.
"""

from __future__ import annotations

from typing import Any

from jobs import get_app, timed_job
from tarotbot.telegram.sender import DEFAULT_MAX_WAIT, Outgoing


@timed_job
def deliver_bundle(
    bundle_id: str,
    chat_id: int,
    items: list[dict[str, Any]],
    max_wait: float = DEFAULT_MAX_WAIT,
    at_most_once: bool = False,
) -> dict[str, Any]:
    """Deliver the rest of a bundle; the job's result says what was sent and what was not."""
    outgoing = [Outgoing.from_dict(item) for item in items]
    result = get_app().sender.deliver(
        bundle_id, int(chat_id), outgoing, max_wait=max_wait, at_most_once=at_most_once
    )
    return result.to_dict()
