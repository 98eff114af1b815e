"""The status sentence tells the truth about the EHR (issue 13): "Connecting…" is not green,
"Offline since" says when, times are local and to the second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.domain.outbox import OutboxState as S
from app.domain.reachability import Connectivity
from app.fhir.items.base import time_words
from app.smart.lifetime import ends_words
from app.store.outbox_records import OutboxSummary
from app.sync.runner import RunnerStatus
from app.ui.outbox_words import Severity, local_time, status_sentence

NOW = datetime(2025, 3, 10, 14, 30, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clinic_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A computer five hours behind UTC: a UTC time on screen would be visibly wrong."""
    import time

    monkeypatch.setenv("TZ", "EST+05")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_local_and_to_the_second() -> None:
    assert local_time(NOW, NOW) == "09:30:05"
    assert local_time(NOW - timedelta(days=1), NOW) == "2025-03-09 09:30:05"
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    assert local_time(plus_two, NOW) == "09:30:05"  # whatever zone it was stored in
    assert local_time(None, NOW) == ""


def test_the_review_and_the_session_end_speak_local_time() -> None:
    """Issue 13 walk-through: "What will be written" said "at 2026-12-07 11:48 UTC" and the
    status bar "session ends at 15:30 UTC"; both are the computer's time."""
    assert time_words("2025-03-10T14:30:05Z") == "2025-03-10 09:30"
    assert time_words("2025-03-10T16:30:05+02:00") == "2025-03-10 09:30"
    assert time_words("2025-03-10") == "2025-03-10"  # a date stays a date
    assert ends_words(NOW + timedelta(hours=1), NOW) == "10:30 (in about 60 minutes)"


def test_connecting_is_busy_not_green() -> None:
    status = RunnerStatus(running=True, connectivity=Connectivity.UNKNOWN)
    sentence = status_sentence(OutboxSummary({}, None), status, NOW)
    assert sentence.text.startswith("Connecting…")
    assert sentence.severity is Severity.BUSY


def test_offline_says_since_when_and_the_tooltip_the_last_answer() -> None:
    status = RunnerStatus(
        running=True,
        connectivity=Connectivity.OFFLINE,
        last_contact_at=NOW - timedelta(seconds=12),
        offline_since=NOW - timedelta(seconds=2),
    )
    sentence = status_sentence(OutboxSummary({S.RETRY_WAIT: 2}, None), status, NOW)
    assert sentence.text == (
        "Offline since 09:30:03 — 2 notes will be sent when the EHR is reachable"
    )
    assert "Last answer from the EHR: 09:29:53" in sentence.detail
    assert "No answer from the EHR since: 09:30:03" in sentence.detail


def test_online_shows_the_last_sync_to_the_second() -> None:
    status = RunnerStatus(running=True, connectivity=Connectivity.ONLINE, last_contact_at=NOW)
    summary = OutboxSummary({S.CONFIRMED: 3}, last_success_at=NOW - timedelta(seconds=40))
    sentence = status_sentence(summary, status, NOW)
    assert sentence.text.startswith("Online · 0 queued")
    assert sentence.text.endswith("last sync 09:29:25")
    assert sentence.severity is Severity.OK
