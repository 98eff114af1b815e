"""The due-time rule in SQL (app.store.outbox.due_clause) against the pure rule
(app.domain.retry.is_due): the runner's query and the planner must agree on every instant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.clock import format_ts
from app.domain.commit import DraftWrite, build_commit
from app.domain.retry import DEFAULT_BACKOFF, BackoffPolicy, due_window, is_due
from app.store.outbox_tables import outbox_commits
from app.store.store import Store, open_store

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
DECISION = json.dumps({"approved_by": "Practitioner/prac-1"})
SHORT = BackoffPolicy(cap=timedelta(minutes=1), max_retry_after=timedelta(minutes=2))
LONGEST = DEFAULT_BACKOFF.longest_wait + timedelta(seconds=1)
_µs = timedelta(microseconds=1)
EDGES = [
    None,
    -timedelta(days=3),
    -_µs,
    timedelta(0),
    _µs,
    timedelta(seconds=30),
    LONGEST - _µs,
    LONGEST,
    LONGEST + _µs,
    timedelta(days=30),
]

# offsets from NOW in microseconds, around both bounds of the rule for both policies
offsets = st.one_of(
    st.none(),
    st.integers(-(10**11), 10**11),
    st.sampled_from([0, 1, -1]),
    st.integers(-3, 3).map(lambda d: int(LONGEST / _µs) + d),
    st.integers(-3, 3).map(lambda d: int((SHORT.longest_wait + timedelta(seconds=1)) / _µs) + d),
)


@pytest.fixture
def waiting(tmp_path: Path) -> Iterator[Store]:
    """A store with twelve queued commits whose next attempt the tests set directly."""
    store = open_store(tmp_path / "store.db", clock=lambda: NOW)
    for _ in range(12):
        store.outbox.enqueue_approval(
            build_commit([DraftWrite({"resourceType": "Task"})], sequence=1), DECISION
        )
    yield store
    store.close()


def set_next_attempts(store: Store, times: list[datetime | None]) -> list[int]:
    rows = store.outbox.list_items()[: len(times)]
    with store.db.write() as c:
        for row, at in zip(rows, times, strict=True):
            c.execute(
                outbox_commits.update()
                .where(outbox_commits.c.commit_id == str(row.commit_id))
                .values(next_attempt_at=None if at is None else format_ts(at))
            )
    return [row.sequence for row in rows]


def claimed(store: Store, now: datetime, policy: BackoffPolicy) -> list[int]:
    store.outbox.policy = policy
    return [e.item.sequence for e in store.outbox.claim_due(now, limit=100)]


def test_the_rule_at_its_edges() -> None:
    window = due_window(NOW)
    assert window.due_by == NOW and window.clock_jumped_after == NOW + LONGEST
    due = [is_due(None if d is None else NOW + d, NOW) for d in EDGES]
    assert due == [True, True, True, True, False, False, False, False, True, True]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_window(datetime(2025, 3, 10, 12, 0))


def test_the_query_agrees_with_the_rule_at_its_edges(waiting: Store) -> None:
    times = [None if d is None else NOW + d for d in EDGES] + [NOW, NOW + LONGEST]
    sequences = set_next_attempts(waiting, times)
    expected = [s for s, at in zip(sequences, times, strict=True) if is_due(at, NOW)]
    assert claimed(waiting, NOW, DEFAULT_BACKOFF) == expected


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(offsets, min_size=12, max_size=12),
    st.sampled_from([DEFAULT_BACKOFF, SHORT]),
)
def test_the_query_agrees_with_the_rule(
    waiting: Store, micros: list[int | None], policy: BackoffPolicy
) -> None:
    times = [None if m is None else NOW + m * _µs for m in micros]
    sequences = set_next_attempts(waiting, times)
    expected = [s for s, at in zip(sequences, times, strict=True) if is_due(at, NOW, policy)]
    assert claimed(waiting, NOW, policy) == expected


def test_next_due_at_follows_the_rule(waiting: Store) -> None:
    """The runner sleeps until ``next_due_at``: a wait set by a clock that jumped back is due
    now there too, not after the jump."""
    assert waiting.outbox.next_due_at() == NOW  # queued: due at once
    assert waiting.outbox.next_due_at(include_queued=False) is None
    set_next_attempts(waiting, [NOW + timedelta(seconds=30)] * 12)
    assert waiting.outbox.next_due_at(include_queued=False) == NOW + timedelta(seconds=30)
    set_next_attempts(waiting, [NOW + timedelta(seconds=30)] * 11 + [NOW + timedelta(days=30)])
    assert waiting.outbox.next_due_at(include_queued=False) == NOW
