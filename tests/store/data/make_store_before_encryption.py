"""Makes ``store-before-encryption.db``: a store written by the app as it was before encryption
(schema 0002_outbox, every value in plain text), holding the marker used by the tests.

Run it with the OLD code on the path, e.g. from the repository root::

    git archive 76a853c app tests | tar -x -C /tmp/prev
    PYTHONPATH=/tmp/prev .venv/bin/python tests/store/data/make_store_before_encryption.py

Only app.* and tests.domain.conftest of that old tree are imported.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.domain.clinical import Reference
from app.domain.commit import DraftWrite, build_commit
from app.domain.draft import DraftStatus, NoteSection
from app.domain.outbox import SyncEvent
from app.domain.prefill import prefill_draft
from app.store.outbox_records import ConflictDetail, WriteResult
from app.store.store import open_store
from app.store.templates import load_templates
from tests.domain.conftest import NOW, make_context

MARKER = "ZQXJ-PHI-MARKER-7731"
NAME = f"Elena {MARKER} Garcia"
OUT = Path(__file__).resolve().parent / "store-before-encryption.db"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def draft(n: int):  # type: ignore[no-untyped-def]
    d = prefill_draft(make_context(), load_templates().default, now=NOW)
    return replace(
        d,
        id=uuid.UUID(int=n),
        patient=Reference("Patient", "pat-1", NAME),
        sections=tuple(
            NoteSection(s.key, s.title, f"{s.text} {MARKER} reports chest pain.")
            for s in d.sections
        ),
    )


def commit(n: int):  # type: ignore[no-untyped-def]
    note = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": "Patient/pat-1", "display": NAME},
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain",
                    "data": base64.b64encode(f"{MARKER} is stable".encode()).decode(),
                }
            }
        ],
    }
    task = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "description": f"Call {NAME}",
        "for": {"reference": "Patient/pat-1"},
    }
    return build_commit(
        [DraftWrite(note), DraftWrite(task)], sequence=1, commit_id=uuid.UUID(int=1000 + n)
    )


def main() -> None:
    OUT.unlink(missing_ok=True)
    store = open_store(OUT, clock=Clock())
    assert store.schema_revision() == "0002_outbox", store.schema_revision()
    open_draft = store.drafts.save(draft(1))
    store.drafts.save(open_draft)
    store.drafts.set_status(store.drafts.save(draft(2)).id, DraftStatus.DISCARDED)
    decision = json.dumps(
        {"review_status": "approved", "approved_by": "Practitioner/prac-1", "patient_display": NAME}
    )
    for n in (3, 4, 5):
        approved = store.drafts.save(draft(n))
        with store.db.write() as conn:
            store.drafts.set_status(approved.id, DraftStatus.APPROVED, conn=conn)
            store.outbox.enqueue_approval(commit(n), decision, draft_id=approved.id, conn=conn)
    confirmed, conflicted = uuid.UUID(int=1003), uuid.UUID(int=1004)
    store.outbox.apply(confirmed, SyncEvent.SEND_STARTED)
    store.outbox.apply(
        confirmed,
        SyncEvent.SERVER_ACCEPTED,
        status=201,
        results=[WriteResult(0, "doc-9", "1"), WriteResult(1, "task-9", "1")],
    )
    store.outbox.apply(conflicted, SyncEvent.SEND_STARTED)
    store.outbox.apply(
        conflicted,
        SyncEvent.CONFLICT_DETECTED,
        status=412,
        error="The chart changed.",
        conflict=ConflictDetail(message="changed", mine={"description": MARKER}),
    )
    store.close()
    with sqlite3.connect(OUT) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
