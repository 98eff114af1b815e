"""Medication reconciliation (app.domain.items.medication_reconciliation): one row per active
medication, validation, import, the draft codec, the editor's columns and the note's line."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from app.domain.clinical import Medication, Reference
from app.domain.context import ContextSection
from app.domain.draft_import import import_draft
from app.domain.errors import DraftImportError
from app.domain.items import NoteRole, kind_of
from app.domain.items.medication_reconciliation import (
    MEDICATION_RECONCILIATION as KIND,
)
from app.domain.items.medication_reconciliation import (
    MedicationDecision,
    MedicationReconciliationItem,
    for_medication,
)
from app.domain.validation import ProblemKind, WritePermissions, validate_for_approval
from app.store.draft_codec import decode_body, encode_body
from tests.domain.conftest import NOW, make_context
from tests.support.drafts import ENCOUNTER, PATIENT, SOAP, make_draft, reconciliation

ALL = WritePermissions.allowing("DocumentReference", "MedicationStatement")
LISINOPRIL = Medication("medrx-2", "lisinopril 10 MG Oral Tablet", None, "active", "once daily")
STOPPED_ORDER = Medication("medrx-9", "aspirin 81 MG", None, "stopped")


def context_with_three_orders() -> Any:
    ctx = make_context()
    meds = (*ctx.medications.items, LISINOPRIL, STOPPED_ORDER)
    return replace(ctx, medications=ContextSection(items=meds))


def problems(*items: MedicationReconciliationItem, perms: WritePermissions = ALL) -> list[Any]:
    report = validate_for_approval(
        make_draft(items), PATIENT, ENCOUNTER, template=SOAP, write_permissions=perms, now=NOW
    )
    return [(p.field_path, p.kind, p.message) for p in report.problems]


# ---------------------------------------------------------------- rows from the chart


def test_the_context_exposes_only_active_medications() -> None:
    ctx = context_with_three_orders()
    assert [m.id for m in ctx.active_medications] == ["medrx-1", "medrx-2"]


def test_one_row_per_active_medication_with_the_drafts_decision_where_there_is_one() -> None:
    ctx = context_with_three_orders()
    decided = replace(for_medication(LISINOPRIL), decision=MedicationDecision.STOPPED)
    rows = KIND.rows((decided,), ctx)
    assert [r.medication.id for r in rows] == ["medrx-1", "medrx-2"]
    assert rows[0].decision is None and rows[0].dosage == "1 tablet twice daily"
    assert rows[1] is decided
    assert not KIND.keeps(rows[0]) and KIND.keeps(rows[1])


def test_a_decision_about_a_medication_no_longer_active_is_still_shown() -> None:
    gone = reconciliation("medrec-x", medication=Reference("MedicationRequest", "medrx-77", "Old"))
    rows = KIND.rows((gone,), make_context())
    assert [r.item_id for r in rows] == ["medrec-medrx-1", "medrec-x"]


# ---------------------------------------------------------------- validation


def test_a_decided_row_validates() -> None:
    assert problems(reconciliation()) == []


def test_no_decision_names_the_medicine_and_the_choices() -> None:
    [(path, kind, message)] = problems(reconciliation(decision=None))
    assert path == "item:medrec-1:decision" and kind is ProblemKind.ITEM_INCOMPLETE
    assert message == (
        "Choose continue, changed, stopped or not taking for metformin hydrochloride 500 MG "
        "Oral Tablet."
    )


def test_changed_needs_a_note_saying_what_changed() -> None:
    [(path, _, message)] = problems(reconciliation(decision=MedicationDecision.CHANGED))
    assert path == "item:medrec-1:note" and "Say what changed" in message
    assert problems(reconciliation(decision=MedicationDecision.CHANGED, note="1000 mg")) == []


def test_the_same_medication_twice_is_an_error_on_the_second() -> None:
    found = problems(reconciliation("a"), reconciliation("b"))
    assert [p[0] for p in found] == ["item:b:medication"]
    assert "reconciled twice" in found[0][2]


def test_not_permitted_names_the_medicine() -> None:
    perms = WritePermissions(
        frozenset({"DocumentReference"}),
        {"MedicationStatement": "the Epic-like EHR profile does not allow writing "
                                "MedicationStatement"},
    )  # fmt: skip
    [(path, kind, message)] = problems(reconciliation(), perms=perms)
    assert path == "item:medrec-1" and kind is ProblemKind.WRITE_NOT_PERMITTED
    assert message == (
        "The Epic-like EHR profile does not allow writing MedicationStatement, so the "
        "reconciliation of metformin hydrochloride 500 MG Oral Tablet cannot be recorded; "
        "remove it or ask IT."
    )


def test_control_characters_in_the_note_are_refused() -> None:
    [(path, kind, _)] = problems(reconciliation(note="bad\x07"))
    assert path == "item:medrec-1:note" and kind is ProblemKind.UNSAFE_TEXT


# ---------------------------------------------------------------- words, codec, editor


def test_the_note_line_and_its_section() -> None:
    item = reconciliation(decision=MedicationDecision.NOT_TAKING, note="ran out in May")
    assert KIND.render(item) == (
        "metformin hydrochloride 500 MG Oral Tablet: not taking (ran out in May)"
    )
    assert kind_of(item).role is NoteRole.MEDICATIONS
    assert NoteRole.MEDICATIONS.section_in(["subjective", "objective", "plan"]) == "plan"
    assert NoteRole.MEDICATIONS.section_in(["findings", "medications", "plan"]) == "medications"


@pytest.mark.parametrize("decision", [*MedicationDecision, None])
def test_draft_codec_round_trip(decision: MedicationDecision | None) -> None:
    draft = make_draft((reconciliation(decision=decision, note="n"),))
    body = encode_body(draft)
    assert json.loads(body)["items"][0]["kind"] == "medication_reconciliation"
    back = decode_body(body, draft_id=str(draft.id), template_id="soap", status="open",
                       revision=1, created_at="2025-03-10T10:30:00.000000Z",
                       updated_at="2025-03-10T10:30:00.000000Z")  # fmt: skip
    assert back.items == draft.items


def test_the_decision_column_is_a_choice_and_clearing_it_unkeeps_the_row() -> None:
    decision = next(c for c in KIND.columns if c.field == "decision")
    assert decision.choices == ("", "continue", "changed", "stopped", "not taking")
    row = for_medication(LISINOPRIL)
    picked = decision.set(row, "not taking")  # type: ignore[misc]
    assert picked.decision is MedicationDecision.NOT_TAKING and KIND.keeps(picked)
    assert decision.get(picked) == "not taking"
    assert not KIND.keeps(decision.set(picked, ""))  # type: ignore[misc]
    medication = next(c for c in KIND.columns if c.field == "medication")
    assert medication.set is None and medication.get(row) == "lisinopril 10 MG Oral Tablet"


# ---------------------------------------------------------------- import


def doc(*entries: dict[str, Any]) -> bytes:
    return json.dumps({
        "schema": "fhir-writeback/draft-import", "schema_version": 1,
        "source": {"patient": "Patient/pat-1", "encounter": "Encounter/enc-1"},
        "generator": {"name": "Scribe", "version": "1"},
        "generated_at": "2025-03-10T09:00:00Z",
        "sections": [{"key": "plan", "text": "Plan."}],
        "medication_reconciliation": list(entries),
    }).encode()  # fmt: skip


def test_import_takes_name_code_and_dosage_from_the_chart() -> None:
    draft = import_draft(
        doc({"id": "m1", "medication": "MedicationRequest/medrx-1", "decision": "stopped",
             "note": "GI upset"}),
        make_context(),
        now=NOW,
    )  # fmt: skip
    [item] = draft.items
    assert item == MedicationReconciliationItem(
        "m1",
        Reference("MedicationRequest", "medrx-1", "metformin 500 MG Oral Tablet"),
        MedicationDecision.STOPPED,
        "GI upset",
        None,
        "1 tablet twice daily",
    )


@pytest.mark.parametrize(
    ("entry", "path", "words"),
    [
        ({"medication": "MedicationRequest/medrx-9", "decision": "continue"},
         "$.medication_reconciliation[0].medication", "not an active medication"),
        ({"medication": "Condition/cond-1", "decision": "continue"},
         "$.medication_reconciliation[0].medication", "must refer to a MedicationRequest"),
        ({"medication": "MedicationRequest/medrx-1"},
         "$.medication_reconciliation[0].decision", "required"),
        ({"medication": "MedicationRequest/medrx-1", "decision": "maybe"},
         "$.medication_reconciliation[0].decision", "not one of continue, changed"),
    ],
)  # fmt: skip
def test_import_refusals_name_the_place(entry: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(DraftImportError) as exc:
        import_draft(doc(entry), make_context(), now=NOW)
    assert exc.value.path == path and words in exc.value.problem
