"""Observation items as FHIR: a blood pressure is the vital-signs panel with its two
components; names read as clinicians call them; scores (category survey, LOINC) stay
observations while reported symptoms (survey, SNOMED) do not."""

from __future__ import annotations

from datetime import date

from fhir.resources.R4B import get_fhir_model_class

from app.domain.entry import EntryContext
from app.domain.items.observation import OBSERVATION, ObservationItem
from app.fhir.items import WriteContext, item_from_fhir, kind_of_resource, mapping_for
from tests.support.drafts import CLINICIAN, ENCOUNTER, NOW, PATIENT

CTX = WriteContext(PATIENT, ENCOUNTER, {"reference": CLINICIAN.relative}, "n-1", NOW)
MAPPING = mapping_for(OBSERVATION)
ENTRY = EntryContext(today=date(2025, 3, 10))


def entered(**cells: str) -> ObservationItem:
    item = ObservationItem("o1", "", "", None, None)
    for column in OBSERVATION.columns:
        if column.field in cells:
            item = column.apply(item, cells[column.field], ENTRY)
    return item


def test_a_blood_pressure_is_written_as_the_panel_with_its_components() -> None:
    bp = entered(code="bp", value="142/88")
    payload = MAPPING.to_fhir(bp, CTX)
    get_fhir_model_class("Observation").model_validate(payload)
    assert payload["code"]["coding"][0]["code"] == "85354-9"
    assert payload["code"]["text"] == "Blood pressure"
    assert "valueQuantity" not in payload and "dataAbsentReason" not in payload
    assert [
        (c["code"]["coding"][0]["code"], c["valueQuantity"]["value"], c["valueQuantity"]["code"])
        for c in payload["component"]
    ] == [("8480-6", 142, "mm[Hg]"), ("8462-4", 88, "mm[Hg]")]
    assert payload["component"][0]["valueQuantity"]["unit"] == "mmHg"
    assert payload["category"][0]["coding"][0]["code"] == "vital-signs"
    assert (
        MAPPING.describe(payload)
        == "Blood pressure: 142/88 mmHg at 2025-03-10 10:30 (vital signs)."
    )
    back = item_from_fhir({**payload, "id": "srv-1"})
    assert isinstance(back, ObservationItem)
    assert back.components == bp.components and back.display == "Blood pressure"


def test_values_and_units_read_as_clinicians_write_them() -> None:
    temp = entered(code="temp", value="98.6 F")
    assert OBSERVATION.render(temp) == "Temperature: 98.6 °F"
    hr = entered(code="hr", value="78")
    assert OBSERVATION.render(hr) == "Heart rate: 78 bpm"
    assert MAPPING.to_fhir(hr, CTX)["valueQuantity"]["unit"] == "bpm"


def test_a_score_is_an_observation_and_a_symptom_is_not() -> None:
    phq = MAPPING.to_fhir(entered(code="phq9", value="7"), CTX)
    assert phq["category"][0]["coding"][0]["code"] == "survey"
    assert kind_of_resource(phq) is OBSERVATION
    symptom = {"resourceType": "Observation", "code": {"text": "cough"},
               "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                   "observation-category", "code": "survey"}]}]}  # fmt: skip
    assert kind_of_resource(symptom) is not OBSERVATION
