"""The KPI recorder as a listener of the audit log: every figure from the events the draft and
outbox repositories already record, in their transactions; counters and durations only."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.domain.audit import AuditEvent, AuditKind, AuditRecord
from app.domain.draft import DraftProvenance, DraftSource, DraftStatus, NoteSection
from app.domain.kpi import Delivery, NoteOutcome, NoteSource, PartEdit
from app.domain.outbox import SyncEvent
from app.store.crypto import StoreKeyring
from app.store.kpi_hooks import KpiRecorder
from app.store.outbox_records import WriteResult
from app.store.protected import ProtectedStore, open_protected_store
from tests.store.protected_support import (
    MARKER,
    PATIENT_NAME,
    decision_json,
    file_keyring,
    marker_commit,
    marker_draft,
)

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
DAY = date(2025, 3, 10)


class ManualClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = T0 + timedelta(minutes=minutes)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ps(tmp_path: Path, clock: ManualClock) -> Iterator[ProtectedStore]:
    opened = open_protected_store(
        tmp_path / "user" / "store.db",
        StoreKeyring(file_keyring(tmp_path / "keyring")),
        actor=lambda: "Practitioner/prac-1",
        clock=clock,
        day_of=lambda at: at.date(),
    )
    yield opened
    opened.close()


def record(ps: ProtectedStore, kind: AuditKind, at: datetime, **kw: object) -> None:
    ps.audit.append(AuditEvent(kind, at, "Practitioner/prac-1", **kw))  # type: ignore[arg-type]


def approve(ps: ProtectedStore, draft_id: object) -> object:
    store = ps.store
    commit = marker_commit()
    with store.db.write() as conn:
        store.drafts.set_status(draft_id, DraftStatus.APPROVED, conn=conn)  # type: ignore[arg-type]
        store.outbox.enqueue_approval(
            commit, decision_json(marker_draft()), draft_id=draft_id, conn=conn
        )  # type: ignore[arg-type]
    return commit.commit_id


def accepted(ps: ProtectedStore, commit_id: object) -> None:
    ps.store.outbox.apply(
        commit_id,  # type: ignore[arg-type]
        SyncEvent.SERVER_ACCEPTED,
        status=201,
        results=[WriteResult(i, f"id-{i}", "1") for i in range(3)],
    )


def test_a_note_from_opening_to_confirmed(ps: ProtectedStore, clock: ManualClock) -> None:
    record(ps, AuditKind.SIGN_IN, T0)
    clock.at(1)
    record(ps, AuditKind.CHART_OPENED, clock.now, patient_id="pat-1", encounter_id="enc-1")
    clock.at(2)
    draft = ps.store.drafts.save(marker_draft())
    clock.at(9)
    draft = ps.store.drafts.save(draft.with_section_text(draft.sections[0].key, "Rewritten."))
    ps.store.kpi.add_active_time(draft.id, 95_000, DAY)
    clock.at(12.5)
    commit_id = approve(ps, draft.id)
    clock.at(13)
    ps.store.outbox.apply(commit_id, SyncEvent.SEND_STARTED)  # type: ignore[arg-type]
    clock.at(13.25)
    accepted(ps, commit_id)

    [note] = ps.store.kpi.notes(DAY, DAY)
    assert note.outcome is NoteOutcome.CONFIRMED and note.source is NoteSource.PREFILLED
    assert note.open_to_approve_ms == 11.5 * 60_000  # chart opened at 1, approved at 12.5
    assert note.approve_to_confirm_ms == 45_000
    assert note.active_edit_ms == 95_000
    assert note.send_attempts == 1 and note.delivery is Delivery.FIRST_TIME
    assert note.parts == ()  # edit rates are measured after approval, off its path
    assert ps.store.kpi.measure_pending() == 1
    [note] = ps.store.kpi.notes(DAY, DAY)
    parts = {p.part: p for p in note.parts}
    first = parts[f"section:{draft.sections[0].key}"]
    assert first.total >= first.changed > 0
    assert parts["items:observation"] == PartEdit("items:observation", 1, 1)  # added
    assert ps.store.kpi.days(DAY, DAY)[0].sign_ins == 1
    assert ps.store.kpi.days(DAY, DAY)[0].charts_opened == 1
    assert note.note != str(draft.id) and len(note.note) == 32


def test_retries_people_and_duplicates_prevented(ps: ProtectedStore, clock: ManualClock) -> None:
    outbox = ps.store.outbox
    draft = ps.store.drafts.save(marker_draft())
    commit_id = approve(ps, draft.id)
    outbox.apply(commit_id, SyncEvent.SEND_STARTED)  # type: ignore[arg-type]
    outbox.apply(commit_id, SyncEvent.PERMANENT_REJECTION, status=422, error="no")  # type: ignore[arg-type]
    outbox.retry(commit_id, by="Practitioner/prac-1")  # type: ignore[arg-type]
    outbox.apply(commit_id, SyncEvent.SEND_STARTED)  # type: ignore[arg-type]
    outbox.apply(commit_id, SyncEvent.OUTCOME_UNKNOWN)  # type: ignore[arg-type]
    outbox.apply(
        commit_id,  # type: ignore[arg-type]
        SyncEvent.RECONCILED_PRESENT,
        results=[WriteResult(i, f"id-{i}", "1") for i in range(3)],
    )
    [note] = ps.store.kpi.notes(DAY, DAY)
    assert note.send_attempts == 2 and note.person_needed == 1
    assert note.duplicates_prevented == 1
    assert note.outcome is NoteOutcome.CONFIRMED and note.delivery is Delivery.NEEDED_PERSON


def test_discarded_and_withdrawn_notes(ps: ProtectedStore, clock: ManualClock) -> None:
    imported = marker_draft(provenance=DraftProvenance(DraftSource.IMPORTED))
    saved = ps.store.drafts.save(imported)
    clock.at(60 * 24)  # the next day
    ps.store.drafts.set_status(saved.id, DraftStatus.DISCARDED)
    other = ps.store.drafts.save(marker_draft())
    commit_id = approve(ps, other.id)
    ps.store.outbox.discard(commit_id, "wrong patient", "Practitioner/prac-1", confirmed=True)  # type: ignore[arg-type]
    notes = {n.source: n for n in ps.store.kpi.notes(DAY, DAY + timedelta(days=1))}
    assert notes[NoteSource.IMPORTED].outcome is NoteOutcome.DISCARDED
    assert notes[NoteSource.IMPORTED].day == DAY + timedelta(days=1)  # the day it was closed
    assert notes[NoteSource.PREFILLED].outcome is NoteOutcome.WITHDRAWN
    assert notes[NoteSource.PREFILLED].delivery is Delivery.NEEDED_PERSON


def test_a_clock_that_went_backwards_leaves_the_duration_out(
    ps: ProtectedStore, clock: ManualClock
) -> None:
    clock.at(30)
    record(ps, AuditKind.CHART_OPENED, clock.now, patient_id="pat-1", encounter_id="enc-1")
    draft = ps.store.drafts.save(marker_draft())
    clock.at(10)  # the computer's clock was set back 20 minutes
    commit_id = approve(ps, draft.id)
    clock.at(5)
    accepted_after_send(ps, commit_id)
    [note] = ps.store.kpi.notes(DAY, DAY)
    assert note.open_to_approve_ms is None and note.approve_to_confirm_ms is None
    assert note.clock_backwards == 2
    assert note.outcome is NoteOutcome.CONFIRMED


def accepted_after_send(ps: ProtectedStore, commit_id: object) -> None:
    ps.store.outbox.apply(commit_id, SyncEvent.SEND_STARTED)  # type: ignore[arg-type]
    accepted(ps, commit_id)


def test_a_declined_draft_is_counted_by_the_kind_another_version_records(
    ps: ProtectedStore,
) -> None:
    draft = ps.store.drafts.save(marker_draft(provenance=DraftProvenance(DraftSource.IMPORTED)))
    recorder = KpiRecorder(ps.store.kpi, day_of=lambda at: at.date())
    event = AuditEvent(AuditKind.DRAFT_DISCARDED, T0, draft_id=str(draft.id))
    kind = SimpleNamespace(value="draft_declined")  # AuditKind.DRAFT_DECLINED, issue 12
    with ps.store.db.write() as c:
        recorder.on_audit(c, AuditRecord(99, replace(event, kind=kind), "0" * 64, "0" * 64))  # type: ignore[arg-type]
    [note] = ps.store.kpi.notes(DAY, DAY)
    assert note.outcome is NoteOutcome.DECLINED


def test_a_failing_measurement_never_fails_the_action(
    ps: ProtectedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("bug in the recorder")

    monkeypatch.setattr(ps.store.kpi, "change_note", broken)
    draft = ps.store.drafts.save(marker_draft())
    commit_id = approve(ps, draft.id)
    assert ps.store.outbox.item(commit_id).state.value == "queued"  # type: ignore[arg-type]
    assert ps.store.kpi.notes(DAY, DAY) == []


def test_no_phi_reaches_the_kpi_tables(ps: ProtectedStore, clock: ManualClock) -> None:
    record(ps, AuditKind.CHART_OPENED, T0, patient_id="pat-1", encounter_id="enc-1")
    draft = ps.store.drafts.save(marker_draft())
    draft = ps.store.drafts.save(
        replace(draft, sections=(*draft.sections[:-1], NoteSection("plan", "Plan", MARKER)))
    )
    commit_id = approve(ps, draft.id)
    accepted_after_send(ps, commit_id)
    ps.store.kpi.measure_pending()
    with sqlite3.connect(ps.path) as raw:
        rows = [
            row
            for table in ("kpi_notes", "kpi_note_parts", "kpi_days")
            for row in raw.execute(f"SELECT * FROM {table}")
        ]
    dumped = json.dumps(rows)
    for secret in (MARKER, PATIENT_NAME, "pat-1", "enc-1", str(draft.id), str(commit_id)):
        assert secret not in dumped
    assert "prac-1" not in dumped
    assert all(isinstance(v, int | type(None)) or len(str(v)) <= 48 for row in rows for v in row)
