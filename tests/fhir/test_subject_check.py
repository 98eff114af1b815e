"""The wrong-patient guard (app.fhir.subject_check): whose a resource is, on which server."""

from __future__ import annotations

from typing import Any

import pytest

from app.fhir.subject_check import SubjectProblem, reference_base, subject_problem

BASE = "https://ehr.clinic.example/fhir/r4"
P = SubjectProblem


@pytest.mark.parametrize(
    ("subject", "problem"),
    [
        ({"reference": "Patient/pat-1"}, None),
        ({"reference": "Patient/pat-1/_history/3"}, None),
        ({"reference": f"{BASE}/Patient/pat-1"}, None),
        ({"reference": "HTTPS://EHR.clinic.example:443/fhir/r4/Patient/pat-1"}, None),
        ({"reference": f"{BASE}/Patient/pat-1/_history/2"}, None),
        (None, P.NAMES_NO_PATIENT),
        ({}, P.NAMES_NO_PATIENT),
        ({"display": "Maria Garcia"}, P.NAMES_NO_PATIENT),
        ({"identifier": {"system": "urn:mrn", "value": "MRN-1001"}}, P.NAMES_NO_PATIENT),
        ({"reference": ""}, P.NAMES_NO_PATIENT),
        ({"reference": "#p1"}, P.NAMES_NO_PATIENT),
        ({"reference": "urn:uuid:6b1f0c2e-4d6a-4b8e-9a51-2c9f7a1d3e11"}, P.NAMES_NO_PATIENT),
        ({"reference": 42}, P.NAMES_NO_PATIENT),
        ({"reference": "Group/g1"}, P.NOT_A_PATIENT),
        ({"reference": "https://other.example/fhir/r4/Patient/pat-1"}, P.OTHER_SERVER),
        ({"reference": "https://ehr.clinic.example/other/Patient/pat-1"}, P.OTHER_SERVER),
        ({"reference": "http://ehr.clinic.example/fhir/r4/Patient/pat-1"}, P.OTHER_SERVER),
        ({"reference": "https://ehr.clinic.example:8443/fhir/r4/Patient/pat-1"}, P.OTHER_SERVER),
        ({"reference": "https://ehr.clinic.example:x/fhir/r4/Patient/pat-1"}, P.OTHER_SERVER),
        ({"reference": "../elsewhere/Patient/pat-1"}, P.OTHER_SERVER),
        ({"reference": "Patient/pat-2"}, P.OTHER_PATIENT),
        ({"reference": f"{BASE}/Patient/pat-2"}, P.OTHER_PATIENT),
    ],
)
def test_whose_encounter(subject: Any, problem: SubjectProblem | None) -> None:
    raw = {"resourceType": "Encounter", "id": "e1"}
    if subject is not None:
        raw["subject"] = subject
    assert subject_problem(raw, "pat-1", BASE) is problem


def test_patient_key_for_allergies_and_the_like() -> None:
    raw = {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/pat-1"}}
    assert subject_problem(raw, "pat-1", BASE, ("subject", "patient")) is None
    assert subject_problem(raw, "pat-1", BASE) is P.NAMES_NO_PATIENT


def test_reference_base() -> None:
    assert reference_base(f"{BASE}/Patient/1") == BASE
    assert reference_base(f"{BASE}/Patient/1/_history/2") == BASE
    assert reference_base("Patient/1") is None
