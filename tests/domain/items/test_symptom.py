"""Patient-reported symptoms (app.domain.items.symptom): validation, coding, import, the draft
codec, the editor's columns and the note's line."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from app.domain.clinical import Coding
from app.domain.draft_import import import_draft
from app.domain.errors import DraftImportError
from app.domain.items import NoteRole
from app.domain.items.symptom import SNOMED, SymptomItem, SymptomSeverity, coded
from app.domain.items.symptom import SYMPTOM as KIND
from app.domain.validation import ProblemKind, WritePermissions, validate_for_approval
from app.store.draft_codec import decode_body, encode_body
from tests.domain.conftest import NOW, make_context
from tests.support.drafts import ENCOUNTER, PATIENT, SOAP, make_draft, symptom

ALL = WritePermissions.allowing("DocumentReference", "Observation")


def problems(*items: SymptomItem) -> list[tuple[str, ProblemKind | None, str]]:
    report = validate_for_approval(
        make_draft(items), PATIENT, ENCOUNTER, template=SOAP, write_permissions=ALL, now=NOW
    )
    return [(p.field_path, p.kind, p.message) for p in report.problems]


def test_a_complete_symptom_validates() -> None:
    assert problems(symptom()) == []


def test_missing_name_and_severity_are_errors_on_their_cells() -> None:
    found = problems(symptom(description=" ", severity=None))
    assert [(p, k) for p, k, _ in found] == [
        ("item:sym-1:description", ProblemKind.ITEM_INCOMPLETE),
        ("item:sym-1:severity", ProblemKind.ITEM_INCOMPLETE),
    ]
    assert found[1][2] == "Choose how severe the symptom is (mild, moderate or severe)."


def test_an_onset_in_the_future_is_refused() -> None:
    [(path, kind, message)] = problems(symptom(onset=date(2025, 3, 11)))  # NOW is 2025-03-10
    assert path == "item:sym-1:onset" and kind is ProblemKind.EFFECTIVE_TIME
    assert message == "The onset of Headache is in the future; correct the date."


def test_known_symptoms_are_coded_in_snomed_others_stay_text() -> None:
    assert coded(" headache ") == Coding(SNOMED, "25064002", "Headache")
    assert coded("a strange tingling") is None
    description = next(c for c in KIND.columns if c.field == "description")
    edited = description.set(symptom(), "Cough")  # type: ignore[misc]
    assert edited.code == Coding(SNOMED, "49727002", "Cough")
    assert description.set(edited, "Tingling").code is None  # type: ignore[misc]


def test_the_note_line_and_its_section() -> None:
    item = symptom(note="worse in the morning")
    assert KIND.render(item) == "Headache: moderate, since 2025-03-07 (worse in the morning)"
    assert KIND.render(symptom(severity=None, onset=None, description="cough")) == (
        "Cough: severity not stated"
    )
    assert KIND.role is NoteRole.SUBJECTIVE
    assert NoteRole.SUBJECTIVE.section_in(["interval-history", "findings", "plan"]) == (
        "interval-history"
    )


def test_severity_column_is_a_choice_and_unknown_text_chooses_nothing() -> None:
    severity = next(c for c in KIND.columns if c.field == "severity")
    assert severity.choices == ("", "mild", "moderate", "severe")
    assert severity.set(symptom(), "Severe").severity is SymptomSeverity.SEVERE  # type: ignore[misc]
    assert severity.set(symptom(), "sevre").severity is None  # type: ignore[misc]


@pytest.mark.parametrize("item", [symptom(), symptom(severity=None, onset=None, code=None)])
def test_draft_codec_round_trip(item: SymptomItem) -> None:
    draft = make_draft((item,))
    back = decode_body(encode_body(draft), draft_id=str(draft.id), template_id="soap",
                       status="open", revision=1, created_at="2025-03-10T10:30:00.000000Z",
                       updated_at="2025-03-10T10:30:00.000000Z")  # fmt: skip
    assert back.items == (item,)


def doc(*entries: dict[str, Any]) -> bytes:
    return json.dumps({
        "schema": "fhir-writeback/draft-import", "schema_version": 1,
        "source": {"patient": "Patient/pat-1", "encounter": "Encounter/enc-1"},
        "generator": {"name": "Scribe", "version": "1"},
        "generated_at": "2025-03-10T09:00:00Z",
        "sections": [{"key": "subjective", "text": "Headache."}],
        "symptoms": list(entries),
    }).encode()  # fmt: skip


def test_import_reads_symptom_severity_onset_and_flags() -> None:
    draft = import_draft(
        doc({"id": "s1", "symptom": "Headache", "severity": "severe", "onset": "2025-03-08",
             "uncertainty": ["onset approximate"]}),
        make_context(),
        now=NOW,
    )  # fmt: skip
    assert draft.items == (
        SymptomItem("s1", "Headache", SymptomSeverity.SEVERE, date(2025, 3, 8), None,
                    Coding(SNOMED, "25064002", "Headache")),
    )  # fmt: skip
    assert draft.provenance.uncertainty[0].target == "s1"


@pytest.mark.parametrize(
    ("entry", "path", "words"),
    [
        ({"severity": "mild"}, "$.symptoms[0].symptom", "required"),
        ({"symptom": "Cough", "severity": "awful"}, "$.symptoms[0].severity", "not one of mild"),
        ({"symptom": "Cough", "onset": "last week"}, "$.symptoms[0].onset", "date"),
    ],
)
def test_import_refusals_name_the_place(entry: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(DraftImportError) as exc:
        import_draft(doc(entry), make_context(), now=NOW)
    assert exc.value.path == path and words in exc.value.problem
