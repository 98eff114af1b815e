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
        (
            "Note (DocumentReference)",
            "Progress note, final, for Patient/pat-1, in Encounter/enc-1, by Dr. Alex Chen, "
            "as text (477 bytes).",
        ),
        (
            "Observation (Observation)",
            "Systolic blood pressure: 128 mmHg at 2025-03-10 09:15 UTC (vital signs).",
        ),
        (
            "Observation (Observation)",
            "Diastolic blood pressure: 82 mmHg at 2025-03-10 09:15 UTC (vital signs).",
        ),
        ("Observation (Observation)", "Glucose: 5.4 mmol/L at 2025-03-10 09:15 UTC (laboratory)."),
        ("Structured note (Composition)", "Progress note, final, 4 sections."),
        (
            "Follow-up task (Task)",
            "“Recheck blood pressure in 2 weeks” for Clinic nurses, due 2025-03-24, requested, "
            "routine.",
        ),
        (
            "Message to the care team (Communication)",
            "To Clinic nurses: “Please call the patient about the lab results.”",
        ),
        (
            "Provenance (Provenance)",
            "Records that Dr. Alex Chen approved these 7 records, sent by fhir-writeback 0.1.0 "
            "on clinic-laptop-7.",
        ),
    ]


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
    assert note.endswith("replaces DocumentReference/docref-1.")
    assert "as formatted text (XHTML)" in note
