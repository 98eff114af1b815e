"""The write-back mapping (app.fhir.mapping_out) per vendor profile, and a real round trip."""

from __future__ import annotations

import base64
import json
import uuid
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.capabilities import ServerCapabilities, parse_capabilities
from app.domain.clinical import Reference
from app.domain.commit import IDENTIFIER_SYSTEM, ApprovedCommit, CommitInvalid
from app.domain.draft import (
    Draft,
    DraftProvenance,
    DraftSource,
    Generator,
    NoteSection,
    ObservationItem,
    Priority,
    TaskStatus,
)
from app.domain.render import render_plain_text
from app.domain.review import ReviewDecision, decide
from app.domain.templates import AMENDMENT_TEMPLATE
from app.domain.validation import ProblemKind, validate_for_approval
from app.fhir.errors import FhirUnsupported
from app.fhir.mapping_out import (
    APP_DEVICE_SYSTEM,
    DRAFT_SHA256_SYSTEM,
    app_device_reference,
    build_commit,
)
from app.fhir.narrative import XHTML_NS
from app.fhir.permissions import WRITE_TYPES, write_permissions
from app.fhir.profiles import VendorProfile, load_profile
from app.sync.planner import WriteStrategy, plan_send
from app.sync.planner import capabilities_from as write_capabilities
from tests.fhir.conftest import access_token
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
    message,
    obs,
    reconciliation,
    symptom,
    task,
)
from tests.support.servers import RunningServer
from tests.support.terms import plausible_cases

DEVICE = app_device_reference(APP)


def statement(types: tuple[str, ...] = WRITE_TYPES, *, transaction: bool = True) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "rest": [
            {
                "mode": "server",
                "interaction": [{"code": "transaction"}] if transaction else [],
                "resource": [
                    {
                        "type": t,
                        "interaction": [{"code": "create"}, {"code": "search-type"}],
                        "conditionalCreate": True,
                        "searchParam": [{"name": "identifier", "type": "token"}],
                    }
                    for t in types
                ],
            }
        ],
    }


EVERYTHING = parse_capabilities(statement())


def approve(
    draft: Draft,
    profile: VendorProfile,
    caps: ServerCapabilities = EVERYTHING,
    *,
    scopes: tuple[str, ...] | None = None,
    **kw: Any,
) -> ReviewDecision:
    perms = write_permissions(profile, caps, scopes)
    report = validate_for_approval(
        draft, PATIENT, ENCOUNTER, template=kw.pop("template", SOAP), write_permissions=perms, **kw
    )
    assert report.can_approve, report.problems
    return decide(draft, report, CLINICIAN, NOW, APP)


def commit_for(
    draft: Draft, profile_name: str, caps: ServerCapabilities = EVERYTHING, **kw: Any
) -> ApprovedCommit:
    profile = load_profile(profile_name)
    decision = approve(draft, profile, caps, **kw)
    return build_commit(draft, decision, profile, caps, app_device=DEVICE)


def assert_valid_r4(commit: ApprovedCommit) -> None:
    for w in commit.writes:
        get_fhir_model_class(w.resource_type).model_validate(w.payload())


def by_type(commit: ApprovedCommit, resource_type: str) -> list[dict[str, Any]]:
    return [w.payload() for w in commit.writes if w.resource_type == resource_type]


def attachment_bytes(doc: dict[str, Any]) -> bytes:
    return base64.b64decode(doc["content"][0]["attachment"]["data"])


# ----------------------------------------------------------------------------- generic-r4


def test_generic_r4_writes_everything_in_dependency_order() -> None:
    commit = commit_for(make_draft(full_items()), "generic-r4")
    assert [w.resource_type for w in commit.writes] == [
        "DocumentReference",
        "Observation",
        "Observation",
        "Observation",
        "Composition",
        "Task",
        "Communication",
        "Provenance",
    ]
    assert_valid_r4(commit)
    note_urn = commit.writes[0].full_url
    [task_res] = by_type(commit, "Task")
    [comm] = by_type(commit, "Communication")
    [prov] = by_type(commit, "Provenance")
    assert task_res["focus"] == {"reference": note_urn}
    assert comm["about"] == [{"reference": note_urn}]
    assert [t["reference"] for t in prov["target"]] == [w.full_url for w in commit.writes[:-1]]
    assert commit.writes[-1].depends_on == tuple(range(len(commit.writes) - 1))


def test_the_note_as_a_us_core_document_reference() -> None:
    draft = make_draft(full_items())
    commit = commit_for(draft, "generic-r4")
    [doc] = by_type(commit, "DocumentReference")
    business = {"system": IDENTIFIER_SYSTEM, "value": str(commit.commit_id)}
    assert business in doc["identifier"]
    assert {"system": IDENTIFIER_SYSTEM, "value": f"{commit.commit_id}.0"} in doc["identifier"]
    assert doc["status"] == "current" and doc["docStatus"] == "final"
    assert doc["type"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "11506-3",
        "display": "Progress note",
    }
    assert doc["category"][0]["coding"][0]["code"] == "clinical-note"
    assert doc["subject"] == {"reference": "Patient/pat-1"}
    assert doc["context"]["encounter"] == [{"reference": "Encounter/enc-1"}]
    assert doc["author"] == [{"reference": "Practitioner/prac-1", "display": "Dr. Alex Chen"}]
    assert doc["date"] == "2025-03-10T10:30:00+00:00"
    attachment = doc["content"][0]["attachment"]
    assert attachment["contentType"] == "text/plain; charset=utf-8"
    assert attachment_bytes(doc).decode("utf-8") == render_plain_text(draft)
    assert attachment["size"] == len(attachment_bytes(doc))
    assert "relatesTo" not in doc


def test_context_period_comes_from_the_encounter() -> None:
    draft = make_draft()
    profile = load_profile("generic-r4")
    start = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    commit = build_commit(
        draft,
        approve(draft, profile),
        profile,
        EVERYTHING,
        app_device=DEVICE,
        encounter_period=(start, None),
    )
    doc = commit.writes[0].payload()
    assert doc["context"]["period"] == {"start": "2025-03-10T09:00:00+00:00"}


def test_observations_carry_loinc_ucum_and_category() -> None:
    items = (
        obs("hr", "8867-4", "72", "/min", "Heart rate"),
        obs("glu", "2339-0", "5.4", "mmol/L", "Glucose"),
        obs("odd", "11506-3", "3", "mg", "Something"),
    )
    commit = commit_for(make_draft(items), "generic-r4")
    hr, glu, odd = by_type(commit, "Observation")
    assert hr["status"] == "final"
    assert hr["code"]["coding"] == [
        {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}
    ]
    assert hr["category"][0]["coding"][0]["code"] == "vital-signs"
    assert glu["category"][0]["coding"][0]["code"] == "laboratory"
    assert "category" not in odd  # unknown code: no guessed category
    assert hr["code"]["text"] == "Heart rate"
    assert hr["valueQuantity"] == {
        "value": 72,
        "unit": "bpm",  # as clinicians write it; the UCUM code stays /min
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    assert glu["valueQuantity"]["value"] == 5.4
    assert hr["subject"] == {"reference": "Patient/pat-1"}
    assert hr["encounter"] == {"reference": "Encounter/enc-1"}
    assert hr["effectiveDateTime"] == "2025-03-10T09:15:00+00:00"
    assert hr["performer"] == [{"reference": "Practitioner/prac-1", "display": "Dr. Alex Chen"}]
    assert {"system": IDENTIFIER_SYSTEM, "value": f"{commit.commit_id}.1"} in hr["identifier"]


def test_task_and_communication_fields() -> None:
    items = (
        task(status=TaskStatus.REQUESTED, priority=Priority.URGENT, due=date(2025, 3, 24)),
        message(priority=Priority.ASAP),
    )
    commit = commit_for(make_draft(items), "generic-r4")
    [t] = by_type(commit, "Task")
    assert (t["status"], t["intent"], t["priority"]) == ("requested", "order", "urgent")
    assert t["description"] == "Recheck blood pressure in 2 weeks"
    assert t["for"] == {"reference": "Patient/pat-1"}
    assert t["owner"] == {"reference": "CareTeam/team-1", "display": "Clinic nurses"}
    assert t["executionPeriod"] == {"end": "2025-03-24"}
    assert t["requester"]["reference"] == "Practitioner/prac-1"
    assert t["authoredOn"] == "2025-03-10T10:30:00+00:00"
    [c] = by_type(commit, "Communication")
    assert c["status"] == "completed" and c["priority"] == "asap"
    assert c["recipient"] == [{"reference": "CareTeam/team-1", "display": "Clinic nurses"}]
    assert c["sender"]["reference"] == "Practitioner/prac-1"
    assert c["payload"] == [{"contentString": "Please call the patient about the lab results."}]


def test_composition_has_one_section_per_written_section() -> None:
    commit = commit_for(make_draft(objective=""), "generic-r4")
    [comp] = by_type(commit, "Composition")
    assert [s["title"] for s in comp["section"]] == ["Subjective", "Assessment", "Plan"]
    div = comp["section"][0]["text"]["div"]
    assert div == f'<div xmlns="{XHTML_NS}"><p>Headache for 3 days.</p></div>'
    assert comp["status"] == "final"
    assert comp["attester"][0]["party"]["reference"] == "Practitioner/prac-1"
    assert comp["encounter"] == {"reference": "Encounter/enc-1"}


def test_composition_only_where_the_server_declares_it() -> None:
    caps = parse_capabilities(statement(tuple(t for t in WRITE_TYPES if t != "Composition")))
    commit = commit_for(make_draft(), "generic-r4", caps)
    assert [w.resource_type for w in commit.writes] == ["DocumentReference", "Provenance"]


def test_provenance_agents_and_entities() -> None:
    draft = replace(
        make_draft(source=DraftSource.IMPORTED),
        provenance=DraftProvenance(
            DraftSource.IMPORTED, Generator("scribe-ai", "2.1"), import_sha256="ab" * 32
        ),
    )
    commit = commit_for(draft, "generic-r4")
    [prov] = by_type(commit, "Provenance")
    author, assembler = prov["agent"]
    assert author["type"]["coding"][0]["code"] == "author"
    assert author["who"]["reference"] == "Practitioner/prac-1"
    assert assembler["type"]["coding"][0]["code"] == "assembler"
    assert assembler["who"]["identifier"] == {
        "system": APP_DEVICE_SYSTEM,
        "value": "fhir-writeback/0.1.0@clinic-laptop-7",
    }
    assert assembler["onBehalfOf"]["reference"] == "Practitioner/prac-1"
    assert prov["recorded"] == "2025-03-10T10:30:00+00:00"
    assert prov["entity"] == [
        {"role": "source", "what": {"reference": "Encounter/enc-1"}},
        {
            "role": "derivation",
            "what": {
                "identifier": {"system": DRAFT_SHA256_SYSTEM, "value": "ab" * 32},
                "display": "Draft imported from scribe-ai 2.1",
            },
        },
    ]
    # Provenance has no identifier element: the write key is a meta.tag, found by _tag
    assert prov["meta"]["tag"] == [
        {"system": IDENTIFIER_SYSTEM, "code": f"{commit.commit_id}.{len(commit.writes) - 1}"}
    ]
    assert commit.writes[-1].if_none_exist.startswith(f"_tag={IDENTIFIER_SYSTEM}|")


def test_app_device_may_be_a_device_record() -> None:
    draft = make_draft()
    profile = load_profile("generic-r4")
    device = Reference("Device", "dev-7", "fhir-writeback on clinic-laptop-7")
    commit = build_commit(draft, approve(draft, profile), profile, EVERYTHING, app_device=device)
    [prov] = by_type(commit, "Provenance")
    assert prov["agent"][1]["who"] == {
        "reference": "Device/dev-7",
        "display": "fhir-writeback on clinic-laptop-7",
    }


def test_an_amendment_replaces_the_amended_note() -> None:
    draft = amendment()
    commit = commit_for(
        draft,
        "generic-r4",
        template=AMENDMENT_TEMPLATE,
        amended_note_patient=PATIENT,
        amended_note_encounter=draft.encounter,
    )
    doc = commit.writes[0].payload()
    assert doc["relatesTo"] == [
        {"code": "replaces", "target": {"reference": "DocumentReference/docref-1"}}
    ]
    assert attachment_bytes(doc).decode() == "Corrected: BP 138/86."
    [prov] = by_type(commit, "Provenance")
    assert prov["activity"]["coding"][0]["code"] == "UPDATE"
    assert {"role": "revision", "what": {"reference": "DocumentReference/docref-1"}} in prov[
        "entity"
    ]
    assert_valid_r4(commit)


def test_building_twice_gives_the_same_identities_and_hashes() -> None:
    draft = make_draft(full_items())
    profile = load_profile("generic-r4")
    decision = approve(draft, profile)
    a = build_commit(draft, decision, profile, EVERYTHING, app_device=DEVICE)
    b = build_commit(draft, decision, profile, EVERYTHING, app_device=DEVICE)
    assert a == b
    assert a.commit_id == decision.decision_id
    assert a.writes[0].if_none_exist == (f"identifier={IDENTIFIER_SYSTEM}|{decision.decision_id}.0")
    assert a.verify()


# ----------------------------------------------------------------------------- other profiles


def test_epic_like_writes_the_note_only_as_text_plain() -> None:
    draft = make_draft()
    commit = commit_for(draft, "epic-like")
    assert [w.resource_type for w in commit.writes] == ["DocumentReference"]
    doc = commit.writes[0].payload()
    assert doc["content"][0]["attachment"]["contentType"] == "text/plain; charset=utf-8"
    assert doc["docStatus"] == "final"
    assert_valid_r4(commit)


def test_epic_like_blocks_items_it_cannot_write_before_approval() -> None:
    profile = load_profile("epic-like")
    perms = write_permissions(profile, EVERYTHING, None)
    report = validate_for_approval(
        make_draft(full_items()), PATIENT, ENCOUNTER, template=SOAP, write_permissions=perms
    )
    blocked = {p.field_path: p.message for p in report.of_kind(ProblemKind.WRITE_NOT_PERMITTED)}
    assert set(blocked) == {
        "item:obs-sys",
        "item:obs-dia",
        "item:obs-glu",
        "item:task-1",
        "item:msg-1",
    }
    assert blocked["item:task-1"] == (
        "The Epic-like EHR profile does not allow writing Task, so the follow-up task cannot "
        "be filed; remove it or ask IT."
    )


def test_oracle_like_writes_a_sanitized_xhtml_attachment() -> None:
    draft = make_draft(full_items(), plan="Ibuprofen <script>alert(1)</script> & rest")
    commit = commit_for(draft, "oracle-like")
    assert [w.resource_type for w in commit.writes] == [
        "DocumentReference",
        "Observation",
        "Observation",
        "Observation",
        "Task",
        "Communication",
        "Provenance",
    ]
    doc = commit.writes[0].payload()
    assert doc["docStatus"] == "final"
    assert doc["content"][0]["attachment"]["contentType"] == "application/xhtml+xml"
    xhtml = attachment_bytes(doc).decode("utf-8")
    root = ET.fromstring(xhtml)
    assert root.tag == f"{{{XHTML_NS}}}div"
    assert "<script>" not in xhtml and "&lt;script&gt;" in xhtml  # the text, escaped
    assert [h.text for h in root.iter(f"{{{XHTML_NS}}}h3")] == [
        "Subjective",
        "Objective",
        "Assessment",
        "Plan",
    ]
    assert_valid_r4(commit)


def test_a_type_the_profile_cannot_write_is_refused_even_if_the_decision_lists_it() -> None:
    draft = make_draft((task(),))
    decision = approve(draft, load_profile("generic-r4"))
    with pytest.raises(FhirUnsupported, match="Epic-like EHR profile does not allow writing"):
        build_commit(draft, decision, load_profile("epic-like"), EVERYTHING, app_device=DEVICE)
    no_tasks = parse_capabilities(statement(("DocumentReference", "Composition", "Provenance")))
    with pytest.raises(FhirUnsupported, match="accepts new Task"):
        build_commit(draft, decision, load_profile("generic-r4"), no_tasks, app_device=DEVICE)


def test_a_decision_for_other_content_is_refused() -> None:
    draft = make_draft((task(),))
    profile = load_profile("generic-r4")
    decision = approve(draft, profile)
    with pytest.raises(CommitInvalid, match="other content"):
        build_commit(
            draft.with_section_text("plan", "x"), decision, profile, EVERYTHING, app_device=DEVICE
        )
    with pytest.raises(CommitInvalid, match="decision lists"):
        build_commit(
            draft,
            replace(decision, destination_types=("DocumentReference",)),
            profile,
            EVERYTHING,
            app_device=DEVICE,
        )


# ----------------------------------------------------------------------------- permissions


def test_write_permissions_name_the_reason_per_type() -> None:
    caps = parse_capabilities(statement(("DocumentReference", "Observation", "Task", "Provenance")))
    scopes = ("openid", "user/DocumentReference.cru", "user/Observation.write", "user/Task.rs")
    perms = write_permissions(load_profile("oracle-like"), caps, scopes)
    assert perms.creatable == {"DocumentReference", "Observation"}
    assert perms.why_not("Task") == "the EHR did not grant Task write"
    assert perms.why_not("Composition") == (
        "the Oracle Health (Cerner)-like EHR profile does not allow writing Composition"
    )
    assert perms.why_not("Communication") == (
        "the EHR does not declare that it accepts new Communication resources"
    )
    assert write_permissions(load_profile("generic-r4"), EVERYTHING, None).creatable == set(
        WRITE_TYPES
    )


# ----------------------------------------------------------------------------- any content

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n\t <>&\"'"),
    max_size=200,
)
_PLAUSIBLE = plausible_cases()


@st.composite
def _observation(draw: st.DrawFn, i: int) -> ObservationItem:
    code, unit, low, high = draw(st.sampled_from(_PLAUSIBLE))
    value = draw(st.decimals(min_value=low, max_value=high, places=2))
    return obs(f"o{i}", code, str(value), unit, draw(_TEXT))


def _text_or_x(text: str) -> str:
    return text if text.strip() else "x"


_ITEMS = st.lists(
    st.integers(0, 10_000).flatmap(
        lambda i: st.one_of(
            _observation(i),
            st.builds(
                lambda d, s, p: task(f"t{i}", description=_text_or_x(d), status=s, priority=p),
                _TEXT,
                st.sampled_from(list(TaskStatus)),
                st.sampled_from(list(Priority)),
            ),
            st.builds(lambda t: message(f"m{i}", text=_text_or_x(t)), _TEXT),
        )
    ),
    max_size=5,
    unique_by=lambda i: i.item_id,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(_TEXT, min_size=4, max_size=4).map(lambda t: [_text_or_x(t[0]), *t[1:]]),
    title=_TEXT,
    items=_ITEMS,
    profile_name=st.sampled_from(["generic-r4", "oracle-like", "epic-like"]),
)
def test_any_approvable_draft_maps_to_valid_r4_resources(
    texts: list[str], title: str, items: list[Any], profile_name: str
) -> None:
    keys = ("subjective", "objective", "assessment", "plan")
    draft = replace(
        make_draft(tuple(items)),
        title=title,
        sections=tuple(NoteSection(k, k.title(), t) for k, t in zip(keys, texts, strict=True)),
    )
    profile = load_profile(profile_name)
    if profile_name == "epic-like":  # it cannot take items: validation blocks them (tested above)
        draft = replace(draft, items=())
    perms = write_permissions(profile, EVERYTHING, None)
    report = validate_for_approval(
        draft, PATIENT, ENCOUNTER, template=None, write_permissions=perms
    )
    assert report.can_approve, report.errors
    decision = decide(draft, report, CLINICIAN, NOW, APP)
    commit = build_commit(draft, decision, profile, EVERYTHING, app_device=DEVICE)
    assert_valid_r4(commit)
    assert set(decision.destination_types) == commit.resource_types


# ----------------------------------------------------------------------------- real servers

SCOPES = ("openid", "fhirUser", "launch/patient", "user/*.cruds")
FHIR_HEADERS = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}


def count_matches(http: httpx.Client, resource_type: str, param: tuple[str, str]) -> int:
    r = http.get(resource_type, params=[param])
    assert r.status_code == 200, r.text[:500]
    return sum(
        1 for e in r.json().get("entry", []) if e.get("search", {}).get("mode", "match") == "match"
    )


def test_a_generic_r4_transaction_lands_exactly_once(ehr: RunningServer) -> None:
    """build_commit -> planner transaction -> POST twice: every entry 201 the first time, and
    the replay creates nothing new (ifNoneExist), counted by identifier."""
    headers = {**FHIR_HEADERS, "Authorization": f"Bearer {access_token(ehr)}"}
    colleague = Reference("Practitioner", "prac-2", "Dr. Colleague")
    draft = replace(
        make_draft(
            (
                # one item of every kind: 8 entries with the note, Composition and Provenance,
                # the most the peer EHR (Medplum) takes in one conditional transaction
                obs("hr", "8867-4", "72", "/min", "Heart rate"),
                task(owner=colleague),
                message(recipient=colleague),
                reconciliation(),
                symptom(),
            )
        ),
        id=uuid.uuid4(),
    )
    with httpx.Client(
        base_url=ehr.fhir_base.rstrip("/") + "/", headers=headers, timeout=30
    ) as http:
        cs = http.get("metadata").json()
        profile = load_profile("generic-r4")
        caps = parse_capabilities(cs)
        decision = approve(draft, profile, caps, scopes=SCOPES)
        commit = build_commit(draft, decision, profile, caps, app_device=DEVICE)
        assert commit.resource_types == set(WRITE_TYPES)
        plan = plan_send(commit, write_capabilities(cs, profile))
        assert plan.strategy is WriteStrategy.TRANSACTION_IF_NONE_EXIST
        [request] = plan.requests
        bodies = json.loads(request.body)["entry"]
        assert all("ifNoneExist" in e["request"] for e in bodies)

        first = http.post("", content=request.body, headers=dict(request.headers))
        assert first.status_code == 200, first.text[:2000]
        statuses = [e["response"]["status"] for e in first.json()["entry"]]
        assert all(s.startswith("201") for s in statuses), statuses
        counts = {
            w.position: count_matches(http, w.resource_type, w.search_param) for w in commit.writes
        }
        assert set(counts.values()) == {1}, counts

        replay = http.post("", content=request.body, headers=dict(request.headers))
        assert replay.status_code == 200, replay.text[:2000]
        statuses = [e["response"]["status"] for e in replay.json()["entry"]]
        assert not any(s.startswith("201") for s in statuses), statuses
        again = {
            w.position: count_matches(http, w.resource_type, w.search_param) for w in commit.writes
        }
        assert again == counts
        business = ("identifier", f"{IDENTIFIER_SYSTEM}|{commit.commit_id}")
        assert count_matches(http, "DocumentReference", business) == 1
