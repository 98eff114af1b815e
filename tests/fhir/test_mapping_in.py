"""FHIR -> domain mapping from raw JSON: R4/R4B/R5 shapes, contained and included resources,
unknown extensions, missing optional fields, and malformed content (skipped with a reason)."""

from __future__ import annotations

import base64
import contextlib
import copy
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.clinical import AdministrativeSex, EncounterStatus, MeasurementKind, ProblemStatus
from app.fhir.errors import FhirMappingError
from app.fhir.fhir_reading import (
    References,
    conformance_problem,
    guarded,
    parse_date,
    parse_instant,
)
from app.fhir.mapping_in import (
    map_allergy,
    map_composition,
    map_condition,
    map_document_reference,
    map_encounter,
    map_medication_request,
    map_observation,
    map_patient,
)

EXT = [{"url": "http://vendor.example/fhir/ext/whatever", "valueString": "x"}]

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "pat-1",
    "extension": EXT,
    "identifier": [
        {"system": "urn:oid:1.2.3", "value": "SSN-LIKE"},
        {
            "type": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                ]
            },
            "system": "http://hospital/mrn",
            "value": "MRN-1001",
        },
    ],
    "name": [
        {"use": "nickname", "given": ["Mari"]},
        {"use": "official", "family": "Garcia", "given": ["Maria", "Elena"]},
    ],
    "gender": "female",
    "birthDate": "1968-04-12",
}


def test_patient_banner_fields() -> None:
    p = map_patient(PATIENT)
    assert (p.name, p.family, p.given) == ("Maria Elena Garcia", "Garcia", ("Maria", "Elena"))
    assert p.birth_date == date(1968, 4, 12)
    assert p.sex is AdministrativeSex.FEMALE
    assert p.mrn == "MRN-1001"
    assert map_patient(PATIENT, mrn_system="urn:oid:1.2.3").mrn == "SSN-LIKE"
    assert conformance_problem(PATIENT) is None


def test_patient_with_almost_nothing() -> None:
    p = map_patient({"resourceType": "Patient", "id": "x"})
    assert p.name == "(no name recorded)" and p.birth_date is None and p.mrn is None
    assert p.sex is AdministrativeSex.UNKNOWN
    assert map_patient(
        {"resourceType": "Patient", "id": "y", "birthDate": "1970"}
    ).birth_date == date(1970, 1, 1)


def test_patient_without_id_is_refused() -> None:
    with pytest.raises(FhirMappingError, match="no usable id"):
        map_patient({"resourceType": "Patient"})


ENCOUNTER_R4: dict[str, Any] = {
    "resourceType": "Encounter",
    "id": "enc-1",
    "status": "in-progress",
    "class": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "AMB",
        "display": "ambulatory",
    },
    "type": [{"text": "Follow-up"}],
    "subject": {"reference": "Patient/pat-1"},
    "participant": [
        {
            "type": [{"text": "primary performer"}],
            "individual": {"reference": "Practitioner/prac-1"},
        }
    ],
    "location": [{"location": {"reference": "Location/loc-1"}}],
    "period": {"start": "2025-03-10T10:00:00+01:00"},
    "reasonCode": [{"coding": [{"display": "BP check"}]}],
}


def test_encounter_r4_with_included_names() -> None:
    refs = References(
        [
            {
                "resourceType": "Practitioner",
                "id": "prac-1",
                "name": [{"prefix": ["Dr."], "given": ["Alice"], "family": "Smith"}],
            },
            {"resourceType": "Location", "id": "loc-1", "name": "Clinic A"},
        ]
    )
    e = map_encounter(ENCOUNTER_R4, refs)
    assert e.status is EncounterStatus.IN_PROGRESS
    assert e.class_display == "ambulatory"
    assert e.period_start == datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    assert e.participants[0].individual.display == "Dr. Alice Smith"
    assert e.participants[0].role == "primary performer"
    assert e.locations[0].display == "Clinic A"
    assert e.reasons == ("BP check",)
    assert e.subject is not None and e.subject.id == "pat-1"


def test_encounter_r5_shape_is_read_leniently() -> None:
    r5 = copy.deepcopy(ENCOUNTER_R4)
    r5["status"] = "completed"
    r5["class"] = [{"coding": [{"system": "x", "code": "VR", "display": "virtual"}]}]
    r5["participant"] = [{"actor": {"reference": "Practitioner/prac-2", "display": "Dr. B"}}]
    assert conformance_problem(r5) is not None  # not valid R4B ...
    e = map_encounter(r5)  # ... but what the banner needs is there
    assert e.status is EncounterStatus.FINISHED
    assert e.class_display == "virtual"
    assert e.participants[0].individual.display == "Dr. B"


def test_condition() -> None:
    raw = {
        "resourceType": "Condition",
        "id": "c1",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes"}
            ]
        },
        "subject": {"reference": "Patient/pat-1"},
        "onsetPeriod": {"start": "2015-06"},
    }
    p = map_condition(raw)
    assert (p.display, p.status, p.onset) == ("Diabetes", ProblemStatus.ACTIVE, date(2015, 6, 1))
    with pytest.raises(FhirMappingError, match="no code or text"):
        map_condition({**raw, "code": {"coding": []}})


def test_medication_from_contained_and_included_medication() -> None:
    contained = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/pat-1"},
        "contained": [
            {"resourceType": "Medication", "id": "med", "code": {"text": "Metformin 500 mg tablet"}}
        ],
        "medicationReference": {"reference": "#med"},
        "dosageInstruction": [{"text": "twice daily"}, {"text": "with meals"}],
    }
    m = map_medication_request(contained)
    assert (m.display, m.dosage) == ("Metformin 500 mg tablet", "twice daily; with meals")
    included = {
        **contained,
        "contained": [],
        "medicationReference": {"reference": "Medication/med-9"},
    }
    refs = References(
        [
            {
                "resourceType": "Medication",
                "id": "med-9",
                "code": {"coding": [{"display": "Lisinopril"}]},
            }
        ]
    )
    assert map_medication_request(included, refs).display == "Lisinopril"
    with pytest.raises(FhirMappingError, match="names no medication"):
        map_medication_request(included)  # the Medication was not included and has no display


def test_allergy_r4_and_r5_reactions() -> None:
    raw = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "criticality": "high",
        "code": {"text": "Penicillin"},
        "patient": {"reference": "Patient/pat-1"},
        "reaction": [{"manifestation": [{"text": "Rash"}, {"concept": {"text": "Hives"}}]}],
    }
    a = map_allergy(raw)
    assert a.display == "Penicillin" and a.reactions == ("Rash", "Hives")


def obs(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {
            "coding": [
                {"system": "http://acme/local", "code": "HR"},
                {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"},
            ]
        },
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2025-03-10T09:15:00Z",
        **fields,
    }


def test_observation_quantity_prefers_loinc_and_keeps_ucum() -> None:
    m = map_observation(
        obs(
            valueQuantity={
                "value": Decimal("78"),
                "unit": "beats/minute",
                "system": "http://unitsofmeasure.org",
                "code": "/min",
            }
        ),
        MeasurementKind.VITAL_SIGN,
    )
    assert m.code is not None and m.code.code == "8867-4"
    assert (m.value, m.unit, m.unit_text) == (Decimal(78), "/min", "beats/minute")
    assert m.display_value == "78 bpm"  # the terminology's words for a known code


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"valueString": "positive"}, "positive"),
        ({"valueCodeableConcept": {"text": "Negative"}}, "Negative"),
        ({"valueBoolean": False}, "no"),
        ({"valueInteger": 3}, "3"),
        ({"dataAbsentReason": {"text": "Patient refused"}}, "not recorded (Patient refused)"),
        ({"valueRange": {"low": {"value": 1}, "high": {"value": 2}}}, "1–2"),
    ],
)
def test_observation_value_kinds(fields: dict[str, Any], shown: str) -> None:
    assert map_observation(obs(**fields), MeasurementKind.LABORATORY).display_value == shown


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, "no result value"),
        ({"valueQuantity": {"value": "abc"}}, "not a usable number"),
        ({"valueQuantity": {"value": Decimal("1e999999999")}}, "not a usable number"),
        ({"valueInteger": "7"}, "not a usable number"),
        ({"code": {}}, "no code or text"),
    ],
)
def test_malformed_observations_are_refused_with_reason(
    fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(FhirMappingError) as exc:
        map_observation(obs(**fields), MeasurementKind.VITAL_SIGN)
    assert reason in exc.value.reason


def test_observation_effective_fallbacks() -> None:
    raw = obs(valueString="x")
    del raw["effectiveDateTime"]
    raw["effectivePeriod"] = {"start": "2025-01-02"}
    assert map_observation(raw, MeasurementKind.LABORATORY).effective == datetime(
        2025, 1, 2, tzinfo=UTC
    )
    del raw["effectivePeriod"]
    raw["issued"] = "2025-01-03T10:00:00.123+02:00"
    assert map_observation(raw, MeasurementKind.LABORATORY).effective == datetime(
        2025, 1, 3, 8, 0, 0, 123000, tzinfo=UTC
    )


def docref(**fields: Any) -> dict[str, Any]:
    text = "S: ok\nO: BP 120/80\n"
    return {
        "resourceType": "DocumentReference",
        "id": "d1",
        "meta": {"versionId": "3"},
        "status": "current",
        "docStatus": "final",
        "type": {
            "coding": [
                {"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}
            ]
        },
        "subject": {"reference": "Patient/pat-1"},
        "date": "2025-03-10T10:02:00Z",
        "author": [{"reference": "Practitioner/prac-1", "display": "Dr. Smith"}],
        "content": [
            {"attachment": {"contentType": "application/pdf", "url": "Binary/b1"}},
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode()).decode(),
                }
            },
        ],
        "context": {"encounter": [{"reference": "Encounter/enc-1"}]},
        "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/d0"}}],
        **fields,
    }


def test_document_reference() -> None:
    n = map_document_reference(docref())
    assert n.text == "S: ok\nO: BP 120/80\n"
    assert n.version_id == "3" and n.type_display == "Progress note"
    assert n.encounter is not None and n.encounter.id == "enc-1"
    assert [r.relative for r in n.replaces] == ["DocumentReference/d0"]
    assert n.authors[0].display == "Dr. Smith"
    assert n.attachment_url == "Binary/b1"


def test_document_reference_r5_context_and_xhtml() -> None:
    xhtml = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hello <b>there</b></p></div>'
    raw = docref(
        context=[{"reference": "Encounter/enc-2"}],
        content=[
            {
                "attachment": {
                    "contentType": "application/xhtml+xml",
                    "data": base64.b64encode(xhtml.encode()).decode(),
                }
            }
        ],
    )
    n = map_document_reference(raw)
    assert n.encounter is not None and n.encounter.id == "enc-2"
    assert n.plain_text() == "Hello there"


def test_document_reference_bad_base64_is_refused() -> None:
    with pytest.raises(FhirMappingError, match="base64"):
        map_document_reference(
            docref(content=[{"attachment": {"contentType": "text/plain", "data": "%%%not base64"}}])
        )


def test_composition() -> None:
    raw = {
        "resourceType": "Composition",
        "id": "c1",
        "status": "final",
        "type": {"text": "Discharge summary"},
        "subject": {"reference": "Patient/pat-1"},
        "date": "2025-03-01",
        "author": [{"display": "Dr. X"}],
        "title": "Discharge",
        "section": [
            {
                "title": "Course",
                "text": {"div": "<div><p>Uneventful.</p></div>"},
                "section": [{"title": "Meds", "text": {"div": "<div>None</div>"}}],
            }
        ],
    }
    n = map_composition(raw)
    assert n.text == "Course:\nUneventful.\n\nMeds:\nNone"
    assert n.authors[0].display == "Dr. X"


def test_dates() -> None:
    assert parse_date("2015") == date(2015, 1, 1)
    assert parse_date("2015-13-01") is None
    assert parse_instant("2025-03-10T09:15:00") == datetime(2025, 3, 10, 9, 15, tzinfo=UTC)
    assert parse_instant("yesterday") is None
    assert parse_instant(12) is None


def test_guarded_turns_surprises_into_mapping_errors() -> None:
    def boom() -> None:
        raise TypeError("surprise")

    with pytest.raises(FhirMappingError, match="unexpected content"):
        guarded("Observation", {"id": "o"}, boom)


# ---------------------------------------------------------------- fuzz

MAPPERS: list[tuple[str, Callable[[dict[str, Any]], object], dict[str, Any]]] = [
    ("Patient", lambda r: map_patient(r), PATIENT),
    ("Encounter", lambda r: map_encounter(r), ENCOUNTER_R4),
    (
        "Observation",
        lambda r: map_observation(r, MeasurementKind.VITAL_SIGN),
        obs(valueQuantity={"value": 1}),
    ),
    ("DocumentReference", lambda r: map_document_reference(r), docref()),
    (
        "MedicationRequest",
        lambda r: map_medication_request(r),
        {
            "resourceType": "MedicationRequest",
            "id": "m",
            "medicationCodeableConcept": {"text": "x"},
        },
    ),
    (
        "AllergyIntolerance",
        lambda r: map_allergy(r),
        {"resourceType": "AllergyIntolerance", "id": "a", "code": {"text": "x"}},
    ),
    (
        "Condition",
        lambda r: map_condition(r),
        {"resourceType": "Condition", "id": "c", "code": {"text": "x"}},
    ),
    (
        "Composition",
        lambda r: map_composition(r),
        {"resourceType": "Composition", "id": "c", "section": [{"title": "t"}]},
    ),
]

json_leaf = (
    st.none() | st.booleans() | st.integers() | st.decimals(allow_nan=False) | st.text(max_size=12)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["value", "code", "text", "reference", "coding", "display", "start", "data", "x"]
            ),
            inner,
            max_size=3,
        )
    ),
    max_leaves=12,
)
FUZZ = int(os.environ.get("FHIR_FUZZ_EXAMPLES", "300"))


@given(
    which=st.integers(0, len(MAPPERS) - 1),
    key=st.text(max_size=20) | st.sampled_from(sorted({k for _, _, base in MAPPERS for k in base})),
    value=json_value,
)
@settings(max_examples=FUZZ, deadline=None)
def test_fuzzed_resources_raise_only_mapping_errors(which: int, key: str, value: Any) -> None:
    rtype, mapper, base = MAPPERS[which]
    raw = copy.deepcopy(base)
    raw[key] = value
    with contextlib.suppress(FhirMappingError):
        guarded(rtype, raw, lambda: mapper(raw))
    problem = conformance_problem(raw)
    assert problem is None or isinstance(problem, str)
