"""Builders and small readers shared by the conformance checks.

Every resource a check writes carries an identifier unique to that check run
(``new_identifier()``), because the servers are shared by the whole test session.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import httpx

RUN_SYSTEM = "https://fhir-writeback.test/conformance"
FHIR_JSON = "application/fhir+json"
WRITE_HEADERS = {"Content-Type": FHIR_JSON}


def new_identifier() -> dict[str, str]:
    return {"system": RUN_SYSTEM, "value": str(uuid.uuid4())}


def token_param(identifier: dict[str, str]) -> str:
    """``system|value`` for a token search or ``If-None-Exist``."""
    return f"{identifier['system']}|{identifier['value']}"


def docref(
    identifier: dict[str, str],
    *,
    patient: str = "pat-1",
    encounter: str | None = None,
    text: str = "Conformance check note.",
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "identifier": [identifier],
        "type": {
            "coding": [
                {"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}
            ]
        },
        "subject": {"reference": f"Patient/{patient}"},
        "author": [{"reference": "Practitioner/prac-1"}],
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode()).decode("ascii"),
                }
            }
        ],
    }
    if encounter is not None:
        doc["context"] = {"encounter": [{"reference": f"Encounter/{encounter}"}]}
    return doc


def heart_rate(
    identifier: dict[str, str],
    *,
    run_code: str,
    patient: str = "pat-1",
    bpm: int = 70,
    when: str = "2024-01-01T10:00:00Z",
) -> dict[str, Any]:
    """A vital-signs Observation that also carries ``RUN_SYSTEM|run_code`` (for exact searches)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "identifier": [identifier],
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"},
                {"system": RUN_SYSTEM, "code": run_code},
            ]
        },
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": bpm,
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


def matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """Resources of a searchset that are matches (not included resources or outcomes)."""
    assert bundle.get("resourceType") == "Bundle", bundle
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode", "match") == "match"
        and e.get("resource", {}).get("resourceType") != "OperationOutcome"
    ]


def search(fhir: httpx.Client, resource_type: str, params: dict[str, Any]) -> dict[str, Any]:
    r = fhir.get(resource_type, params=params)
    assert r.status_code == 200, f"GET {r.url}: {r.status_code} {r.text[:1000]}"
    bundle: dict[str, Any] = r.json()
    return bundle


def next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link", []):
        if link.get("relation") == "next":
            return str(link["url"])
    return None


_ETAG = re.compile(r'^W/"([^"]+)"$')


def etag_version(etag: str | None) -> str:
    """The versionId inside a weak ETag ``W/"<versionId>"`` (fails on any other shape)."""
    m = _ETAG.match(etag or "")
    assert m, f'ETag {etag!r} is not of the form W/"<versionId>"'
    return m.group(1)


def show(r: httpx.Response) -> str:
    """A response, for assertion messages (the integrator routes failures by this text)."""
    return f"{r.request.method} {r.url} -> {r.status_code} {dict(r.headers)}\n{r.text[:2000]}"
