"""The DEBUG line for every outbox state change, written once it is committed.

    commit 5f0c…: queued -> sending [send_started]
    commit 5f0c…: sending -> retry_wait [retryable_rejection] HTTP 503, failed attempts 1,
        next attempt 2025-03-10T09:00:12Z (in 4.2 s)
    commit 5f0c…: retry_wait -> sending [send_started]
    commit 5f0c…: sending -> confirmed [server_accepted]

The commit id is a random UUID (not PHI); the line holds states, the event, the HTTP status
and the retry schedule only — never the error text (it can quote the EHR, and so a name).
``OutboxRepository`` calls ``log_changes`` where it tells its listeners, the one place every
transition passes after it is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from app.domain.clock import Clock
from app.domain.outbox import FAILURE_EVENTS, SyncEvent
from app.store.outbox_records import OutboxChange

log = logging.getLogger(__name__)

# Events that always come with the EHR's status (others may carry an earlier attempt's one).
_ANSWERED = frozenset(
    {
        SyncEvent.RETRYABLE_REJECTION,
        SyncEvent.PERMANENT_REJECTION,
        SyncEvent.CONFLICT_DETECTED,
        SyncEvent.SIGN_IN_REQUIRED,
    }
)


def describe_change(change: OutboxChange, now: datetime) -> str:
    item = change.item
    old = change.old_state.value if change.old_state is not None else "(approved)"
    line = f"commit {change.commit_id}: {old} -> {item.state.value}"
    if item.last_event is not None:
        line += f" [{item.last_event.value}]"
    if item.last_event in FAILURE_EVENTS:
        if item.last_event in _ANSWERED and item.last_status is not None:
            line += f" HTTP {item.last_status}"
        line += f", failed attempts {item.attempts}"
    if item.next_attempt_at is not None:
        wait = (item.next_attempt_at - now).total_seconds()
        stamp = item.next_attempt_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        line += f", next attempt {stamp} (in {max(wait, 0.0):.1f} s)"
    return line


def log_changes(changes: Sequence[OutboxChange], clock: Clock) -> None:
    """``clock`` is read only when the lines are written (DEBUG)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    now = clock()
    for change in changes:
        log.debug("%s", describe_change(change, now))
