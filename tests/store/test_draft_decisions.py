"""Decisions other than "approve" in the store: a declined import or a discarded draft is kept
(read-only, with who/when/why/fingerprint) and the audit log records the decision in the same
transaction; nothing reaches the outbox. Also: uncertainty flags looked at survive a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.domain.audit import AuditKind, describe
from app.domain.clinical import Reference
from app.domain.draft import (
    CloseReason,
    DraftProvenance,
    DraftSource,
    DraftStatus,
    FlagTarget,
    Generator,
    UncertaintyFlag,
)
from app.domain.draft_decision import close_draft
from app.domain.errors import DraftEditError
from app.domain.fingerprint import draft_content_sha256
from app.store.crypto import StoreKeyring
from app.store.errors import DraftNotEditable
from app.store.protected import ProtectedStore, open_protected_store
from tests.store.protected_support import MARKER, PATIENT_NAME, file_keyring, marker_draft

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
CLINICIAN = Reference("Practitioner", "prac-1", "Dr. Alice Smith")


class StepClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def ps(tmp_path: Path) -> Iterator[ProtectedStore]:
    opened = open_protected_store(
        tmp_path / "user" / "store.db",
        StoreKeyring(file_keyring(tmp_path / "keyring")),
        actor=lambda: "Practitioner/prac-1",
        clock=StepClock(),
    )
    yield opened
    opened.close()


def imported_draft() -> object:
    flags = (UncertaintyFlag(FlagTarget.SECTION, "plan", "dose unclear"),)
    prov = DraftProvenance(
        DraftSource.IMPORTED, Generator("scribe", "2"), uncertainty=flags, import_sha256="cd" * 32
    )
    return marker_draft(provenance=prov)


def test_declining_an_import_keeps_it_readable_and_audits_the_decision(
    ps: ProtectedStore,
) -> None:
    drafts = ps.store.drafts
    saved = drafts.save(imported_draft())  # type: ignore[arg-type]
    fingerprint = draft_content_sha256(saved)
    closed = drafts.close(
        saved.id,
        lambda d: close_draft(d, CloseReason.INACCURATE, "HR wrong", CLINICIAN, T0),
    )
    assert closed.status is DraftStatus.DECLINED and not closed.is_editable
    again = drafts.get(saved.id)
    assert again.sections == saved.sections  # readable: the content is kept as it was
    decision = again.decision
    assert decision is not None
    assert (decision.reason, decision.note, decision.by.relative, decision.at) == (
        CloseReason.INACCURATE,
        "HR wrong",
        "Practitioner/prac-1",
        T0,
    )
    assert decision.content_sha256 == fingerprint and decision.import_sha256 == "cd" * 32
    assert "Declined by Dr. Alice Smith on 2025-03-10 08:00 UTC" in decision.words
    with pytest.raises(DraftNotEditable):
        drafts.save(again)
    with pytest.raises(DraftNotEditable):
        drafts.close(saved.id, lambda d: d)
    assert ps.store.outbox.list_items() == []  # nothing queued, nothing sent

    record = ps.audit.query(kinds=[AuditKind.DRAFT_DECLINED])[0]
    assert record.event.actor == "Practitioner/prac-1"
    assert record.event.state == "declined" and record.event.draft_id == str(saved.id)
    details = record.event.details
    assert details["reason"] == "inaccurate" and details["reason_text"] == "HR wrong"
    assert details["content_sha256"] == fingerprint and details["import_sha256"] == "cd" * 32
    assert details["decided_at"] == "2025-03-10T08:00:00.000000Z"
    assert describe(record.event) == (
        "Imported draft declined (reason: The content is wrong or incomplete; HR wrong)"
    )
    dumped = json.dumps([r.to_json() for r in ps.audit.query()])
    assert MARKER not in dumped and PATIENT_NAME not in dumped  # no note text, no name


def test_discarding_an_own_draft(ps: ProtectedStore) -> None:
    saved = ps.store.drafts.save(marker_draft())
    closed = ps.store.drafts.close(
        saved.id, lambda d: close_draft(d, CloseReason.STARTED_OVER, "", CLINICIAN, T0)
    )
    assert closed.status is DraftStatus.DISCARDED
    (record,) = ps.audit.query(kinds=[AuditKind.DRAFT_DISCARDED])
    assert record.event.details["reason"] == "started_over"
    assert record.event.details["reason_text"] is None
    listed = ps.store.drafts.list_for_encounter("pat-1", "enc-1", include_closed=True)
    assert [d.status for d in listed] == [DraftStatus.DISCARDED]
    assert ps.store.drafts.list_for_encounter("pat-1", "enc-1") == []


def test_a_reason_is_required_and_short() -> None:
    draft = marker_draft()
    with pytest.raises(DraftEditError, match="Write the reason"):
        close_draft(draft, CloseReason.OTHER, "  ", CLINICIAN, T0)
    with pytest.raises(DraftEditError, match="under 300"):
        close_draft(draft, CloseReason.OTHER, "x" * 301, CLINICIAN, T0)
    closed = close_draft(draft, CloseReason.DUPLICATE, "", CLINICIAN, T0)
    with pytest.raises(DraftEditError, match="already discarded"):
        close_draft(closed, CloseReason.DUPLICATE, "", CLINICIAN, T0)


def test_flags_looked_at_survive_a_save(ps: ProtectedStore) -> None:
    saved = ps.store.drafts.save(imported_draft())  # type: ignore[arg-type]
    looked = saved.with_flag_looked_at(0, "Practitioner/prac-1", T0)
    ps.store.drafts.save(looked)
    again = ps.store.drafts.get(saved.id)
    assert again.provenance.looked_at == looked.provenance.looked_at
    assert again.provenance.looked_at_flags == {0}
    assert replace(again, revision=0, updated_at=T0).provenance == looked.provenance
