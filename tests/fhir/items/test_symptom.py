"""Patient-reported symptoms <-> Observation, category survey (app.fhir.items.symptom)."""

from __future__ import annotations

from datetime import date

from app.domain.items import kind_of
from app.domain.items.observation import ObservationItem
from app.domain.items.symptom import SymptomSeverity
from app.fhir.items import item_from_fhir, kind_of_resource
from app.fhir.write_summary import describe_commit
from tests.fhir.test_mapping_out import assert_valid_r4, by_type, commit_for
from tests.support.drafts import make_draft, obs, symptom

SURVEY = {"system": "http://terminology.hl7.org/CodeSystem/observation-category",
          "code": "survey", "display": "Survey"}  # fmt: skip


def test_a_symptom_is_a_survey_observation_performed_by_the_patient() -> None:
    commit = commit_for(make_draft((symptom(note="worse at night"),)), "generic-r4")
    assert_valid_r4(commit)
    [payload] = by_type(commit, "Observation")
    assert payload["category"] == [{"coding": [SURVEY]}]
    assert payload["code"] == {
        "coding": [{"system": "http://snomed.info/sct", "code": "25064002", "display": "Headache"}],
        "text": "Headache",
    }
    assert payload["valueCodeableConcept"]["coding"][0]["code"] == "6736007"  # moderate
    assert payload["effectivePeriod"] == {"start": "2025-03-07"}
    assert payload["performer"] == [{"reference": "Patient/pat-1"}]
    assert payload["note"] == [{"text": "worse at night"}]


def test_an_uncoded_symptom_without_onset_is_text_at_the_time_of_approval() -> None:
    item = symptom(description="tingling in the left hand", onset=None, code=None)
    [payload] = by_type(commit_for(make_draft((item,)), "generic-r4"), "Observation")
    assert payload["code"] == {"text": "tingling in the left hand"}
    assert payload["effectiveDateTime"] == payload["issued"]


def test_symptoms_and_vitals_share_a_type_but_not_a_kind() -> None:
    hr = obs("hr", "8867-4", "72", "/min", "Heart rate")
    commit = commit_for(make_draft((hr, symptom())), "generic-r4")
    vital, reported = by_type(commit, "Observation")
    assert kind_of_resource(vital) is kind_of(hr)
    assert kind_of_resource(reported) is kind_of(symptom())
    back = item_from_fhir({**reported, "id": "obs-9"})
    assert back == symptom(item_id="obs-9")
    vital_back = item_from_fhir({**vital, "id": "obs-8"})
    assert isinstance(vital_back, ObservationItem) and vital_back.value == hr.value
    words = [(d.label, d.text) for d in describe_commit(commit)]
    assert ("Patient-reported symptom", "Headache: moderate, since 2025-03-07.") in words
    assert words[1][0] == "Vital sign"


def test_severity_reads_back_from_snomed_codes() -> None:
    for severity in SymptomSeverity:
        item = symptom(severity=severity, onset=date(2025, 1, 2))
        [payload] = by_type(commit_for(make_draft((item,)), "generic-r4"), "Observation")
        back = item_from_fhir({**payload, "id": "x"})
        assert back is not None and back.severity is severity  # type: ignore[attr-defined]
