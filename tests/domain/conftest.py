"""Domain test data: a small encounter context built from domain objects only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from app.domain.clinical import (
    AdministrativeSex,
    Allergy,
    AllergyCriticality,
    Coding,
    EncounterStatus,
    EncounterSummary,
    Measurement,
    MeasurementComponent,
    MeasurementKind,
    Medication,
    NoteSourceType,
    Participant,
    PatientSummary,
    PriorNote,
    Problem,
    ProblemStatus,
    Reference,
)
from app.domain.context import ContextSection, EncounterContext

NOW = datetime(2025, 3, 10, 10, 30, tzinfo=UTC)
LOINC = "http://loinc.org"


def vital(mid: str, code: str, display: str, value: str, unit: str, at: datetime) -> Measurement:
    return Measurement(
        id=mid,
        kind=MeasurementKind.VITAL_SIGN,
        code=Coding(LOINC, code, display),
        display=display,
        value=Decimal(value),
        unit=unit,
        effective=at,
    )


def make_context() -> EncounterContext:
    t1 = datetime(2025, 3, 10, 9, 15, tzinfo=UTC)
    t0 = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)
    bp = Measurement(
        id="obs-bp-1",
        kind=MeasurementKind.VITAL_SIGN,
        code=Coding(LOINC, "85354-9", "Blood pressure panel"),
        display="Blood pressure",
        value=None,
        unit=None,
        effective=t1,
        components=(
            MeasurementComponent(
                Coding(LOINC, "8480-6"), "Systolic", Decimal(142), "mm[Hg]", unit_text="mmHg"
            ),
            MeasurementComponent(
                Coding(LOINC, "8462-4"), "Diastolic", Decimal(88), "mm[Hg]", unit_text="mmHg"
            ),
        ),
    )
    return EncounterContext(
        patient=PatientSummary(
            id="pat-1",
            name="Maria Elena Garcia",
            family="Garcia",
            given=("Maria", "Elena"),
            birth_date=date(1968, 4, 12),
            sex=AdministrativeSex.FEMALE,
            mrn="MRN-1001",
        ),
        encounter=EncounterSummary(
            id="enc-1",
            status=EncounterStatus.IN_PROGRESS,
            class_code=Coding(
                "http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", "ambulatory"
            ),
            types=("Encounter for check up",),
            period_start=datetime(2025, 3, 10, 9, 0, tzinfo=UTC),
            period_end=None,
            locations=(),
            participants=(Participant(Reference("Practitioner", "prac-1", "Dr. Alice Smith")),),
            subject=Reference("Patient", "pat-1"),
        ),
        problems=ContextSection(
            items=(
                Problem("cond-1", "Diabetes mellitus type 2", None, ProblemStatus.ACTIVE),
                Problem("cond-9", "Old fracture", None, ProblemStatus.RESOLVED),
            )
        ),
        medications=ContextSection(
            items=(
                Medication(
                    "medrx-1",
                    "metformin 500 MG Oral Tablet",
                    None,
                    "active",
                    "1 tablet twice daily",
                ),
            )
        ),
        allergies=ContextSection(
            items=(
                Allergy(
                    "allergy-1",
                    "Penicillin G",
                    None,
                    "active",
                    AllergyCriticality.HIGH,
                    reactions=("Eruption of skin",),
                ),
            )
        ),
        vitals=ContextSection(
            items=(
                vital("obs-hr-0", "8867-4", "Heart rate", "91", "/min", t0),
                vital("obs-hr-1", "8867-4", "Heart rate", "78", "/min", t1),
                bp,
            )
        ),
        labs=ContextSection(error="The server refused the search (HTTP 403)."),
        notes=ContextSection(
            items=(
                PriorNote(
                    id="docref-1",
                    source_type=NoteSourceType.DOCUMENT_REFERENCE,
                    version_id="3",
                    type=Coding(LOINC, "11506-3", "Progress note"),
                    type_display="Progress note",
                    date=datetime(2025, 3, 10, 10, 2, tzinfo=UTC),
                    authors=(Reference("Practitioner", "prac-1"),),
                    status="current",
                    doc_status="final",
                    description=None,
                    text="S: Follow-up.\nO: BP 142/88.\nA/P: Continue metformin.\n",
                    content_type="text/plain; charset=utf-8",
                    encounter=Reference("Encounter", "enc-1"),
                ),
            )
        ),
        loaded_at=NOW,
    )


@pytest.fixture
def context() -> EncounterContext:
    return make_context()
