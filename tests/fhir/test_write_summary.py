"""Each write in plain words (app.fhir.write_summary), read from the frozen payloads."""

from __future__ import annotations

from app.domain.templates import AMENDMENT_TEMPLATE
from app.fhir.write_summary import describe_commit
from tests.fhir.test_mapping_out import commit_for
from tests.support.drafts import PATIENT, amendment, full_items, make_draft


def test_every_write_of_a_commit_is_described() -> None:
    lines = [
        (d.heading, d.text)
        for d in describe_commit(commit_for(make_draft(full_items()), "generic-r4"))
    ]
    assert lines == [
        ("Note", "Progress note, final, by Dr. Alex Chen, for this visit, as plain text."),
        ("Vital sign", "Systolic blood pressure: 128 mmHg at 2025-03-10 09:15 (vital signs)."),
        ("Vital sign", "Diastolic blood pressure: 82 mmHg at 2025-03-10 09:15 (vital signs)."),
        ("Lab result", "Glucose: 5.4 mmol/L at 2025-03-10 09:15 (laboratory)."),
        ("Structured note", "Progress note as a structured document, final, 4 sections."),
        (
            "Follow-up task",
            "“Recheck blood pressure in 2 weeks” for Clinic nurses, due 2025-03-24, requested, "
            "routine.",
        ),
        (
            "Message to the care team",
            "To Clinic nurses: “Please call the patient about the lab results.”",
        ),
        (
            "Approval record",
            "Records in the chart that Dr. Alex Chen approved these 7 entries, sent by "
            "fhir-writeback 0.1.0 on clinic-laptop-7.",
        ),
    ]
    technical = [
        d.technical for d in describe_commit(commit_for(make_draft(full_items()), "generic-r4"))
    ]
    assert technical[0] == "Note — FHIR DocumentReference"  # the FHIR detail, for IT


def test_an_amendment_says_what_it_replaces_and_xhtml_is_named() -> None:
    draft = amendment()
    commit = commit_for(
        draft,
        "oracle-like",
        template=AMENDMENT_TEMPLATE,
        amended_note_patient=PATIENT,
        amended_note_encounter=draft.encounter,
    )
    note = describe_commit(commit)[0].text
    assert note.endswith("replacing an earlier version of the note.")
    assert "as formatted text" in note
