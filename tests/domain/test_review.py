"""The review gate (app.domain.review): decisions, risk flags, immutability after approval."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.domain.clinical import Reference
from app.domain.draft import (
    DraftProvenance,
    DraftSource,
    DraftStatus,
    FlagTarget,
    Generator,
    UncertaintyFlag,
)
from app.domain.errors import DraftEditError
from app.domain.fingerprint import draft_content_sha256
from app.domain.offline import ChartBasis, ChartSource
from app.domain.review import (
    ApprovalRefused,
    ReviewStatus,
    RiskKind,
    approved_draft,
    decide,
)
from app.domain.review_codec import decision_from_json, decision_to_json
from app.domain.templates import AMENDMENT_TEMPLATE
from app.domain.validation import ValidationReport, WritePermissions, validate_for_approval
from tests.support.drafts import (
    APP,
    CLINICIAN,
    ENCOUNTER,
    NOW,
    PATIENT,
    SOAP,
    amendment,
    full_items,
    make_draft,
    obs,
)

ALL = WritePermissions.allowing(
    "DocumentReference", "Observation", "Task", "Communication", "Provenance"
)


def report_for(draft: object, **kw: object) -> ValidationReport:
    args: dict[str, object] = {"template": SOAP, "write_permissions": ALL}
    args.update(kw)
    return validate_for_approval(draft, PATIENT, ENCOUNTER, **args)  # type: ignore[arg-type]


def test_decision_records_who_when_what_and_from_where() -> None:
    draft = make_draft(full_items())
    report = report_for(draft)
    local = datetime(2025, 3, 10, 11, 30, tzinfo=timezone(timedelta(hours=1)))
    decision = decide(draft, report, CLINICIAN, local, APP)
    assert decision.status is ReviewStatus.APPROVED
    assert decision.approved_by == CLINICIAN
    assert decision.approved_at == NOW and decision.approved_at.tzinfo is UTC
    assert (decision.patient, decision.source_encounter) == (PATIENT, ENCOUNTER)
    assert decision.destination_types == (
        "DocumentReference",
        "Observation",
        "Task",
        "Communication",
        "Provenance",
    )
    assert decision.app.label == "fhir-writeback 0.1.0 on clinic-laptop-7"
    assert decision.content_sha256 == draft_content_sha256(draft) == report.content_sha256
    assert decision.draft_id == draft.id
    assert decision.provenance.generated_by == "clinician"
    assert decision.provenance.human_edited is True
    assert decision.risk_flags == ()
    assert decision.amends is None


def test_decision_id_can_be_given_and_is_otherwise_fresh() -> None:
    draft = make_draft()
    report = report_for(draft)
    fixed = uuid.UUID(int=7)
    assert decide(draft, report, CLINICIAN, NOW, APP, decision_id=fixed).decision_id == fixed
    a = decide(draft, report, CLINICIAN, NOW, APP).decision_id
    assert a != decide(draft, report, CLINICIAN, NOW, APP).decision_id


def test_a_blocking_report_refuses_with_its_reason() -> None:
    draft = make_draft(plan="")
    with pytest.raises(ApprovalRefused) as err:
        decide(draft, report_for(draft), CLINICIAN, NOW, APP)
    assert err.value.user_message == "The Plan section is required; write it before approval."


def test_a_report_for_other_content_is_refused() -> None:
    draft = make_draft()
    report = report_for(draft)
    edited = draft.with_section_text("plan", "Changed after validation.")
    with pytest.raises(ApprovalRefused, match="changed after it was checked"):
        decide(edited, report, CLINICIAN, NOW, APP)


def test_only_practitioners_approve() -> None:
    draft = make_draft()
    for user in (Reference("Patient", "pat-1"), Reference("RelatedPerson", "rp-1")):
        with pytest.raises(ApprovalRefused, match="Only a practitioner"):
            decide(draft, report_for(draft), user, NOW, APP)
    role = Reference("PractitionerRole", "role-1", "Dr. Chen, GP")
    assert decide(draft, report_for(draft), role, NOW, APP).approved_by == role


def test_naive_time_is_refused() -> None:
    draft = make_draft()
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(draft, report_for(draft), CLINICIAN, datetime(2025, 3, 10, 10, 30), APP)


def test_imported_draft_flags_uncertainty_and_edits() -> None:
    flags = tuple(UncertaintyFlag(FlagTarget.SECTION, "plan", f"unsure {i}") for i in range(3))
    draft = replace(
        make_draft(source=DraftSource.IMPORTED),
        provenance=DraftProvenance(
            source=DraftSource.IMPORTED,
            generator=Generator("scribe-ai", "2.1"),
            uncertainty=flags,
            import_sha256="ab" * 32,
        ),
    )
    decision = decide(draft, report_for(draft), CLINICIAN, NOW, APP)
    assert [(f.kind, f.text) for f in decision.risk_flags] == [
        (RiskKind.IMPORTED_UNCERTAINTY, "Imported draft with 3 uncertainty flags"),
        (RiskKind.EDITED_AFTER_IMPORT, "Edited after import"),
    ]
    assert decision.provenance.generated_by == "scribe-ai 2.1"
    assert decision.provenance.import_sha256 == "ab" * 32


def test_an_unedited_import_is_not_flagged_as_edited() -> None:
    draft = replace(
        make_draft(source=DraftSource.IMPORTED, edited=False),
        provenance=DraftProvenance(DraftSource.IMPORTED, Generator("scribe-ai", "2.1")),
    )
    decision = decide(draft, report_for(draft), CLINICIAN, NOW, APP)
    assert decision.provenance.human_edited is False
    assert decision.risk_flags == ()


def test_unusual_values_and_amendments_are_flagged() -> None:
    draft = make_draft((obs("s", "8480-6", "190", "mm[Hg]"), obs("x", "11506-3", "1", "mg")))
    report = report_for(draft)
    flags = {f.kind: f.text for f in decide(draft, report, CLINICIAN, NOW, APP).risk_flags}
    assert flags == {
        RiskKind.UNUSUAL_VALUES: "1 value outside the usual range but within plausible limits",
        RiskKind.UNCHECKED_CODES: "1 value with a code the app could not check",
    }
    assert decide(draft, report, CLINICIAN, NOW, APP).acknowledged_warnings == tuple(
        w.message for w in report.warnings
    )

    amend = amendment()
    report = validate_for_approval(
        amend,
        PATIENT,
        ENCOUNTER,
        template=AMENDMENT_TEMPLATE,
        write_permissions=ALL,
        amended_note_patient=PATIENT,
        amended_note_encounter=amend.encounter,
    )
    decision = decide(amend, report, CLINICIAN, NOW, APP)
    assert decision.amends == Reference("DocumentReference", "docref-1")
    assert decision.source_encounter == amend.encounter
    assert [f.kind for f in decision.risk_flags] == [RiskKind.AMENDMENT]


# ----------------------------------------------------------------------------- immutability


def test_approved_content_is_immutable() -> None:
    draft = make_draft(full_items())
    decision = decide(draft, report_for(draft), CLINICIAN, NOW, APP)
    approved = approved_draft(draft, decision)
    assert approved.status is DraftStatus.APPROVED
    assert draft_content_sha256(approved) == decision.content_sha256
    with pytest.raises(DraftEditError, match="can no longer be edited"):
        approved.with_section_text("plan", "sneaky change")
    with pytest.raises(DraftEditError):
        approved.without_item("task-1")
    assert approved_draft(approved) is approved  # idempotent


def test_approving_other_content_than_decided_is_refused() -> None:
    draft = make_draft()
    decision = decide(draft, report_for(draft), CLINICIAN, NOW, APP)
    with pytest.raises(ApprovalRefused):
        approved_draft(draft.with_section_text("plan", "other"), decision)
    with pytest.raises(DraftEditError):
        approved_draft(replace(draft, status=DraftStatus.DISCARDED))


def test_an_approved_draft_cannot_be_decided_again() -> None:
    draft = make_draft()
    report = report_for(draft)
    approved = approved_draft(draft)
    with pytest.raises(ApprovalRefused):
        decide(approved, report, CLINICIAN, NOW, APP)


def test_fingerprint_ignores_bookkeeping_but_not_content() -> None:
    draft = make_draft(full_items())
    same = replace(draft, revision=9, updated_at=NOW + timedelta(days=1), id=uuid.uuid4())
    assert draft_content_sha256(same) == draft_content_sha256(draft)
    for changed in (
        draft.with_section_text("plan", "x"),
        replace(draft, patient=Reference("Patient", "pat-2")),
        replace(draft, encounter=Reference("Encounter", "enc-2")),
        draft.with_item(obs("obs-glu", "2339-0", "5.5", "mmol/L", "Glucose")),
        draft.with_title("Other"),
    ):
        assert draft_content_sha256(changed) != draft_content_sha256(draft)


# ----------------------------------------------------------------------------- JSON record


def test_decision_json_round_trips_exactly() -> None:
    draft = replace(
        make_draft((obs("s", "8480-6", "190", "mm[Hg]"),), source=DraftSource.IMPORTED),
        provenance=DraftProvenance(
            DraftSource.IMPORTED,
            Generator("scribe-ai", "2.1"),
            uncertainty=(UncertaintyFlag(FlagTarget.DRAFT, "", "unsure"),),
            import_sha256="cd" * 32,
        ),
    )
    decision = decide(draft, report_for(draft), CLINICIAN, NOW, APP)
    text = decision_to_json(decision)
    assert decision_from_json(text) == decision
    data = json.loads(text)
    assert data["approved_at"] == "2025-03-10T10:30:00Z"
    assert data["format"] == 1
    assert decision_to_json(decision_from_json(text)) == text


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.pop("decision_id"), "$.decision_id"),
        (lambda d: d.update(status="maybe"), "$.status"),
        (lambda d: d.update(approved_at="2025-03-10T10:30:00"), "$.approved_at"),
        (lambda d: d["provenance"].update(human_edited="yes"), "$.provenance.human_edited"),
        (lambda d: d.update(risk_flags=[{"kind": "x", "text": "t"}]), "$.risk_flags[0].kind"),
        (lambda d: d.update(format=2), "$.format"),
    ],
)
def test_a_damaged_decision_record_is_refused_naming_the_field(mutate: Any, where: str) -> None:
    draft = make_draft()
    data = json.loads(decision_to_json(decide(draft, report_for(draft), CLINICIAN, NOW, APP)))
    mutate(data)
    with pytest.raises(ValueError, match=re.escape(where)):
        decision_from_json(json.dumps(data))
    with pytest.raises(ValueError, match="not JSON"):
        decision_from_json("{")


def test_the_patients_mrn_shown_when_approving_is_kept_with_the_decision() -> None:
    draft = make_draft()
    decision = replace(
        decide(draft, report_for(draft), CLINICIAN, NOW, APP), patient_mrn="MRN-1001"
    )
    text = decision_to_json(decision)
    assert decision_from_json(text).patient_mrn == "MRN-1001"
    without = decision_to_json(replace(decision, patient_mrn=None))
    assert "patient_mrn" not in without  # decisions recorded before stay byte for byte
    assert decision_from_json(without).patient_mrn is None


def test_an_offline_approval_and_the_chart_it_was_based_on_are_kept_with_the_decision() -> None:
    draft = make_draft()
    kept_at = datetime(2025, 3, 10, 8, 12, tzinfo=UTC)
    basis = ChartBasis(ChartSource.KEPT, kept_at)
    decision = replace(decide(draft, report_for(draft), CLINICIAN, NOW, APP), chart_basis=basis)
    text = decision_to_json(decision)
    back = decision_from_json(text)
    assert back.chart_basis == basis and back.chart_basis.offline
    assert json.loads(text)["chart_basis"] == {"source": "kept", "as_of": "2025-03-10T08:12:00Z"}
    without = decision_to_json(replace(decision, chart_basis=None))
    assert "chart_basis" not in without  # decisions recorded before stay byte for byte
    assert decision_from_json(without).chart_basis is None
