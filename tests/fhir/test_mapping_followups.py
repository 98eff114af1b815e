"""Follow-ups as FHIR (app.fhir.mapping_out, app.fhir.corrections): an amendment or addendum
never writes the earlier note's items again; corrections are updates of the chart's records;
what a profile cannot update is stated in the note — and the commit is exactly the plan."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace

from fhir.resources.R4B import get_fhir_model_class

from app.domain.capabilities import parse_capabilities
from app.domain.commit import ApprovedCommit, WriteOperation
from app.domain.draft import Draft, FollowUpKind
from app.domain.review import decide
from app.domain.validation import validate_for_approval
from app.fhir.mapping_out import app_device_reference, build_commit
from app.fhir.permissions import WRITE_TYPES, write_permissions
from app.fhir.profiles import load_profile
from app.fhir.write_summary import describe_commit
from tests.support.drafts import APP, CLINICIAN, ENCOUNTER, NOW, PATIENT
from tests.support.followups import corrected_heart_rate, follow_up

CAPS = parse_capabilities(
    {
        "resourceType": "CapabilityStatement",
        "rest": [
            {
                "mode": "server",
                "interaction": [{"code": "transaction"}],
                "resource": [
                    {
                        "type": t,
                        "interaction": [{"code": c} for c in ("create", "update", "read")],
                        "versioning": "versioned-update",
                    }
                    for t in WRITE_TYPES
                ],
            }
        ],
    }
)


def commit_of(draft: Draft, profile_name: str = "generic-r4") -> ApprovedCommit:
    profile = load_profile(profile_name)
    perms = write_permissions(profile, CAPS, None)
    report = validate_for_approval(
        draft,
        PATIENT,
        ENCOUNTER,
        template=None,
        write_permissions=perms,
        amended_note_patient=PATIENT,
    )
    assert report.can_approve, report.problems
    decision = decide(draft, report, CLINICIAN, NOW, APP)
    return build_commit(draft, decision, profile, CAPS, app_device=app_device_reference(APP))


def types(commit: ApprovedCommit) -> list[str]:
    return [w.resource_type for w in commit.writes]


def note_text(commit: ApprovedCommit) -> str:
    data = commit.writes[0].payload()["content"][0]["attachment"]["data"]
    return base64.b64decode(data).decode()


def test_an_amendment_with_unchanged_items_writes_only_the_note() -> None:
    """The issue's bug: "New draft from this note" resent the heart rate. A follow-up whose
    items are as in the chart writes the note (and its Composition and Provenance) only."""
    commit = commit_of(follow_up().with_section_text("note", "Seen today. HR 92."))
    assert types(commit) == ["DocumentReference", "Composition", "Provenance"]
    doc = commit.writes[0].payload()
    assert doc["relatesTo"] == [
        {"code": "replaces", "target": {"reference": "DocumentReference/doc-5"}}
    ]
    prov = commit.writes[-1].payload()
    assert {"role": "revision", "what": {"reference": "DocumentReference/doc-5"}} in prov["entity"]


def test_a_corrected_observation_is_an_update_of_the_chart_record() -> None:
    commit = commit_of(corrected_heart_rate(follow_up()))
    [update] = [w for w in commit.writes if w.resource_type == "Observation"]
    assert update.operation is WriteOperation.UPDATE
    assert (update.target, update.if_match) == ("Observation/obs-96", "2")
    body = update.payload()
    assert body["valueQuantity"]["value"] == 92
    assert body["status"] == "corrected"
    assert "id" not in body and "meta" not in body
    # what the record held besides (another system's identifier, its time) is kept
    assert {"system": "urn:other-system", "value": "hr-elsewhere"} in body["identifier"]
    assert update.identifier.token in {f"{i['system']}|{i['value']}" for i in body["identifier"]}
    assert body["effectiveDateTime"] == "2025-03-10T09:15:00+00:00"
    get_fhir_model_class("Observation").model_validate({**body, "id": "obs-96"})
    prov = commit.writes[-1].payload()
    assert {"reference": "Observation/obs-96"} in prov["target"]  # the record, not a fullUrl
    described = {d.resource_type: d.text for d in describe_commit(commit)}
    # in clinical words; which record (Observation/obs-96) is in the FHIR detail for IT
    assert described["Observation"].startswith("Corrects the chart's vital sign in place")


def test_a_confirmed_removal_marks_the_record_entered_in_error() -> None:
    draft = follow_up().without_item("task-1").with_retraction("task-1")
    commit = commit_of(draft.with_section_text("note", "Task was entered in error."))
    [update] = [w for w in commit.writes if w.resource_type == "Task"]
    assert update.operation is WriteOperation.UPDATE and update.target == "Task/task-7"
    assert update.payload()["status"] == "entered-in-error"
    described = next(d.text for d in describe_commit(commit) if d.resource_type == "Task")
    assert described.startswith("Marks the chart's follow-up task as entered in error")


def test_epic_like_cannot_update_so_the_note_states_the_correction() -> None:
    commit = commit_of(corrected_heart_rate(follow_up()), "epic-like")
    assert types(commit) == ["DocumentReference"]
    text = note_text(commit)
    assert text.startswith("Seen today. HR 96.")
    assert "the EHR does not let this app change those records in place" in text
    assert text.endswith("- Heart rate 96 bpm → 92 bpm\n")


def test_an_addendum_of_a_queued_note_refers_to_its_writes_and_waits_for_it() -> None:
    pending = uuid.uuid4()
    draft = corrected_heart_rate(follow_up(FollowUpKind.ADDENDUM, pending=pending))
    draft = draft.with_section_text("addendum", "Heart rate recounted: 92.")
    commit = commit_of(draft, "oracle-like")
    assert commit.depends_on == (pending,)
    doc = commit.writes[0].payload()
    assert doc["relatesTo"] == [
        {"code": "appends", "target": {"reference": f"urn:uuid:{uuid.uuid5(pending, 'note')}"}}
    ]
    [update] = [w for w in commit.writes if w.is_update]
    assert update.target == f"urn:uuid:{uuid.uuid5(pending, 'item:hr')}"
    assert update.if_match is None  # the version the earlier commit records


def test_the_composition_relates_to_the_earlier_composition() -> None:
    draft = follow_up(FollowUpKind.ADDENDUM).with_section_text("addendum", "Seen again at 11.")
    assert draft.amends is not None
    draft = replace(draft, amends=replace(draft.amends, composition="Composition/comp-5"))
    commit = commit_of(draft)
    [comp] = [w.payload() for w in commit.writes if w.resource_type == "Composition"]
    assert comp["relatesTo"] == [
        {"code": "appends", "targetReference": {"reference": "Composition/comp-5"}}
    ]
    get_fhir_model_class("Composition").model_validate(comp)
