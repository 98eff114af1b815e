"""Helpers for the encryption, migration and audit tests: a store opened the way the app opens
it (real SQLite files, a real file keyring), drafts and commits carrying a marker string, and a
scan of every file in a folder for that marker."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from keyring.backend import KeyringBackend
from keyrings.alt.file import PlaintextKeyring

from app.domain.clinical import Reference
from app.domain.commit import ApprovedCommit, DraftWrite, build_commit
from app.domain.draft import Draft, NoteSection, ObservationItem
from app.domain.prefill import prefill_draft
from app.store.templates import load_templates
from tests.domain.conftest import NOW, make_context

MARKER = "ZQXJ-PHI-MARKER-7731"
PATIENT_NAME = f"Elena {MARKER} Garcia"


def file_keyring(folder: Path) -> KeyringBackend:
    backend = PlaintextKeyring()
    backend.file_path = str(folder / "keyring_pass.cfg")
    return cast(KeyringBackend, backend)


def marker_draft(**changes: Any) -> Draft:
    """A draft whose patient name, every section and an observation note carry the marker."""
    draft = prefill_draft(make_context(), load_templates().default, now=NOW)
    sections = tuple(
        NoteSection(s.key, s.title, f"{s.text} Seen today: {MARKER} reports chest pain.")
        for s in draft.sections
    )
    item = ObservationItem(
        item_id="obs-1",
        loinc_code="8867-4",
        display="Heart rate",
        value=None,
        unit="/min",
        note=f"measured by {MARKER}",
    )
    draft = replace(
        draft,
        patient=Reference("Patient", "pat-1", PATIENT_NAME),
        title=f"Progress note for {PATIENT_NAME}",
        sections=sections,
        items=(item,),
    )
    return replace(draft, **changes) if changes else draft


def marker_commit(*, patient: str = "pat-1", commit_id: UUID | None = None) -> ApprovedCommit:
    """A note (text/plain, base64) plus a Task and a Communication whose text holds the marker
    in plain JSON."""
    text = f"Assessment: {MARKER} is stable."
    note = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": f"Patient/{patient}", "display": PATIENT_NAME},
        "description": f"Note for {PATIENT_NAME}",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode()).decode(),
                }
            }
        ],
    }
    task = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "description": f"Call {PATIENT_NAME} about the results",
        "for": {"reference": f"Patient/{patient}"},
    }
    message = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "payload": [{"contentString": f"{MARKER}: please review"}],
    }
    return build_commit(
        [DraftWrite(note), DraftWrite(task), DraftWrite(message)], sequence=1, commit_id=commit_id
    )


def decision_json(draft: Draft) -> str:
    """A review decision as the app may store it (including a display name)."""
    import json

    return json.dumps(
        {
            "review_status": "approved",
            "approved_by": "Practitioner/prac-1",
            "approved_at": "2025-03-10T10:30:00.000000Z",
            "destination_types": ["DocumentReference", "Task", "Communication"],
            "risk_flags": [],
            "patient_display": PATIENT_NAME,
            "draft_id": str(draft.id),
        }
    )


def files_containing(folder: Path, needle: str, *, skip: tuple[str, ...] = ()) -> list[str]:
    """Every file under ``folder`` whose bytes contain ``needle`` (UTF-8 and UTF-16)."""
    patterns = [needle.encode("utf-8"), needle.encode("utf-16-le")]
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name in skip:
            continue
        data = path.read_bytes()
        if any(p in data for p in patterns):
            found.append(str(path.relative_to(folder)))
    return found


def store_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())
