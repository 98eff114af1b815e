"""Drafts for review and write-back tests, built from domain objects only."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from app.domain.clinical import Coding, Reference
from app.domain.draft import (
    AmendmentRef,
    Baseline,
    Draft,
    DraftProvenance,
    DraftSource,
    MessageItem,
    NoteSection,
    ObservationItem,
    StructuredItem,
    TaskItem,
    TaskStatus,
)
from app.domain.items.medication_reconciliation import (
    MedicationDecision,
    MedicationReconciliationItem,
)
from app.domain.items.symptom import SymptomItem, SymptomSeverity, coded
from app.domain.narrative_block import sections_with_blocks
from app.domain.review import AppIdentity
from app.domain.templates import NoteTemplate, TemplateSection

NOW = datetime(2025, 3, 10, 10, 30, tzinfo=UTC)
PATIENT = Reference("Patient", "pat-1", "Maria Elena Garcia")
ENCOUNTER = Reference("Encounter", "enc-1")
CLINICIAN = Reference("Practitioner", "prac-1", "Dr. Alex Chen")
NURSE_TEAM = Reference("CareTeam", "team-1", "Clinic nurses")
APP = AppIdentity("fhir-writeback", "0.1.0", "clinic-laptop-7")
DRAFT_ID = uuid.UUID("0b2f4a8e-3c1d-4e5f-8a9b-0c1d2e3f4a5b")
PROGRESS_NOTE = Coding("http://loinc.org", "11506-3", "Progress note")

SOAP = NoteTemplate(
    id="soap",
    name="SOAP note",
    version=1,
    note_type=PROGRESS_NOTE,
    sections=(
        TemplateSection("subjective", "Subjective"),
        TemplateSection("objective", "Objective"),
        TemplateSection("assessment", "Assessment", required=True),
        TemplateSection("plan", "Plan", required=True),
    ),
)


def obs(
    item_id: str, code: str, value: str | None, unit: str | None, display: str = ""
) -> ObservationItem:
    return ObservationItem(
        item_id=item_id,
        loinc_code=code,
        display=display or f"LOINC {code}",
        value=Decimal(value) if value is not None else None,
        unit=unit,
        effective=datetime(2025, 3, 10, 9, 15, tzinfo=UTC),
    )


def task(item_id: str = "task-1", **kw: object) -> TaskItem:
    fields: dict[str, object] = {
        "item_id": item_id,
        "description": "Recheck blood pressure in 2 weeks",
        "owner": NURSE_TEAM,
        "due": date(2025, 3, 24),
        "status": TaskStatus.REQUESTED,
    }
    fields.update(kw)
    return TaskItem(**fields)  # type: ignore[arg-type]


def message(item_id: str = "msg-1", **kw: object) -> MessageItem:
    fields: dict[str, object] = {
        "item_id": item_id,
        "recipient": NURSE_TEAM,
        "text": "Please call the patient about the lab results.",
    }
    fields.update(kw)
    return MessageItem(**fields)  # type: ignore[arg-type]


RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
METFORMIN = Reference("MedicationRequest", "medrx-1", "metformin hydrochloride 500 MG Oral Tablet")


def reconciliation(
    item_id: str = "medrec-1",
    decision: MedicationDecision | None = MedicationDecision.CONTINUE,
    *,
    medication: Reference = METFORMIN,
    note: str | None = None,
) -> MedicationReconciliationItem:
    return MedicationReconciliationItem(
        item_id=item_id,
        medication=medication,
        decision=decision,
        note=note,
        code=Coding(RXNORM, "861007", medication.display),
        dosage="Take 2 tablets by mouth twice daily",
    )


def symptom(
    item_id: str = "sym-1",
    description: str = "Headache",
    severity: SymptomSeverity | None = SymptomSeverity.MODERATE,
    **kw: object,
) -> SymptomItem:
    fields: dict[str, object] = {
        "item_id": item_id,
        "description": description,
        "severity": severity,
        "onset": date(2025, 3, 7),
        "code": coded(description),
    }
    fields.update(kw)
    return SymptomItem(**fields)  # type: ignore[arg-type]


def sections(**texts: str) -> tuple[NoteSection, ...]:
    base = {
        "subjective": "Headache for 3 days.",
        "objective": "Chest clear.",
        "assessment": "Tension headache.",
        "plan": "Ibuprofen; recheck in 2 weeks.",
    }
    base.update(texts)
    return tuple(NoteSection(t.key, t.title, base[t.key]) for t in SOAP.sections)


def make_draft(
    items: tuple[StructuredItem, ...] = (),
    *,
    source: DraftSource = DraftSource.PREFILLED,
    edited: bool = True,
    **section_texts: str,
) -> Draft:
    """A SOAP draft for pat-1/enc-1; ``edited`` makes the content differ from the baseline.
    The items are written into their sections' app-maintained blocks, as the editor does."""
    secs = sections(**section_texts)
    if items:
        secs = sections_with_blocks(secs, items)
    baseline = Baseline(sections=secs, items=items)
    if edited:
        baseline = Baseline(sections=tuple(replace(s, text="") for s in secs), items=())
    return Draft(
        id=DRAFT_ID,
        patient=PATIENT,
        encounter=ENCOUNTER,
        template_id="soap",
        title="Progress note",
        sections=secs,
        baseline=baseline,
        provenance=DraftProvenance(source=source),
        created_at=NOW,
        updated_at=NOW,
        items=items,
        note_type=PROGRESS_NOTE,
    )


def amendment(text: str = "Corrected: BP 138/86.") -> Draft:
    sec = (NoteSection("note", "Progress note", text),)
    return Draft(
        id=uuid.uuid4(),
        patient=PATIENT,
        encounter=Reference("Encounter", "enc-0"),
        template_id="amendment",
        title="Amendment: Progress note",
        sections=sec,
        baseline=Baseline(sections=(NoteSection("note", "Progress note", "BP 183/86."),)),
        provenance=DraftProvenance(source=DraftSource.AMENDMENT),
        created_at=NOW,
        updated_at=NOW,
        note_type=PROGRESS_NOTE,
        amends=AmendmentRef(Reference("DocumentReference", "docref-1"), "3"),
    )


def one_of_each() -> dict[str, StructuredItem]:
    """A valid item of every kind of the catalogue, by kind key (a new kind adds one here)."""
    return {
        "observation": obs("obs-hr", "8867-4", "72", "/min", "Heart rate"),
        "symptom": symptom(),
        "medication_reconciliation": reconciliation(),
        "task": task(),
        "message": message(),
    }


def full_items() -> tuple[StructuredItem, ...]:
    return (
        obs("obs-sys", "8480-6", "128", "mm[Hg]", "Systolic blood pressure"),
        obs("obs-dia", "8462-4", "82", "mm[Hg]", "Diastolic blood pressure"),
        obs("obs-glu", "2339-0", "5.4", "mmol/L", "Glucose"),
        task(),
        message(),
    )
