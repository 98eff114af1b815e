"""Issue 15: the audit records of one outbox event are appended together (one head read, one
INSERT, one head move), and the hook reads nothing for events that make no record."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from app.domain.audit import GENESIS_HASH, AuditEvent, AuditKind
from app.domain.commit import ApprovedCommit
from app.domain.outbox import OutboxState, SyncEvent
from app.fhir.profiles import load_profile
from app.store import audit_hooks, outbox_changes
from app.store.audit_hooks import AuditHooks, records_something
from app.store.crypto import StoreKeyring
from app.store.outbox_records import OutboxEvent, OutboxEventKind, WriteResult, not_written
from app.store.prepared import Prepared
from app.store.protected import ProtectedStore, open_protected_store
from tests.store.protected_support import file_keyring
from tests.sync.commits import clinical_commit

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def ps(tmp_path: Path) -> Iterator[ProtectedStore]:
    keys = StoreKeyring(file_keyring(tmp_path / "keys"))
    opened = open_protected_store(tmp_path / "user" / "store.db", keys)
    yield opened
    opened.close()


def event(n: int) -> AuditEvent:
    return AuditEvent(
        kind=AuditKind.CHART_OPENED,
        at=T0 + timedelta(minutes=n),
        actor="Practitioner/prac-1",
        patient_id="pat-1",
        details={"n": n},
    )


def test_records_appended_together_continue_the_chain(ps: ProtectedStore) -> None:
    ps.audit.append(event(0))
    together = ps.audit.append_many([event(1), event(2), event(3)])
    ps.audit.append(event(4))
    records = list(ps.audit.records())
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert [r.seq for r in together] == [2, 3, 4]
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert [r.event.details for r in records] == [{"n": n} for n in range(5)]
    result = ps.audit.verify()
    assert result.ok and result.checked == 5
    assert result.head is not None and result.head.seq == 5
    assert ps.audit.append_many([]) == []


_NEUTRAL = SimpleNamespace(
    draft_id=None,
    attempts=1,
    last_status=503,
    strategy="transaction",
    resource_types="Composition",
    write_count=1,
    decision_format=-1,
    decision=b"",
    draft=None,
    patient="pat-1",
    encounter="enc-1",
)


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every query of the hook (app.store.prepared) answers one neutral row."""
    monkeypatch.setattr(Prepared, "first", lambda *_args: _NEUTRAL)
    monkeypatch.setattr(Prepared, "scalar", lambda *_args: 0)
    monkeypatch.setattr(Prepared, "all", lambda *_args: [])


class _Captured:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append_many(self, events: list[AuditEvent], *, conn: Any) -> None:
        self.events += events


@pytest.mark.usefixtures("answers")
def test_events_said_to_make_no_record_make_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every state change the pure pre-check lets through without reading is one for which
    the hook, reading everything, would record nothing (the check must not drift)."""
    says = records_something  # the check under test, before it is bypassed
    monkeypatch.setattr(audit_hooks, "records_something", lambda _ev: True)
    captured = _Captured()
    hooks = AuditHooks(captured, SimpleNamespace(protector=None))  # type: ignore[arg-type]
    skipped = 0
    for old, new, sync_event in itertools.product(OutboxState, OutboxState, SyncEvent):
        ev = OutboxEvent(OutboxEventKind.STATE_CHANGED, uuid4(), 1, old, new, sync_event, T0)
        captured.events.clear()
        hooks.on_outbox(None, ev)  # type: ignore[arg-type]
        if not says(ev):
            skipped += 1
            assert captured.events == [], (old, new, sync_event)
    assert skipped > 0  # queued -> sending, among others


@pytest.mark.usefixtures("answers")
def test_a_send_given_back_before_any_request_is_not_an_attempt() -> None:
    captured = _Captured()
    hooks = AuditHooks(captured, SimpleNamespace(protector=None))  # type: ignore[arg-type]
    ev = OutboxEvent(
        OutboxEventKind.STATE_CHANGED,
        uuid4(),
        1,
        OutboxState.SENDING,
        OutboxState.QUEUED,
        SyncEvent.SEND_WITHHELD,
        T0,
    )
    hooks.on_outbox(None, ev)  # type: ignore[arg-type]
    assert captured.events == []
    sent = OutboxEvent(
        OutboxEventKind.STATE_CHANGED,
        uuid4(),
        1,
        OutboxState.SENDING,
        OutboxState.QUEUED,
        SyncEvent.AUTH_REFRESH_NEEDED,
        T0,
    )
    hooks.on_outbox(None, sent)  # type: ignore[arg-type]
    assert [e.kind for e in captured.events] == [AuditKind.SEND_ATTEMPT]


def _send_three_ways(ps: ProtectedStore, commits: list[ApprovedCommit]) -> list[tuple[Any, ...]]:
    """A confirmation (a refused companion among its writes), a failed attempt, a conflict:
    the records they made, without what differs between two stores (seq, hashes)."""
    outbox = ps.store.outbox
    for commit in commits:
        outbox.enqueue_approval(commit, "{}")
        outbox.apply(commit.commit_id, SyncEvent.SEND_STARTED, now=T0, strategy="transaction")
    first, second, third = commits
    results = [WriteResult(w.position, f"id-{w.position}", "1") for w in first.writes[:-1]]
    results.append(not_written(first.writes[-1].position, 403))
    outbox.apply(first.commit_id, SyncEvent.SERVER_ACCEPTED, now=T0, results=results)
    outbox.apply(second.commit_id, SyncEvent.RETRYABLE_REJECTION, now=T0, status=503, error="x")
    outbox.apply(third.commit_id, SyncEvent.CONFLICT_DETECTED, now=T0, status=412, error="y")
    return [
        (r.event.kind, r.event.state, r.event.commit_id, r.event.details)
        for r in ps.audit.records()
        if r.event.kind is not AuditKind.APPROVED
    ]


def test_the_facts_a_change_brings_record_what_reading_the_row_back_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: a state change hands the hook the commit's facts (attempts, status, strategy,
    the writes of a confirmation) instead of the hook reading them back; the records must be
    the same either way."""
    profile = load_profile("generic-r4")
    commits = [clinical_commit(profile, text=f"note {n}") for n in range(3)]
    keys = StoreKeyring(file_keyring(tmp_path / "keys"))
    recorded = []
    for name in ("brought", "read back"):
        if name == "read back":  # every event without its facts: the hook reads the row
            monkeypatch.setattr(outbox_changes, "CommitFacts", lambda *_args: None)
        ps = open_protected_store(tmp_path / name / "store.db", keys)
        try:
            recorded.append(_send_three_ways(ps, commits))
        finally:
            ps.close()
    brought, read_back = recorded
    kinds = [r[0] for r in brought]
    assert kinds.count(AuditKind.SEND_ATTEMPT) == 3
    assert AuditKind.CONFIRMED in kinds and AuditKind.CONFLICT in kinds
    confirmed = next(r for r in brought if r[0] is AuditKind.CONFIRMED)
    assert confirmed[3]["written"][-1].endswith("not written: refused by the EHR (HTTP 403)")
    assert brought == read_back


def test_many_records_appended_together_go_in_several_inserts(ps: ProtectedStore) -> None:
    together = ps.audit.append_many([event(n) for n in range(19)])  # more than one INSERT holds
    assert [r.seq for r in together] == list(range(1, 20))
    assert [r.event.details for r in ps.audit.records()] == [{"n": n} for n in range(19)]
    assert ps.audit.verify().ok
