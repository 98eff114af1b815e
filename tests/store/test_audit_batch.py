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
from app.domain.outbox import OutboxState, SyncEvent
from app.store import audit_hooks
from app.store.audit_hooks import AuditHooks, records_something
from app.store.crypto import StoreKeyring
from app.store.outbox_records import OutboxEvent, OutboxEventKind
from app.store.protected import ProtectedStore, open_protected_store
from tests.store.protected_support import file_keyring

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


class _Answers:
    """A connection that answers every query of the hook with one neutral row."""

    row = SimpleNamespace(
        draft_id=None,
        attempts=1,
        last_status=503,
        strategy="transaction",
        resource_types="Composition",
        write_count=1,
        decision_format=-1,
        decision=b"",
        patient_id="pat-1",
        encounter_id="enc-1",
    )

    def execute(self, *_args: Any) -> _Answers:
        return self

    def first(self) -> Any:
        return self.row

    def scalar_one(self) -> int:
        return 0

    def __iter__(self) -> Iterator[Any]:
        return iter(())


class _Captured:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append_many(self, events: list[AuditEvent], *, conn: Any) -> None:
        self.events += events


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
        hooks.on_outbox(_Answers(), ev)  # type: ignore[arg-type]
        if not says(ev):
            skipped += 1
            assert captured.events == [], (old, new, sync_event)
    assert skipped > 0  # queued -> sending, among others


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
    hooks.on_outbox(_Answers(), ev)  # type: ignore[arg-type]
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
    hooks.on_outbox(_Answers(), sent)  # type: ignore[arg-type]
    assert [e.kind for e in captured.events] == [AuditKind.SEND_ATTEMPT]
