"""The context loader against a scripted server (httpx.MockTransport): the messy cases real
EHRs produce that the two test EHRs do not (no batch, refused searches, wrong-patient data,
R5 shapes, warnings in the Bundle)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from app.fhir.client import FhirClient
from app.fhir.context_loader import load_encounter_context
from app.fhir.errors import EncounterPatientMismatch, FhirUnexpectedResponse

BASE = "https://ehr.example/fhir"


def capability(batch: bool) -> dict[str, Any]:
    def res(t: str, params: list[str], includes: list[str] | None = None) -> dict[str, Any]:
        return {
            "type": t,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": p} for p in params],
            "searchInclude": includes or [],
        }

    return {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "rest": [
            {
                "mode": "server",
                "interaction": [{"code": "batch"}] if batch else [],
                "resource": [
                    res("Patient", ["name"]),
                    res("Encounter", ["patient"]),
                    res("Condition", ["patient"]),  # no clinical-status: filtered client-side
                    res(
                        "MedicationRequest", ["subject", "status"], ["MedicationRequest:medication"]
                    ),
                    res("AllergyIntolerance", ["patient"]),
                    res("Observation", ["patient", "category", "date"]),
                    res("DocumentReference", ["patient", "date"]),
                    res("Composition", ["patient"]),
                ],
            }
        ],
    }


def bundle(
    *resources: dict[str, Any],
    included: tuple[dict[str, Any], ...] = (),
    outcome: str | None = None,
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {"resource": r, "search": {"mode": "match"}} for r in resources
    ]
    entries += [{"resource": r, "search": {"mode": "include"}} for r in included]
    if outcome:
        entries.append(
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {"severity": "warning", "code": "informational", "diagnostics": outcome}
                    ],
                },
                "search": {"mode": "outcome"},
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": entries,
    }


PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "name": [{"text": "Test Person"}],
    "birthDate": "1980-01-01",
}
ENCOUNTER_R5 = {
    "resourceType": "Encounter",
    "id": "e1",
    "status": "in-progress",
    "class": [{"coding": [{"code": "VR", "display": "virtual"}]}],
    "subject": {"reference": "Patient/p1"},
}


def condition(cid: str, status: str, patient: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [{"code": status}]},
        "code": {"text": f"Problem {cid}"},
        "subject": {"reference": f"Patient/{patient}"},
    }


class Server:
    def __init__(self, *, batch: bool, encounter: dict[str, Any] = ENCOUNTER_R5) -> None:
        self.batch = batch
        self.encounter = encounter
        self.seen: list[str] = []

    def search(self, rtype: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        assert params.get("patient", params.get("subject", "")).startswith("Patient/"), params
        if rtype == "Condition":
            assert "clinical-status" not in params  # not declared: must not be sent
            return 200, bundle(
                condition("c-active", "active"),
                condition("c-resolved", "resolved"),
                condition("c-other", "active", patient="p2"),  # wrong patient: skipped
                {
                    "resourceType": "Condition",
                    "id": "c-nocode",
                    "subject": {"reference": "Patient/p1"},
                },
                outcome="clinical-status parameter ignored",
            )
        if rtype == "MedicationRequest":
            assert params.get("_include") == "MedicationRequest:medication"
            return 200, bundle(
                {
                    "resourceType": "MedicationRequest",
                    "id": "m1",
                    "status": "active",
                    "intent": "order",
                    "subject": {"reference": "Patient/p1"},
                    "medicationReference": {"reference": "Medication/med1"},
                },
                included=(
                    {
                        "resourceType": "Medication",
                        "id": "med1",
                        "code": {"text": "Amlodipine 5 mg"},
                    },
                ),
            )
        if rtype == "AllergyIntolerance":
            return 403, {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "error",
                        "code": "forbidden",
                        "diagnostics": "scope lacks AllergyIntolerance.s",
                    }
                ],
            }
        if rtype == "Observation":
            return 200, bundle(
                {
                    "resourceType": "Observation",
                    "id": f"o-{params['category']}",
                    "status": "final",
                    "code": {"text": "Something"},
                    "subject": {"reference": "Patient/p1"},
                    "valueQuantity": {"value": 5, "unit": "mg/dL"},
                }
            )
        if rtype == "DocumentReference":
            return 200, bundle()
        if rtype == "Composition":
            return 200, bundle(
                {
                    "resourceType": "Composition",
                    "id": "comp1",
                    "status": "final",
                    "type": {"text": "Discharge summary"},
                    "subject": {"reference": "Patient/p1"},
                    "date": "2025-01-01",
                    "author": [{"display": "Dr. X"}],
                    "title": "Discharge",
                    "section": [{"title": "Course", "text": {"div": "<div>Fine</div>"}}],
                }
            )
        if rtype == "Encounter":
            return 200, bundle(self.encounter)
        raise AssertionError(rtype)

    def get(self, path: str, query: str) -> tuple[int, dict[str, Any]]:
        params = dict(parse_qsl(query))
        if path == "metadata":
            return 200, capability(self.batch)
        if path == "Patient/p1":
            return 200, PATIENT
        if path == "Encounter/e1":
            return 200, self.encounter
        return self.search(path, params)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/fhir").strip("/")
        self.seen.append(f"{request.method} {path}")
        if request.method == "POST" and path == "":
            sent = json.loads(request.content)
            entries = []
            for e in sent["entry"]:
                p, _, q = e["request"]["url"].partition("?")
                status, body = self.get(p, q)
                entries.append({"resource": body, "response": {"status": f"{status} X"}})
            return httpx.Response(
                200, json={"resourceType": "Bundle", "type": "batch-response", "entry": entries}
            )
        status, body = self.get(path, request.url.query.decode())
        return httpx.Response(status, json=body)


async def load(server: Server, patient: str = "p1", encounter: str = "e1") -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        return await load_encounter_context(FhirClient(http, BASE), patient, encounter)


@pytest.mark.parametrize("batch", [True, False])
async def test_messy_server(batch: bool) -> None:
    server = Server(batch=batch)
    ctx = await load(server)
    assert ctx.encounter.class_display == "virtual"  # R5 shape read leniently
    assert [p.id for p in ctx.problems.items] == ["c-active"]  # resolved filtered client-side
    reasons = {s.id: s.reason for s in ctx.problems.skipped}
    assert reasons["c-other"] == "it belongs to another patient"
    assert "no code or text" in reasons["c-nocode"]
    # issue 14 item 6: the EHR's words as a quoted, punctuated clause
    assert "The EHR noted: “clinical-status parameter ignored”." in ctx.problems.warnings
    assert [m.display for m in ctx.medications.items] == ["Amlodipine 5 mg"]  # via _include
    assert (
        ctx.allergies.error is not None
        and "scope lacks AllergyIntolerance.s" in ctx.allergies.error
    )
    assert ctx.allergies.items == ()
    assert [n.type_display for n in ctx.notes.items] == ["Discharge summary"]  # Composition
    assert [v.id for v in ctx.vitals.items] == ["o-vital-signs"]
    if batch:
        assert server.seen == ["GET metadata", "POST ", "POST "]  # the banner's, the sections'
    else:
        assert "POST " not in server.seen and len(server.seen) == 10


async def test_encounter_of_another_patient() -> None:
    server = Server(batch=True, encounter={**ENCOUNTER_R5, "subject": {"reference": "Patient/p2"}})
    with pytest.raises(EncounterPatientMismatch):
        await load(server)


@pytest.mark.parametrize(
    ("subject", "words"),
    [
        (None, "does not say which patient it belongs to"),
        ({"display": "p1"}, "does not say which patient it belongs to"),
        ({"reference": "#pat"}, "does not say which patient it belongs to"),
        ({"reference": "https://elsewhere.example/fhir/Patient/p1"}, "on another server"),
        ({"reference": "Group/g1"}, "something other than a patient"),
    ],
)
async def test_wrong_patient_risks_are_refused(subject: Any, words: str) -> None:
    encounter = {k: v for k, v in ENCOUNTER_R5.items() if k != "subject"}
    if subject is not None:
        encounter["subject"] = subject
    with pytest.raises(EncounterPatientMismatch) as exc:
        await load(Server(batch=True, encounter=encounter))
    assert words in exc.value.user_message and "Nothing was loaded" in exc.value.user_message


async def test_an_absolute_reference_to_this_base_is_the_patients() -> None:
    subject = {"reference": "HTTPS://EHR.example:443/fhir/Patient/p1"}  # = BASE
    ctx = await load(Server(batch=True, encounter={**ENCOUNTER_R5, "subject": subject}))
    assert ctx.patient.id == "p1"


async def test_patient_id_must_match() -> None:
    server = Server(batch=False)
    original = server.get

    def swapped(path: str, query: str) -> tuple[int, dict[str, Any]]:
        status, body = original(path, query)
        return (status, {**body, "id": "someone-else"}) if path == "Patient/p1" else (status, body)

    server.get = swapped  # type: ignore[method-assign]
    with pytest.raises(FhirUnexpectedResponse):
        await load(server)
