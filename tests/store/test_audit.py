"""The audit log: an unbroken, sealed chain; tampering of every kind is found; exports for IT;
filters for the viewer; records written by the draft and outbox hooks in their transactions."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from app.cli_audit import audit_export, audit_verify
from app.domain.audit import (
    GENESIS_HASH,
    AuditEvent,
    AuditKind,
    ProblemKind,
    chain_hash,
    decision_details,
    describe,
    record_mac,
)
from app.domain.clinical import Reference
from app.domain.clock import format_ts
from app.domain.draft import DraftSource, DraftStatus
from app.domain.outbox import OutboxState, SyncEvent
from app.domain.review import (
    AppIdentity,
    ReviewDecision,
    ReviewProvenance,
    ReviewStatus,
    RiskFlag,
    RiskKind,
)
from app.domain.review_codec import decision_to_json
from app.store.audit import AuditLog
from app.store.crypto import StoreKeyring
from app.store.outbox_records import ConflictDetail, WriteResult
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


class StepClock:
    def __init__(self, start: datetime = T0, step: timedelta = timedelta(minutes=1)) -> None:
        self.now, self.step = start, step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    return tmp_path / "user"


@pytest.fixture
def keys(tmp_path: Path) -> StoreKeyring:
    return StoreKeyring(file_keyring(tmp_path / "keyring"))


@pytest.fixture
def ps(user_dir: Path, keys: StoreKeyring, clock: StepClock) -> Iterator[ProtectedStore]:
    opened = open_protected_store(
        user_dir / "store.db",
        keys,
        actor=lambda: "Practitioner/prac-1",
        destination=lambda: "https://ehr.example/fhir",
        clock=clock,
    )
    yield opened
    opened.close()


def event(kind: AuditKind, at: datetime, patient: str | None = "pat-1", **kw: Any) -> AuditEvent:
    return AuditEvent(kind=kind, at=at, actor="Practitioner/prac-1", patient_id=patient, **kw)


def fill(audit: AuditLog, n: int = 6) -> None:
    kinds = [AuditKind.SIGN_IN, AuditKind.CHART_OPENED, AuditKind.SIGN_OUT]
    for i in range(n):
        audit.append(
            event(
                kinds[i % 3],
                T0 + timedelta(hours=i),
                patient=f"pat-{i % 2 + 1}",
                details={"n": i, "site": "sandbox"},
            )
        )


def raw(user_dir: Path) -> sqlite3.Connection:
    """A connection that can do what an attacker with the file can: drop the triggers."""
    conn = sqlite3.connect(user_dir / "store.db", isolation_level=None)
    for name in ("audit_log_no_update", "audit_log_no_delete", "audit_head_forward_only"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    return conn


def kinds_found(ps: ProtectedStore) -> set[ProblemKind]:
    return {p.kind for p in ps.audit.verify().problems}


# ---------------------------------------------------------------- the chain


def test_records_form_a_chain_from_genesis(ps: ProtectedStore) -> None:
    fill(ps.audit)
    records = list(ps.audit.records())
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    result = ps.audit.verify()
    assert result.ok and result.checked == 6 and result.problems == ()
    assert result.head is not None and result.head.hash == records[-1].hash
    assert "intact: 6 record(s)" in result.summary()


def test_the_log_refuses_updates_and_deletes(ps: ProtectedStore, user_dir: Path) -> None:
    fill(ps.audit, 2)
    with sqlite3.connect(user_dir / "store.db") as conn:
        for sql in (
            "UPDATE audit_log SET actor = 'Practitioner/evil' WHERE seq = 1",
            "DELETE FROM audit_log WHERE seq = 2",
            "DELETE FROM audit_head",
            "UPDATE audit_head SET seq = 1",
        ):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(sql)


def test_an_edited_record_is_found(ps: ProtectedStore, user_dir: Path) -> None:
    fill(ps.audit)
    raw(user_dir).execute("UPDATE audit_log SET patient_id = 'pat-9' WHERE seq = 3")
    result = ps.audit.verify()
    assert not result.ok
    assert [(p.seq, p.kind) for p in result.problems] == [(3, ProblemKind.EDITED)]
    assert "record 3: edited" in result.summary()


def test_an_edited_kind_or_time_is_found(ps: ProtectedStore, user_dir: Path) -> None:
    fill(ps.audit)
    conn = raw(user_dir)
    conn.execute("UPDATE audit_log SET kind = 'not-a-kind' WHERE seq = 2")
    conn.execute("UPDATE audit_log SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 5")
    found = [(p.seq, p.kind) for p in ps.audit.verify().problems]
    assert found == [(2, ProblemKind.EDITED), (5, ProblemKind.EDITED)]


def test_a_deleted_record_is_found(ps: ProtectedStore, user_dir: Path) -> None:
    fill(ps.audit)
    raw(user_dir).execute("DELETE FROM audit_log WHERE seq = 4")
    result = ps.audit.verify()
    assert {(p.seq, p.kind) for p in result.problems} == {
        (5, ProblemKind.MISSING),
        (5, ProblemKind.BROKEN_LINK),
    }


def test_swapped_records_are_found(ps: ProtectedStore, user_dir: Path) -> None:
    fill(ps.audit)
    conn = raw(user_dir)
    cols = "at, actor, kind, patient_id, details_format, details, prev_hash, hash, mac"
    two = conn.execute(f"SELECT {cols} FROM audit_log WHERE seq = 2").fetchone()
    three = conn.execute(f"SELECT {cols} FROM audit_log WHERE seq = 3").fetchone()
    sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
    conn.execute(f"UPDATE audit_log SET {sets} WHERE seq = 2", three)
    conn.execute(f"UPDATE audit_log SET {sets} WHERE seq = 3", two)
    assert not ps.audit.verify().ok
    assert {ProblemKind.BROKEN_LINK, ProblemKind.UNREADABLE} <= kinds_found(ps)


def test_details_moved_between_records_are_found(ps: ProtectedStore, user_dir: Path) -> None:
    fill(ps.audit)
    conn = raw(user_dir)
    blob = conn.execute("SELECT details FROM audit_log WHERE seq = 1").fetchone()[0]
    conn.execute("UPDATE audit_log SET details = ? WHERE seq = 2", (blob,))
    assert [(p.seq, p.kind) for p in ps.audit.verify().problems] == [(2, ProblemKind.UNREADABLE)]


def test_a_rewritten_chain_is_found_by_its_seals(ps: ProtectedStore, user_dir: Path) -> None:
    """Someone edits record 2 and recomputes every SHA-256 after it: without the store key
    the seals cannot be recomputed."""
    fill(ps.audit)
    conn = raw(user_dir)
    conn.execute("UPDATE audit_log SET patient_id = 'pat-9' WHERE seq = 2")
    prev = conn.execute("SELECT hash FROM audit_log WHERE seq = 1").fetchone()[0]
    forged_key = b"x" * 32
    records = {r.seq: r for r in ps.audit.records()}
    for seq in range(2, 7):
        digest = chain_hash(seq, records[seq].event, prev)
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ?, mac = ? WHERE seq = ?",
            (prev, digest, record_mac(forged_key, digest), seq),
        )
        prev = digest
    conn.execute("UPDATE audit_head SET hash = ? WHERE id = 1", (prev,))
    found = {(p.seq, p.kind) for p in ps.audit.verify().problems}
    assert {(s, ProblemKind.FORGED) for s in range(2, 7)} <= found
    assert ProblemKind.EDITED not in {k for _, k in found}  # the hashes themselves agree


def test_cut_off_records_are_found(ps: ProtectedStore, user_dir: Path) -> None:
    fill(ps.audit)
    raw(user_dir).execute("DELETE FROM audit_log WHERE seq > 4")
    result = ps.audit.verify()
    assert (6, ProblemKind.TRUNCATED) in {(p.seq, p.kind) for p in result.problems}
    assert "should end at record 6 but ends at 4" in result.summary()


def test_appending_continues_the_chain_after_reopening(
    ps: ProtectedStore, user_dir: Path, keys: StoreKeyring
) -> None:
    fill(ps.audit, 3)
    ps.close()
    again = open_protected_store(user_dir / "store.db", keys)
    try:
        again.audit.append(event(AuditKind.SIGN_IN, T0))
        assert again.audit.verify().ok and again.audit.count() == 4
    finally:
        again.close()


def test_concurrent_appends_keep_one_unbroken_chain(ps: ProtectedStore) -> None:
    def worker(n: int) -> None:
        for i in range(15):
            ps.audit.append(event(AuditKind.CHART_OPENED, T0, details={"w": n, "i": i}))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = ps.audit.verify()
    assert result.ok and result.checked == 60


def test_a_record_rolls_back_with_its_transaction(ps: ProtectedStore) -> None:
    with pytest.raises(RuntimeError), ps.store.db.write() as conn:
        ps.audit.append(event(AuditKind.SIGN_IN, T0), conn=conn)
        raise RuntimeError("the change failed")
    assert ps.audit.count() == 0 and ps.audit.verify().ok


def test_details_refuse_prose_and_floats() -> None:
    with pytest.raises(ValueError, match="longer than"):
        event(AuditKind.DRAFT_EDITED, T0, details={"text": "x" * 301})
    with pytest.raises(ValueError, match="plain JSON"):
        event(AuditKind.DRAFT_EDITED, T0, details={"value": 37.5})
    with pytest.raises(ValueError, match="timezone-aware"):
        AuditEvent(AuditKind.SIGN_IN, datetime(2025, 1, 1))


# ---------------------------------------------------------------- export


def test_csv_export_since_a_date(ps: ProtectedStore) -> None:
    fill(ps.audit)
    text = ps.audit.export(date(2025, 3, 10), "csv", record=False)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 6 and rows[0]["kind"] == "sign_in"
    assert json.loads(rows[0]["details"]) == {"n": 0, "site": "sandbox"}
    later = ps.audit.export(T0 + timedelta(hours=4), "csv", record=False)
    assert [r["seq"] for r in csv.DictReader(io.StringIO(later))] == ["5", "6"]


def test_json_export_carries_the_chain_and_can_be_checked_without_the_app(
    ps: ProtectedStore,
) -> None:
    fill(ps.audit)
    doc = json.loads(ps.audit.export(None, "json", actor="Practitioner/it-1"))
    assert doc["format"] == "fhir-writeback-audit" and doc["chain"]["intact"] is True
    records = doc["records"]
    assert len(records) == 6 and doc["chain"]["head_seq"] == 6
    prev = "0" * 64
    for r in records:  # the canonical form documented in app/domain/audit.py
        body = {k: r[k] for k in r if k != "hash"} | {"v": 1, "prev_hash": prev}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(text.encode()).hexdigest() == r["hash"]
        prev = r["hash"]
    (exported,) = ps.audit.query(kinds=[AuditKind.AUDIT_EXPORTED])
    assert exported.event.actor == "Practitioner/it-1"
    assert exported.event.details == {"format": "json", "since": None, "records": 6}


def test_cli_functions(ps: ProtectedStore, user_dir: Path) -> None:
    fill(ps.audit, 3)
    text, code = audit_export(ps.audit, "2025-03-10", "csv")
    assert code == 0 and text.startswith("seq,at,actor,kind,")
    assert audit_export(ps.audit, "10/03/2025", "csv")[1] == 2
    assert audit_export(ps.audit, None, "xml")[1] == 2
    text, code = audit_verify(ps.audit)
    assert code == 0 and "intact" in text
    raw(user_dir).execute("UPDATE audit_log SET actor = 'Practitioner/evil' WHERE seq = 2")
    text, code = audit_verify(ps.audit)
    assert code == 1 and "record 2: edited" in text
    assert audit_export(ps.audit, None, "json")[1] == 1


# ---------------------------------------------------------------- the viewer's filters


def test_filters_by_patient_time_kind_and_state(ps: ProtectedStore) -> None:
    fill(ps.audit)
    audit = ps.audit
    assert [r.seq for r in audit.query(patient_id="pat-2")] == [6, 4, 2]
    window = audit.query(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3))
    assert [r.seq for r in window] == [3, 2]
    signed = audit.query(kinds=[AuditKind.SIGN_IN, AuditKind.SIGN_OUT], newest_first=False)
    assert [r.seq for r in signed] == [1, 3, 4, 6]
    audit.append(event(AuditKind.CONFIRMED, T0, commit_id="c-1", state="confirmed"))
    assert [r.seq for r in audit.query(states=["confirmed"])] == [7]
    assert [r.seq for r in audit.query(commit_id="c-1")] == [7]
    assert len(audit.query(limit=2)) == 2


# ---------------------------------------------------------------- hooks


def test_draft_hooks_record_counts_not_text(ps: ProtectedStore, clock: StepClock) -> None:
    drafts = ps.store.drafts
    draft = drafts.save(marker_draft())
    for _ in range(3):  # autosaves a minute apart, within five minutes of the creation
        draft = drafts.save(draft)
    clock.now += timedelta(minutes=10)
    for _ in range(3):  # later: one DRAFT_EDITED per five minutes
        draft = drafts.save(draft)
    imported = drafts.save(
        marker_draft(provenance=replace(marker_draft().provenance, source=DraftSource.IMPORTED))
    )
    drafts.set_status(imported.id, DraftStatus.DISCARDED)
    records = ps.audit.query(newest_first=False)
    assert [r.kind for r in records] == [
        AuditKind.DRAFT_CREATED,
        AuditKind.DRAFT_EDITED,
        AuditKind.DRAFT_IMPORTED,
        AuditKind.DRAFT_DISCARDED,
    ]
    created = records[0]
    assert created.event.actor == "Practitioner/prac-1"
    assert created.event.patient_id == "pat-1" and created.event.draft_id == str(draft.id)
    assert set(created.event.details) == {"source", "revision", "sections", "characters", "items"}
    assert created.event.details["characters"] > 0
    dumped = json.dumps([r.to_json() for r in records])
    assert MARKER not in dumped and PATIENT_NAME not in dumped


def test_outbox_hooks_record_approval_attempts_and_outcomes(ps: ProtectedStore) -> None:
    store = ps.store
    draft = store.drafts.save(marker_draft())
    commit = marker_commit()
    with store.db.write() as conn:
        store.drafts.set_status(draft.id, DraftStatus.APPROVED, conn=conn)
        store.outbox.enqueue_approval(commit, decision_json(draft), draft_id=draft.id, conn=conn)
    cid = commit.commit_id
    outbox = store.outbox
    outbox.apply(cid, SyncEvent.SEND_STARTED)
    outbox.apply(cid, SyncEvent.RETRYABLE_REJECTION, status=503, error="busy")
    outbox.retry(cid, by="Practitioner/prac-2")
    outbox.apply(cid, SyncEvent.SEND_STARTED)
    outbox.apply(
        cid,
        SyncEvent.SERVER_ACCEPTED,
        status=201,
        results=[WriteResult(i, f"id-{i}", "1") for i in range(3)],
    )
    second = outbox.enqueue_approval(marker_commit(), "{}")
    outbox.apply(second.commit_id, SyncEvent.SEND_STARTED)
    outbox.apply(
        second.commit_id,
        SyncEvent.CONFLICT_DETECTED,
        status=412,
        error="changed",
        conflict=ConflictDetail(message="changed", mine={"x": MARKER}),
    )
    outbox.discard(
        second.commit_id, "duplicate of another note", "Practitioner/prac-1", confirmed=True
    )

    mine = ps.audit.query(commit_id=str(cid), newest_first=False)
    assert [r.kind for r in mine] == [
        AuditKind.APPROVED,
        AuditKind.SEND_ATTEMPT,
        AuditKind.RETRY_REQUESTED,
        AuditKind.SEND_ATTEMPT,
        AuditKind.CONFIRMED,
    ]
    approved = mine[0].event
    assert approved.patient_id == "pat-1" and approved.draft_id == str(draft.id)
    assert approved.details["decision"] == {
        "review_status": "approved",
        "approved_by": "Practitioner/prac-1",
        "approved_at": "2025-03-10T10:30:00.000000Z",
        "destination_types": ["DocumentReference", "Task", "Communication"],
        "risk_flags": [],
    }  # "patient_display" (a name) is not a decision field: not kept
    first_try = mine[1].event.details
    assert first_try["status"] == 503 and first_try["outcome"] == "retry_wait"
    assert first_try["destination"] == "https://ehr.example/fhir"
    assert first_try["request_id"] == f"{cid}/1" and first_try["attempt"] == 1
    assert mine[3].event.details["attempt"] == 2 and mine[3].event.details["failed_attempts"] == 1
    assert mine[2].event.actor == "Practitioner/prac-2"
    assert (
        mine[3].event.details["outcome"] == "confirmed" and mine[3].event.details["status"] == 201
    )
    assert mine[4].event.details["written"] == [
        "DocumentReference/id-0",
        "Task/id-1",
        "Communication/id-2",
    ]
    other = ps.audit.query(commit_id=str(second.commit_id), newest_first=False)
    assert [r.kind for r in other] == [
        AuditKind.APPROVED,
        AuditKind.SEND_ATTEMPT,
        AuditKind.CONFLICT,
        AuditKind.DISCARDED,
    ]
    assert other[-1].event.details == {
        "from_state": "conflict",
        "reason": "duplicate of another note",
    }
    assert other[-1].event.state == OutboxState.DISCARDED.value
    assert ps.audit.verify().ok
    dumped = json.dumps([r.to_json() for r in ps.audit.records()])
    assert MARKER not in dumped and PATIENT_NAME not in dumped


def test_a_check_that_stops_is_recorded_as_parked(ps: ProtectedStore) -> None:
    outbox = ps.store.outbox
    refused, ended = (outbox.enqueue_approval(marker_commit(), "{}") for _ in range(2))
    for commit, event_, status in (
        (refused, SyncEvent.PERMANENT_REJECTION, 400),
        (ended, SyncEvent.SIGN_IN_REQUIRED, 401),
    ):
        outbox.apply(commit.commit_id, SyncEvent.SEND_STARTED)
        outbox.apply(commit.commit_id, SyncEvent.OUTCOME_UNKNOWN, status=504)
        outbox.apply(commit.commit_id, event_, status=status, error="the check stopped")
    outbox.retry(refused.commit_id, by="Practitioner/prac-2")  # "Check again now"
    records = ps.audit.query(commit_id=str(refused.commit_id), newest_first=False)
    assert [r.kind for r in records] == [
        AuditKind.APPROVED,
        AuditKind.SEND_ATTEMPT,
        AuditKind.PARKED,
        AuditKind.RETRY_REQUESTED,
    ]
    parked = records[2].event
    assert parked.state == "parked"
    assert parked.details == {"status": 400, "event": "permanent_rejection"}
    assert records[3].event.details == {"event": "user_retry", "from_state": "parked"}
    ended_records = ps.audit.query(commit_id=str(ended.commit_id), newest_first=False)
    assert ended_records[-1].kind is AuditKind.PARKED
    assert ended_records[-1].event.state == "check_paused_for_sign_in"
    assert describe(parked) == "Could not check in the EHR: waits for a person"


def test_times_are_utc_text_that_sorts() -> None:
    assert format_ts(datetime(2025, 3, 10, 9, 0, tzinfo=UTC)) == "2025-03-10T09:00:00.000000Z"


def test_an_approval_stored_with_the_decision_codec_is_recorded_in_full(
    ps: ProtectedStore,
) -> None:
    draft = ps.store.drafts.save(marker_draft())
    decision = ReviewDecision(
        decision_id=uuid4(),
        draft_id=draft.id,
        status=ReviewStatus.APPROVED,
        approved_by=Reference("Practitioner", "prac-7", "Dr. Ada Example"),
        approved_at=T0,
        patient=draft.patient,  # display: the patient's name
        source_encounter=draft.encounter,
        destination_types=("DocumentReference", "Provenance"),
        risk_flags=(RiskFlag(RiskKind.EDITED_AFTER_IMPORT, "Edited after import"),),
        provenance=ReviewProvenance("scribe 1.0", True, DraftSource.IMPORTED, "ab" * 32),
        app=AppIdentity("fhir-writeback", "0.1.0", "ws-12"),
        content_sha256="cd" * 32,
        acknowledged_warnings=(f"Heart rate for {PATIENT_NAME} is unusual",),
    )
    commit = marker_commit()
    with ps.store.db.write() as conn:
        ps.store.outbox.enqueue_approval(
            commit, decision_to_json(decision), draft_id=draft.id, conn=conn
        )
        ps.store.drafts.set_status(draft.id, DraftStatus.APPROVED, conn=conn)
    (approved,) = ps.audit.query(kinds=[AuditKind.APPROVED])
    assert approved.event.actor == "Practitioner/prac-7"
    assert approved.event.details["decision"] == decision_details(decision)
    assert approved.event.details["decision"]["risk_flags"] == ["edited_after_import"]
    assert approved.event.details["decision"]["acknowledged_warnings"] == 1
    dumped = json.dumps(approved.to_json())
    assert "Dr. Ada Example" not in dumped and PATIENT_NAME not in dumped


def test_records_read_as_plain_words_for_the_viewer(ps: ProtectedStore) -> None:
    from app.domain.audit import describe

    store = ps.store
    draft = store.drafts.save(marker_draft())
    commit = marker_commit()
    store.outbox.enqueue_approval(commit, decision_json(draft), draft_id=draft.id)
    store.outbox.apply(commit.commit_id, SyncEvent.SEND_STARTED)
    store.outbox.apply(
        commit.commit_id,
        SyncEvent.SERVER_ACCEPTED,
        status=201,
        results=[WriteResult(i, f"id-{i}", "1") for i in range(3)],
    )
    lines = [describe(r.event) for r in ps.audit.query(newest_first=False)]
    assert lines[0].startswith("Draft started: 4 section(s), ")
    assert lines[1] == "Approved for the chart: DocumentReference, Task, Communication"
    assert lines[2] == "Sent to the EHR (attempt 1, HTTP 201) -> confirmed"
    assert lines[3] == (
        "Confirmed by the EHR: DocumentReference/id-0, Task/id-1, Communication/id-2"
    )
