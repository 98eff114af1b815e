"""Mapping in (app.fhir.items, ``item_from_fhir``): a chart resource written by the app reads
back as the item it was written from, so issue-12 style "what is already in the chart" checks
compare like with like; resources no kind claims are not items."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.domain.items import ITEM_KINDS, StructuredItem, kind_of
from app.fhir.errors import FhirMappingError
from app.fhir.items import WriteContext, item_from_fhir, mapping_for
from tests.support.drafts import CLINICIAN, ENCOUNTER, NOW, PATIENT, one_of_each

CTX = WriteContext(PATIENT, ENCOUNTER, {"reference": CLINICIAN.relative}, "n-1", NOW)


def written(item: StructuredItem) -> dict[str, Any]:
    return {**mapping_for(kind_of(item)).to_fhir(item, CTX), "id": "srv-1"}


@pytest.mark.parametrize("key", [k.key for k in ITEM_KINDS])
def test_what_the_app_writes_reads_back_as_the_same_item(key: str) -> None:
    item = one_of_each()[key]
    expected = replace(item, item_id="srv-1")
    if key == "observation":  # written with the approval time when it had none
        expected = replace(expected, effective=item.effective or NOW)  # type: ignore[call-arg]
    assert item_from_fhir(written(item)) == expected


def test_resources_of_the_note_are_not_items() -> None:
    assert item_from_fhir({"resourceType": "DocumentReference", "id": "d"}) is None
    assert item_from_fhir({"resourceType": "Provenance", "id": "p"}) is None


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Task", "id": "t", "status": "requested"},
        {"resourceType": "Communication", "id": "c", "status": "completed"},
        {"resourceType": "MedicationStatement", "id": "m", "status": "active"},
        {"resourceType": "Observation", "id": "o", "status": "final",
         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                             "observation-category", "code": "survey"}]}]},
    ],
)  # fmt: skip
def test_a_claimed_resource_without_what_the_item_needs_is_a_mapping_error(
    resource: dict[str, Any],
) -> None:
    with pytest.raises(FhirMappingError):
        item_from_fhir(resource)
