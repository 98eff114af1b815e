"""Approved commits for sync tests, built with the domain constructors (no mapping layer).

``clinical_commit`` is what the issue calls "note + 2 observations + a task" (+ a Provenance):
valid FHIR R4 for both test servers, every resource with the app's business identifier. For a
vendor profile that may not write some types (epic-like: DocumentReference only) the commit
holds just what the profile allows, as the mapping layer would produce.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

from app.domain.commit import ApprovedCommit, DraftWrite, build_commit
from app.fhir.profiles import VendorProfile

PATIENT = "pat-1"
ENCOUNTER = "enc-1"
PRACTITIONER = "prac-1"
WHEN = "2025-03-10T10:00:00Z"
VITALS = "http://terminology.hl7.org/CodeSystem/observation-category"


def note(
    text: str = "Progress note written in a sync test.",
    *,
    xhtml: bool = False,
    replaces: str | None = None,
) -> dict[str, Any]:
    if xhtml:
        content = {
            "contentType": "application/xhtml+xml",
            "data": base64.b64encode(
                f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{text}</p></div>'.encode()
            ).decode(),
        }
    else:
        content = {
            "contentType": "text/plain; charset=utf-8",
            "data": base64.b64encode(text.encode()).decode(),
        }
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "docStatus": "final",
        "type": {
            "coding": [
                {"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                        "code": "clinical-note",
                    }
                ]
            }
        ],
        "subject": {"reference": f"Patient/{PATIENT}"},
        "date": WHEN,
        "author": [{"reference": f"Practitioner/{PRACTITIONER}"}],
        "content": [{"attachment": content}],
        "context": {"encounter": [{"reference": f"Encounter/{ENCOUNTER}"}]},
    }
    if replaces is not None:
        doc["relatesTo"] = [{"code": "replaces", "target": {"reference": replaces}}]
    return doc


def heart_rate(bpm: int = 72) -> dict[str, Any]:
    return _vital("8867-4", "Heart rate", bpm, "/min")


def body_temperature(celsius: float = 37.2) -> dict[str, Any]:
    return _vital("8310-5", "Body temperature", celsius, "Cel")


def _vital(code: str, display: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": VITALS, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "encounter": {"reference": f"Encounter/{ENCOUNTER}"},
        "effectiveDateTime": WHEN,
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


def follow_up_task(note_url: str | None = None) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "description": "Follow up in two weeks.",
        "for": {"reference": f"Patient/{PATIENT}"},
        "encounter": {"reference": f"Encounter/{ENCOUNTER}"},
        "authoredOn": WHEN,
        "requester": {"reference": f"Practitioner/{PRACTITIONER}"},
        "owner": {"reference": f"Practitioner/{PRACTITIONER}"},
    }
    if note_url is not None:
        task["focus"] = {"reference": note_url}
    return task


def provenance(targets: Sequence[str]) -> dict[str, Any]:
    return {
        "resourceType": "Provenance",
        "target": [{"reference": t} for t in targets],
        "recorded": WHEN,
        "agent": [
            {"who": {"reference": f"Practitioner/{PRACTITIONER}"}},
            {"who": {"display": "fhir-writeback"}},
        ],
        "entity": [{"role": "source", "what": {"reference": f"Encounter/{ENCOUNTER}"}}],
    }


def clinical_commit(
    profile: VendorProfile | None = None,
    *,
    text: str = "Progress note written in a sync test.",
    observations: int = 2,
    task: bool = True,
    with_provenance: bool = True,
    replaces: str | None = None,
    depends_on: Sequence[UUID] = (),
    extra: Sequence[dict[str, Any]] = (),
) -> ApprovedCommit:
    """A note (+ observations + a task + a Provenance), narrowed to what ``profile`` writes."""
    may = (lambda t: True) if profile is None else profile.may_write
    xhtml = profile is not None and profile.note.attachment_content_type == "application/xhtml+xml"
    note_id = uuid4()
    note_url = f"urn:uuid:{note_id}"
    drafts = [DraftWrite(note(text, xhtml=xhtml, replaces=replaces), note_id)]
    if may("Observation"):
        vitals = [heart_rate(70 + len(text) % 20), body_temperature(37.1)][:observations]
        drafts += [DraftWrite(v) for v in vitals]
    if task and may("Task"):
        drafts.append(DraftWrite(follow_up_task(note_url)))
    drafts += [DraftWrite(e) for e in extra]
    if with_provenance and may("Provenance"):
        drafts.append(DraftWrite(provenance([f"urn:uuid:{d.write_id}" for d in drafts])))
    return build_commit(drafts, sequence=1, depends_on=depends_on)
