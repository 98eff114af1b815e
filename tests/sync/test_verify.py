"""The read-back comparison (app.sync.verify): what the EHR stored against what was sent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.sync.verify import differences

SENT: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "subject": {"reference": "Patient/pat-1"},
    "effectiveDateTime": "2025-03-10T10:00:00+00:00",
    "valueQuantity": {"value": 72, "unit": "/min", "code": "/min"},
    "identifier": [{"system": "s", "value": "v"}],
}


def stored(**changes: Any) -> dict[str, Any]:
    copy: dict[str, Any] = {
        **SENT,
        "id": "o1",
        "meta": {"versionId": "1", "lastUpdated": "2025-03-10T10:00:01Z"},
    }
    copy.update(changes)
    return copy


def test_an_equal_copy_with_server_additions_matches() -> None:
    copy = stored(
        text={"status": "generated", "div": "<div/>"},
        identifier=[{"system": "s", "value": "v"}, {"system": "ehr", "value": "123"}],
    )
    assert differences(SENT, copy) == []


def test_values_are_compared_by_meaning() -> None:
    copy = stored(
        effectiveDateTime="2025-03-10T10:00:00.000Z",
        valueQuantity={"value": Decimal("72.0"), "unit": "/min", "code": "/min"},
        subject={"reference": "https://ehr.example/fhir/Patient/pat-1"},
    )
    assert differences(SENT, copy) == []


def test_stripped_and_changed_elements_are_reported_by_path_only() -> None:
    copy = stored(
        valueQuantity={"value": 73, "code": "/min"},
        status="preliminary",
        code={"coding": []},
    )
    found = differences(SENT, copy)
    assert "status changed" in found
    assert "valueQuantity.value changed" in found
    assert "valueQuantity.unit is missing" in found
    assert "code.coding[0] is missing" in found
    assert not any("73" in d or "/min" in d or "preliminary" in d for d in found)


def test_a_different_instant_or_reference_differs() -> None:
    copy = stored(effectiveDateTime="2025-03-10T11:00:00Z", subject={"reference": "Patient/pat-2"})
    assert differences(SENT, copy) == ["subject.reference changed", "effectiveDateTime changed"]


def test_local_references_are_compared_as_what_they_became() -> None:
    """The approved payload refers to the note by its ``urn:uuid:``; the EHR's copy by the
    note's server id. With the ids learned, that is the same reference; another id is not."""
    note = "urn:uuid:5f0c2c1e-0000-4000-8000-000000000001"
    sent = {**SENT, "derivedFrom": [{"reference": note}]}
    copy = stored(derivedFrom=[{"reference": "DocumentReference/d1"}])
    assert differences(sent, copy, references={note: "DocumentReference/d1"}) == []
    assert differences(sent, copy, references={note: "DocumentReference/d2"}) == [
        "derivedFrom[0].reference changed"
    ]
    assert differences(sent, copy) == ["derivedFrom[0].reference changed"]
