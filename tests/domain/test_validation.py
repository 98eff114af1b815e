"""Validation before approval (app.domain.validation): each problem next to its field."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.clinical import Reference
from app.domain.draft import DraftStatus, NoteSection
from app.domain.templates import AMENDMENT_TEMPLATE
from app.domain.terminology import is_valid_loinc, loinc_check_digit, terminology
from app.domain.validation import (
    ProblemKind,
    Severity,
    ValidationReport,
    WritePermissions,
    validate_for_approval,
)
from tests.support.drafts import (
    ENCOUNTER,
    NOW,
    PATIENT,
    SOAP,
    amendment,
    full_items,
    make_draft,
    message,
    obs,
    task,
)
from tests.support.terms import plausible_cases

ALL = WritePermissions.allowing(
    "DocumentReference", "Observation", "Task", "Communication", "Composition", "Provenance"
)


def check(draft: object, **kw: object) -> ValidationReport:
    args: dict[str, object] = {"template": SOAP, "write_permissions": ALL, "now": NOW}
    args.update(kw)
    return validate_for_approval(draft, PATIENT, ENCOUNTER, **args)  # type: ignore[arg-type]


def paths(report: ValidationReport, severity: Severity = Severity.ERROR) -> list[str]:
    return [p.field_path for p in report.problems if p.severity is severity]


def test_a_complete_draft_can_be_approved() -> None:
    report = check(make_draft(full_items()))
    assert report.problems == ()
    assert report.can_approve and report.blocking_reason is None
    assert report.destinations == (
        "DocumentReference",
        "Observation",
        "Composition",
        "Task",
        "Communication",
        "Provenance",
    )


def test_destinations_leave_out_optional_writes_that_are_not_permitted() -> None:
    perms = WritePermissions.allowing("DocumentReference", "Observation")
    report = check(make_draft((obs("o", "8867-4", "72", "/min"),)), write_permissions=perms)
    assert report.can_approve
    assert report.destinations == ("DocumentReference", "Observation")


# ----------------------------------------------------------------------------- narrative


def test_required_sections_must_have_text() -> None:
    report = check(make_draft(plan="  \n "))
    assert paths(report) == ["section:plan"]
    assert report.for_field("section:plan")[0].kind is ProblemKind.REQUIRED_SECTION
    assert not report.can_approve
    assert report.blocking_reason == "The Plan section is required; write it before approval."


def test_several_problems_are_counted_in_the_blocking_reason() -> None:
    report = check(make_draft(plan="", assessment=""))
    assert report.blocking_reason is not None
    assert report.blocking_reason.startswith("2 problems must be fixed before approval. First:")


def test_without_a_template_only_an_empty_note_blocks() -> None:
    assert check(make_draft(plan=""), template=None).can_approve
    empty = make_draft(subjective="", objective="", assessment="", plan="")
    report = check(empty, template=None)
    assert [p.kind for p in report.errors] == [ProblemKind.EMPTY_NOTE]
    assert paths(report) == ["draft"]


def test_amendment_template_requires_its_one_section() -> None:
    draft = amendment(text=" ")
    report = check(
        draft,
        template=AMENDMENT_TEMPLATE,
        amended_note_patient=PATIENT,
        amended_note_encounter=draft.encounter,
    )
    assert "section:note" in paths(report)


@pytest.mark.parametrize(
    "bad", ["\x00", "\x1b[31m", "\x7f", "\x85", "\ud800", "\ufffe", "\x0b"], ids=repr
)
def test_text_that_cannot_be_sanitized_is_blocked_next_to_its_section(bad: str) -> None:
    report = check(make_draft(subjective=f"Line one\nHeadache {bad} today"))
    [problem] = report.errors
    assert problem.field_path == "section:subjective"
    assert problem.kind is ProblemKind.UNSAFE_TEXT
    assert "line 2" in problem.message
    assert "Headache" not in problem.message  # messages never quote the note


def test_tabs_newlines_and_unicode_are_fine() -> None:
    assert check(make_draft(subjective="Fièvre\t38,5 °C\r\n– naïve café 🙂")).can_approve


def test_control_characters_in_title_and_items_are_blocked() -> None:
    draft = replace(
        make_draft((task(description="Call\x00back"), message(text="Hi\x07"))),
        title="Note\x1b",
    )
    assert paths(check(draft)) == ["draft:title", "item:task-1:description", "item:msg-1:text"]


def test_an_oversized_note_is_blocked() -> None:
    report = check(make_draft(subjective="x" * 1_000_001))
    assert ProblemKind.TEXT_TOO_LONG in {p.kind for p in report.errors}


def test_an_approved_draft_cannot_be_approved_again() -> None:
    draft = replace(make_draft(), status=DraftStatus.APPROVED)
    report = check(draft)
    assert [p.kind for p in report.errors] == [ProblemKind.NOT_EDITABLE]


# ----------------------------------------------------------------------------- observations


def test_loinc_check_digits_of_the_known_table() -> None:
    assert all(is_valid_loinc(code) for code in terminology().concepts)
    assert loinc_check_digit("11506") == 3
    assert not is_valid_loinc("8480-5")
    assert not is_valid_loinc("8480")
    assert not is_valid_loinc("84806")
    assert not is_valid_loinc("abc-1")


def test_an_invalid_loinc_code_is_an_error_on_the_code() -> None:
    report = check(make_draft((obs("o1", "8480-5", "120", "mm[Hg]"),)))
    assert paths(report) == ["item:o1:code"]
    assert report.errors[0].kind is ProblemKind.LOINC_FORMAT


def test_an_unknown_loinc_code_is_only_a_warning() -> None:
    report = check(make_draft((obs("o1", "11506-3", "12.5", "mg"),)))
    assert report.can_approve
    assert paths(report, Severity.WARNING) == ["item:o1:code"]
    assert report.warnings[0].kind is ProblemKind.UNKNOWN_CODE


def test_unknown_code_still_needs_a_ucum_looking_unit() -> None:
    report = check(make_draft((obs("o1", "11506-3", "12", "mm Hg"),)))
    assert paths(report) == ["item:o1:unit"]


def test_value_is_required() -> None:
    report = check(make_draft((obs("hr", "8867-4", None, "/min", "Heart rate"),)))
    assert paths(report) == ["item:hr:value"]
    assert report.errors[0].message == "Enter a value for Heart rate."


def test_unit_is_required() -> None:
    report = check(make_draft((obs("hr", "8867-4", "72", None),)))
    assert paths(report) == ["item:hr:unit"]


def test_a_unit_that_does_not_fit_the_code_is_an_error_naming_the_allowed_units() -> None:
    report = check(make_draft((obs("t", "8310-5", "37", "mm[Hg]"),)))
    assert paths(report) == ["item:t:unit"]
    assert "use °C or °F" in report.errors[0].message
    assert "(Cel)" not in report.errors[0].message


def test_temperature_in_the_wrong_unit_is_implausible() -> None:
    report = check(make_draft((obs("t", "8310-5", "98.6", "Cel"),)))
    assert paths(report) == ["item:t:value"]
    assert report.errors[0].kind is ProblemKind.VALUE_IMPLAUSIBLE
    assert check(make_draft((obs("t", "8310-5", "98.6", "[degF]"),))).problems == ()


def test_a_value_outside_the_usual_range_is_a_warning() -> None:
    report = check(make_draft((obs("s", "8480-6", "190", "mm[Hg]"),)))
    assert report.can_approve
    assert [p.kind for p in report.warnings] == [ProblemKind.VALUE_UNUSUAL]
    assert report.warnings[0].field_path == "item:s:value"


@pytest.mark.parametrize(("code", "unit", "low", "high"), plausible_cases())
def test_plausible_limits_per_code(code: str, unit: str, low: Decimal, high: Decimal) -> None:
    for value, ok in (
        (low, True),
        (high, True),
        (low - Decimal("0.01"), False),
        (high + abs(high) + 1, False),
    ):
        report = check(make_draft((obs("x", code, str(value), unit),)))
        implausible = [p for p in report.errors if p.kind is ProblemKind.VALUE_IMPLAUSIBLE]
        assert (not implausible) is ok, (code, unit, value)


def test_spo2_above_100_percent_is_impossible() -> None:
    assert not check(make_draft((obs("x", "59408-5", "101", "%"),))).can_approve


def test_too_many_decimal_places_are_blocked() -> None:
    report = check(make_draft((obs("x", "8867-4", "72.1234567", "/min"),)))
    assert paths(report) == ["item:x:value"]


def test_a_future_observation_time_is_blocked() -> None:
    item = replace(obs("x", "8867-4", "72", "/min"), effective=NOW + timedelta(hours=2))
    assert paths(check(make_draft((item,)))) == ["item:x:effective"]
    # a few minutes of clock skew are tolerated; without "now" the check is off
    item = replace(item, effective=NOW + timedelta(minutes=3))
    assert check(make_draft((item,))).can_approve
    assert check(
        make_draft((replace(item, effective=NOW + timedelta(days=9)),)), now=None
    ).can_approve


def test_a_naive_observation_time_is_blocked() -> None:
    item = replace(obs("x", "8867-4", "72", "/min"), effective=datetime(2025, 3, 10, 9, 0))
    assert paths(check(make_draft((item,)))) == ["item:x:effective"]


def test_diastolic_not_below_systolic_is_a_warning() -> None:
    items = (obs("s", "8480-6", "95", "mm[Hg]"), obs("d", "8462-4", "95", "mm[Hg]"))
    # 95 diastolic is also above the usual range: both findings, each next to its value
    report = check(make_draft(items))
    assert report.can_approve
    assert [(p.field_path, p.kind) for p in report.warnings] == [
        ("item:d:value", ProblemKind.VALUE_UNUSUAL),
        ("item:d:value", ProblemKind.INCONSISTENT_VALUES),
    ]


def test_problems_of_one_item_are_found_together() -> None:
    report = check(make_draft((obs("x", "8480-5", None, None), obs("y", "8867-4", "72", "/min"))))
    assert {p.field_path for p in report.for_item("x")} == {
        "item:x:code",
        "item:x:unit",
        "item:x:value",
    }
    assert report.for_item("y") == ()


# ----------------------------------------------------------------------------- tasks, messages


def test_a_task_needs_a_description_and_an_owner() -> None:
    report = check(make_draft((task(description=" ", owner=None),)))
    assert paths(report) == ["item:task-1:description", "item:task-1:owner"]


def test_a_task_owned_by_another_patient_is_blocked() -> None:
    report = check(make_draft((task(owner=Reference("Patient", "pat-2")),)))
    assert [p.kind for p in report.errors] == [ProblemKind.WRONG_PATIENT]


def test_a_message_needs_a_recipient_and_text() -> None:
    report = check(make_draft((message(recipient=None, text=""),)))
    assert paths(report) == ["item:msg-1:recipient", "item:msg-1:text"]


# ----------------------------------------------------------------------------- wrong patient


def test_a_draft_of_another_patient_is_blocked() -> None:
    draft = replace(make_draft(), patient=Reference("Patient", "pat-2"))
    report = check(draft)
    assert [p.kind for p in report.errors] == [ProblemKind.WRONG_PATIENT]
    assert paths(report) == ["draft"]
    assert "Patient/pat-2" in report.errors[0].message


def test_a_draft_of_another_encounter_is_blocked() -> None:
    draft = replace(make_draft(), encounter=Reference("Encounter", "enc-9"))
    assert [p.kind for p in check(draft).errors] == [ProblemKind.WRONG_ENCOUNTER]


def test_context_references_must_be_a_patient_and_an_encounter() -> None:
    report = validate_for_approval(
        make_draft(),
        Reference("Group", "pat-1"),
        Reference("EpisodeOfCare", "enc-1"),
        template=SOAP,
        write_permissions=ALL,
    )
    assert [p.kind for p in report.errors] == [
        ProblemKind.WRONG_PATIENT,
        ProblemKind.WRONG_ENCOUNTER,
    ]


def test_an_amendment_needs_the_amended_notes_patient() -> None:
    draft = amendment()
    kw = {"template": AMENDMENT_TEMPLATE, "amended_note_encounter": draft.encounter}
    missing = check(draft, **kw)
    assert [p.kind for p in missing.errors] == [ProblemKind.WRONG_PATIENT]
    other = check(draft, amended_note_patient=Reference("Patient", "pat-2"), **kw)
    assert [p.kind for p in other.errors] == [ProblemKind.WRONG_PATIENT]
    assert "docref-1" in other.errors[0].message
    assert check(draft, amended_note_patient=PATIENT, **kw).can_approve


def test_an_amendment_may_keep_the_amended_notes_encounter_only() -> None:
    draft = amendment()
    report = check(draft, template=AMENDMENT_TEMPLATE, amended_note_patient=PATIENT)
    assert [p.kind for p in report.errors] == [ProblemKind.WRONG_ENCOUNTER]


def test_only_document_references_can_be_amended() -> None:
    draft = amendment()
    draft = replace(draft, amends=replace(draft.amends, document=Reference("Composition", "c1")))
    report = check(
        draft,
        template=AMENDMENT_TEMPLATE,
        amended_note_patient=PATIENT,
        amended_note_encounter=draft.encounter,
    )
    assert [p.kind for p in report.errors] == [ProblemKind.AMENDMENT_TARGET]


# ----------------------------------------------------------------------------- permissions


def test_a_write_the_ehr_did_not_grant_is_named_with_the_reason() -> None:
    perms = WritePermissions(
        frozenset({"DocumentReference", "Observation", "Communication"}),
        {"Task": "the EHR did not grant Task write"},
    )
    report = check(make_draft(full_items()), write_permissions=perms)
    assert paths(report) == ["item:task-1"]
    assert report.blocking_reason == (
        "The EHR did not grant Task write, so the follow-up task cannot be filed; "
        "remove it or ask IT."
    )
    assert report.errors[0].kind is ProblemKind.WRITE_NOT_PERMITTED


def test_each_item_type_says_what_cannot_be_written() -> None:
    perms = WritePermissions.allowing("DocumentReference")
    report = check(make_draft(full_items()), write_permissions=perms)
    messages = {p.field_path: p.message for p in report.errors}
    assert "the Glucose observation cannot be recorded" in messages["item:obs-glu"]
    assert "the message to the care team cannot be sent" in messages["item:msg-1"]
    assert messages["item:task-1"].startswith("The EHR does not accept new Task resources")


def test_a_note_that_cannot_be_written_blocks_the_draft() -> None:
    perms = WritePermissions(
        frozenset(), {"DocumentReference": "the EHR did not grant DocumentReference write"}
    )
    report = check(make_draft(), write_permissions=perms)
    assert paths(report) == ["draft"]
    assert report.errors[0].message.startswith(
        "The EHR did not grant DocumentReference write, so the note cannot be filed"
    )


# ----------------------------------------------------------------------------- robustness


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(),
    code=st.text(max_size=12) | st.sampled_from(sorted(terminology().concepts)),
    value=st.none() | st.decimals(allow_nan=True, allow_infinity=True),
    unit=st.none() | st.text(max_size=10) | st.sampled_from(["mm[Hg]", "/min", "Cel", "%"]),
)
def test_any_content_gives_a_report_never_an_exception(
    text: str, code: str, value: Decimal | None, unit: str | None
) -> None:
    item = replace(obs("x", "8867-4", "1", "/min"), loinc_code=code, value=value, unit=unit)
    draft = replace(make_draft((item,)), sections=(NoteSection("plan", "Plan", text),))
    report = check(draft)
    assert isinstance(report.can_approve, bool)
    assert all(p.message.endswith(".") for p in report.problems)
