"""Narrative/table mismatches and imported uncertainty flags in the review decision: what the
clinician must acknowledge is recorded in its risk flags (issue 12 item 2)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.domain.draft import DraftProvenance, DraftSource, FlagTarget, Generator, UncertaintyFlag
from app.domain.errors import DraftEditError
from app.domain.fingerprint import draft_content_sha256
from app.domain.review import RiskKind, decide
from app.domain.validation import ProblemKind, WritePermissions, validate_for_approval
from tests.support.drafts import APP, CLINICIAN, ENCOUNTER, NOW, PATIENT, SOAP, make_draft, obs

ALL = WritePermissions.allowing("DocumentReference", "Observation", "Provenance")
FLAGS = tuple(UncertaintyFlag(FlagTarget.SECTION, "plan", f"unsure {i}") for i in range(3))


def imported() -> object:
    return replace(
        make_draft(source=DraftSource.IMPORTED),
        provenance=DraftProvenance(
            DraftSource.IMPORTED, Generator("scribe", "1"), uncertainty=FLAGS
        ),
    )


def test_a_mismatch_is_a_warning_acknowledged_and_recorded_as_a_risk_flag() -> None:
    draft = make_draft((obs("hr", "8867-4", "96", "/min", "Heart rate"),), objective="HR 78/min.")
    report = validate_for_approval(draft, PATIENT, ENCOUNTER, template=SOAP, write_permissions=ALL)
    (warning,) = report.of_kind(ProblemKind.NARRATIVE_MISMATCH)
    assert report.can_approve
    decision = decide(draft, report, CLINICIAN, NOW, APP)
    assert (
        RiskKind.NARRATIVE_MISMATCH,
        "1 place where the note's text and its recorded values disagree",
    ) in [(f.kind, f.text) for f in decision.risk_flags]
    assert warning.message in decision.acknowledged_warnings


def test_uncertainty_flags_not_looked_at_are_a_warning_until_each_is() -> None:
    draft = imported()
    report = validate_for_approval(draft, PATIENT, ENCOUNTER, template=SOAP, write_permissions=ALL)  # type: ignore[arg-type]
    (waiting,) = report.of_kind(ProblemKind.UNCERTAINTY_NOT_LOOKED_AT)
    assert waiting.message.startswith("3 of the 3 passages")
    looked = draft.with_flag_looked_at(0, "Practitioner/prac-1", NOW)  # type: ignore[attr-defined]
    assert draft_content_sha256(looked) == draft_content_sha256(draft)  # provenance, not content
    assert (
        looked.with_flag_looked_at(0, "Practitioner/prac-2", NOW) is looked
    )  # the first look stays
    partly = decide(
        looked,
        validate_for_approval(looked, PATIENT, ENCOUNTER, template=SOAP, write_permissions=ALL),
        CLINICIAN,
        NOW,
        APP,
    )
    assert partly.risk_flags[0].text == "Imported draft with 3 uncertainty flags, 1 looked at"
    for index in (1, 2):
        looked = looked.with_flag_looked_at(index, "Practitioner/prac-1", NOW)
    report = validate_for_approval(looked, PATIENT, ENCOUNTER, template=SOAP, write_permissions=ALL)
    assert report.of_kind(ProblemKind.UNCERTAINTY_NOT_LOOKED_AT) == ()
    decision = decide(looked, report, CLINICIAN, NOW, APP)
    assert decision.risk_flags[0].text == "Imported draft with 3 uncertainty flags, each looked at"
    assert [look.by for look in looked.provenance.looked_at] == ["Practitioner/prac-1"] * 3


def test_an_unknown_flag_cannot_be_marked() -> None:
    with pytest.raises(DraftEditError):
        imported().with_flag_looked_at(3, "Practitioner/prac-1", NOW)  # type: ignore[attr-defined]
