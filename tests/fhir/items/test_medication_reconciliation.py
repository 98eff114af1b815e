"""Medication reconciliation <-> MedicationStatement (app.fhir.items.medication_reconciliation):
what is written per vendor profile, that it is valid R4, that reading it back gives the same
decision, and how the approval dialog describes it."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.clinical import Reference
from app.domain.commit import CommitInvalid
from app.domain.items import kind_of
from app.domain.items.medication_reconciliation import MedicationDecision
from app.domain.validation import validate_for_approval
from app.fhir.items import WriteContext, item_from_fhir, kind_of_resource, mapping_for
from app.fhir.items.medication_reconciliation import DECISION_EXTENSION
from app.fhir.permissions import write_permissions
from app.fhir.profiles import load_profile
from app.fhir.write_summary import describe_commit
from tests.fhir.test_mapping_out import EVERYTHING, assert_valid_r4, by_type, commit_for
from tests.support.drafts import (
    CLINICIAN,
    ENCOUNTER,
    NOW,
    PATIENT,
    SOAP,
    make_draft,
    reconciliation,
)

LISINOPRIL_ORDER = "MedicationRequest/medrx-2"


def statements(*items: Any, profile: str = "generic-r4") -> list[dict[str, Any]]:
    commit = commit_for(make_draft(items), profile)
    assert_valid_r4(commit)
    return by_type(commit, "MedicationStatement")


def test_one_statement_per_reconciled_medication_with_its_order_and_decision() -> None:
    stopped = reconciliation(
        "m2",
        MedicationDecision.STOPPED,
        medication=Reference("MedicationRequest", "medrx-2", "lisinopril 10 MG Oral Tablet"),
        note="dry cough",
    )
    first, second = statements(reconciliation(), stopped)
    assert first["status"] == "active" and second["status"] == "stopped"
    assert first["derivedFrom"] == [{"reference": "MedicationRequest/medrx-1"}]
    assert second["derivedFrom"] == [{"reference": LISINOPRIL_ORDER}]
    assert first["medicationCodeableConcept"] == {
        "text": "metformin hydrochloride 500 MG Oral Tablet",
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "861007",
                    "display": "metformin hydrochloride 500 MG Oral Tablet"}],
    }  # fmt: skip
    assert first["subject"] == {"reference": "Patient/pat-1"}
    assert first["context"] == {"reference": "Encounter/enc-1"}
    assert first["informationSource"] == {"reference": "Practitioner/prac-1",
                                          "display": "Dr. Alex Chen"}  # fmt: skip
    assert first["dosage"] == [{"text": "Take 2 tablets by mouth twice daily"}]
    assert "dosage" not in second and second["note"] == [{"text": "dry cough"}]
    assert {"url": DECISION_EXTENSION, "valueCode": "stopped"} in second["extension"]


@pytest.mark.parametrize(
    ("decision", "status"),
    [(MedicationDecision.CONTINUE, "active"), (MedicationDecision.CHANGED, "active"),
     (MedicationDecision.STOPPED, "stopped"), (MedicationDecision.NOT_TAKING, "not-taken")],
)  # fmt: skip
def test_every_decision_reads_back_as_itself(decision: MedicationDecision, status: str) -> None:
    item = reconciliation(decision=decision, note="details")
    [payload] = statements(item)
    assert payload["status"] == status
    stored = {**payload, "id": "ms-1"}
    back = item_from_fhir(stored)
    assert back is not None and kind_of(back) is kind_of(item)
    assert back.decision is decision and back.medication.relative == item.medication.relative
    assert back.medication.display == item.medication.display and back.note == "details"
    without_extension = {k: v for k, v in stored.items() if k != "extension"}
    plain = item_from_fhir(without_extension)
    assert plain is not None
    expected = MedicationDecision.CONTINUE if status == "active" else decision
    assert plain.decision is expected  # another app's statement: the status decides


def test_only_medication_statements_are_claimed() -> None:
    [payload] = statements(reconciliation())
    assert kind_of_resource(payload) is kind_of(reconciliation())
    assert kind_of_resource({"resourceType": "MedicationRequest"}) is None


def test_the_approval_dialog_says_medicine_and_decision() -> None:
    item = reconciliation(decision=MedicationDecision.CHANGED, note="now 1000 mg twice daily")
    words = {d.heading: d.text for d in describe_commit(commit_for(make_draft((item,)),
                                                                   "generic-r4"))}  # fmt: skip
    assert words["Medication reconciliation"] == (
        "metformin hydrochloride 500 MG Oral Tablet: changed — “now 1000 mg twice daily”."
    )


@pytest.mark.parametrize("profile_name", ["epic-like", "oracle-like"])
def test_vendors_that_take_no_medication_statements_block_it_before_approval(
    profile_name: str,
) -> None:
    perms = write_permissions(load_profile(profile_name), EVERYTHING, None)
    report = validate_for_approval(
        make_draft((reconciliation(),)), PATIENT, ENCOUNTER, template=SOAP,
        write_permissions=perms, now=NOW,
    )  # fmt: skip
    assert not report.can_approve
    [problem] = report.for_item("medrec-1")
    assert "cannot be recorded; remove it or ask IT" in problem.message
    assert "MedicationStatement" in problem.message


def test_a_row_without_decision_never_becomes_a_statement() -> None:
    """Validation blocks it first (tests/domain/items); the mapping refuses it as well."""
    ctx = WriteContext(PATIENT, ENCOUNTER, {"reference": CLINICIAN.relative}, "n", NOW)
    with pytest.raises(CommitInvalid):
        mapping_for(kind_of(reconciliation())).to_fhir(reconciliation(decision=None), ctx)
