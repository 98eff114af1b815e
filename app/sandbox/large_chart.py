"""A patient with a large chart: years of vital signs and laboratory results and 200 notes, so
the sandbox shows what a chart of a long-term patient costs (issue 15; the seed's patients have
at most a few hundred Observations).

``pat-large`` (MRN-9000, "Large Chart, Henrietta"), one finished encounter ``enc-large`` and
``observations`` Observations, a quarter of them vital signs: written by the sandbox at start
when the store has none (with the default seed), and by benchmarks/bench_context_sizes.py for
patients of other sizes (``large_chart(..., patient="pat-obs-1000")``). The values are generated
from a fixed seed: every sandbox holds the same chart.
"""

from __future__ import annotations

import base64
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from app.sandbox.fhir.database import ResourceDatabase, StoredResource
from app.sandbox.fhir.dates import now_instant

log = logging.getLogger(__name__)

PATIENT = "pat-large"
DEFAULT_OBSERVATIONS = 2000
NOTES = 200
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MRN_SYSTEM = "http://sandbox.fhir-writeback.example/sid/mrn"
TAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}
_NEWEST = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

# code, display, unit (UCUM), low, high, decimals
VITALS = (
    ("8867-4", "Heart rate", "/min", 52, 110, 0),
    ("8310-5", "Body temperature", "Cel", 36.0, 38.4, 1),
    ("9279-1", "Respiratory rate", "/min", 11, 24, 0),
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 91, 100, 0),
    ("29463-7", "Body weight", "kg", 61.0, 74.0, 1),
)
LABS = (
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 72, 190, 0),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 5.4, 8.9, 1),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.6, 2),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.3, 5.4, 1),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 132, 147, 0),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 10.8, 16.2, 1),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 3.8, 12.4, 1),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 140, 260, 0),
)


def ensure_large_chart(db: ResourceDatabase, observations: int = DEFAULT_OBSERVATIONS) -> bool:
    """Write ``pat-large``'s chart unless it is there; True if written. Nothing is written to a
    store without ``Practitioner/prac-1`` (a test's own seed)."""
    if db.get("Practitioner", "prac-1") is None or db.get("Patient", PATIENT) is not None:
        return False
    write_chart(db, large_chart(observations))
    log.info("large chart written: %s with %d Observations", PATIENT, observations)
    return True


def write_chart(db: ResourceDatabase, bundle: dict[str, Any]) -> None:
    """Store the Bundle's resources as version 1, in one transaction. Straight to the database:
    the content is generated here (tests/sandbox/test_large_chart.py sends the same through
    the FHIR API, which validates it), and validating thousands of Observations would add
    seconds to every sandbox start."""
    now = now_instant()
    with db.transaction():
        for entry in bundle["entry"]:
            resource = entry["resource"]
            body = {**resource, "meta": {**resource["meta"], "versionId": "1", "lastUpdated": now}}
            db.put(StoredResource(resource["resourceType"], resource["id"], 1, now, body, "PUT"))


def large_chart(
    observations: int, *, patient: str = PATIENT, notes: int = NOTES, mrn: str = "MRN-9000"
) -> dict[str, Any]:
    """The chart as a transaction Bundle (PUT, so ids are stable)."""
    rng = random.Random(f"{patient}:{observations}")
    encounter = f"enc-{patient.removeprefix('pat-')}"
    resources = [_patient(patient, mrn), _encounter(encounter, patient)]
    resources += [_note(patient, encounter, i) for i in range(notes)]
    resources += [_observation(patient, i, rng) for i in range(observations)]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }


def _patient(patient: str, mrn: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": patient,
        "meta": {"tag": [TAG]},
        "identifier": [
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": MRN_SYSTEM,
                "value": mrn,
            }
        ],
        "name": [{"use": "official", "family": "Large Chart", "given": ["Henrietta"]}],
        "gender": "female",
        "birthDate": "1941-04-22",
    }


def _encounter(encounter: str, patient: str) -> dict[str, Any]:
    start = _NEWEST.isoformat().replace("+00:00", "Z")
    end = (_NEWEST + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    return {
        "resourceType": "Encounter",
        "id": encounter,
        "meta": {"tag": [TAG]},
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{patient}"},
        "participant": [{"individual": {"reference": "Practitioner/prac-1"}}],
        "period": {"start": start, "end": end},
        "reasonCode": [{"text": "Long-term follow-up"}],
    }


def _note(patient: str, encounter: str, index: int) -> dict[str, Any]:
    when = _NEWEST - timedelta(days=14 * index + 1)
    text = (
        f"PROGRESS NOTE {index + 1}\nDate of service: {when.date()}\n\n"
        "SUBJECTIVE:\nLong-term follow-up; no new complaints.\n\n"
        "ASSESSMENT AND PLAN:\nStable. Continue current medication; labs in three months.\n"
    )
    return {
        "resourceType": "DocumentReference",
        "id": f"doc-{patient.removeprefix('pat-')}-{index + 1}",
        "meta": {"tag": [TAG]},
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [{"system": LOINC, "code": "11506-3", "display": "Progress note"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "date": when.isoformat().replace("+00:00", "Z"),
        "author": [{"reference": "Practitioner/prac-1"}],
        "description": f"Progress note {index + 1}",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode()).decode("ascii"),
                }
            }
        ],
        "context": {"encounter": [{"reference": f"Encounter/{encounter}"}]},
    }


def _observation(patient: str, index: int, rng: random.Random) -> dict[str, Any]:
    vital = index % 4 == 0
    table = VITALS if vital else LABS
    code, display, unit, low, high, decimals = table[index % len(table)]
    value = round(rng.uniform(low, high), decimals)
    when = _NEWEST - timedelta(hours=6 * index + rng.randrange(0, 5))
    category = "vital-signs" if vital else "laboratory"
    return {
        "resourceType": "Observation",
        "id": f"obs-{patient.removeprefix('pat-')}-{index + 1}",
        "meta": {"tag": [TAG]},
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when.isoformat().replace("+00:00", "Z"),
        "valueQuantity": {
            "value": int(value) if decimals == 0 else value,
            "unit": unit,
            "system": UCUM,
            "code": unit,
        },
    }
