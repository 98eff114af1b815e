"""The DEBUG line of an outbox state change: states, event, status and schedule, no error text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from app.domain.outbox import OutboxItem, OutboxState, SyncEvent
from app.store.outbox_log import describe_change
from app.store.outbox_records import OutboxChange

S, E = OutboxState, SyncEvent
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def change(old: OutboxState | None, **item: object) -> OutboxChange:
    commit_id = uuid4()
    fields: dict[str, object] = {"commit_id": commit_id, "sequence": 1, **item}
    return OutboxChange(commit_id, old, OutboxItem(**fields))  # type: ignore[arg-type]


def test_a_retry_shows_the_status_the_attempts_and_when_it_is_due() -> None:
    line = describe_change(
        change(
            S.SENDING,
            state=S.RETRY_WAIT,
            last_event=E.RETRYABLE_REJECTION,
            last_status=503,
            attempts=2,
            next_attempt_at=NOW + timedelta(seconds=7.5),
            last_error="The EHR said: Maria Garcia's chart is locked",
        ),
        NOW,
    )
    assert line.endswith(
        ": sending -> retry_wait [retryable_rejection] HTTP 503, failed attempts 2, "
        "next attempt 2025-03-10T09:00:07Z (in 7.5 s)"
    )
    assert "Maria" not in line and "locked" not in line


def test_a_network_failure_does_not_repeat_an_earlier_attempts_status() -> None:
    line = describe_change(
        change(S.SENDING, state=S.RETRY_WAIT, last_event=E.NOT_SENT, last_status=503, attempts=3),
        NOW,
    )
    assert line.endswith(": sending -> retry_wait [not_sent], failed attempts 3")


def test_approval_and_confirmation() -> None:
    queued = change(None, state=S.QUEUED)
    assert describe_change(queued, NOW) == f"commit {queued.commit_id}: (approved) -> queued"
    done = describe_change(
        change(S.SENDING, state=S.CONFIRMED, last_event=E.SERVER_ACCEPTED, last_status=503), NOW
    )
    assert done.endswith(": sending -> confirmed [server_accepted]")
