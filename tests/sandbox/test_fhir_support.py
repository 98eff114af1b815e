"""Harness for the sandbox FHIR server tests (and a smoke test of the harness itself).

The FHIR blueprint runs for real: Flask in a waitress server on 127.0.0.1 (port 0), a real
SQLite file, httpx over HTTP. Only the authorization side is a stub: ``StubVerifier`` maps a
few fixed bearer tokens to ``TokenClaims`` (a unit test of one layer), so these tests do not
depend on the SMART server. The small seed below is independent of resources/sandbox.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from flask import Flask

from app.sandbox.contracts import SandboxUrls, TokenClaims
from app.sandbox.fhir import FhirStore, create_fhir_blueprint
from app.sandbox.options import SandboxOptions
from app.sandbox.waitress_thread import WaitressThread

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
MRN = "urn:oid:2.16.840.1.113883.19.5"
NOTE_IDS = "urn:fhir-writeback:note"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"


def _claims(scope: str, patient: str | None = None, *, ttl: float = 3600) -> TokenClaims:
    return TokenClaims(
        client_id="fhir-writeback",
        scope=scope,
        subject="prac-1",
        fhir_user="Practitioner/prac-1",
        patient=patient,
        encounter=None,
        expires_at=time.time() + ttl,
    )


# token -> claims (expiry computed when looked up, so "expired" is always in the past)
TOKENS: dict[str, tuple[str, str | None, float]] = {
    "user-all": ("openid fhirUser user/*.cruds", None, 3600),
    "user-v1": ("user/*.read user/*.write", None, 3600),
    "user-read": ("user/*.read", None, 3600),
    "user-v2-read": ("user/*.rs", None, 3600),
    "obs-read": ("user/Observation.rs", None, 3600),
    "doc-create-only": ("user/DocumentReference.c", None, 3600),
    "doc-update-only": ("user/DocumentReference.u user/DocumentReference.r", None, 3600),
    "labs-only": ("user/Observation.rs?category=laboratory", None, 3600),
    "bad-query": ("user/Observation.rs?colour=blue", None, 3600),
    "patient-1": ("launch/patient patient/*.cruds", "pat-1", 3600),
    "patient-1-v1": ("patient/*.read patient/*.write", "pat-1", 3600),
    "patient-1-read": ("patient/*.read", "pat-1", 3600),
    "patient-no-context": ("patient/*.read", None, 3600),
    "expired": ("user/*.cruds", None, -10),
}


class StubVerifier:
    """The authorization side, reduced to the fixed tokens above."""

    def verify_access_token(self, token: str) -> TokenClaims | None:
        entry = TOKENS.get(token)
        if entry is None:
            return None
        scope, patient, ttl = entry
        return _claims(scope, patient, ttl=ttl)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:seed-{resource['resourceType']}-{resource['id']}",
        "resource": resource,
        "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
    }


def observation(
    oid: str,
    patient: str,
    code: str,
    when: str,
    value: float,
    unit: str,
    *,
    category: str = "vital-signs",
    encounter: str | None = None,
) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [{"coding": [{"system": OBS_CAT, "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                          "code": unit},
    }  # fmt: skip
    if encounter:
        obs["encounter"] = {"reference": f"Encounter/{encounter}"}
    return obs


def small_seed() -> dict[str, Any]:
    """3 patients (pat-3 without encounter), 3 encounters, 34 observations, 1 note, ..."""
    resources: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": "org-1", "name": "Sandbox Clinic"},
        {"resourceType": "Practitioner", "id": "prac-1",
         "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
         "name": [{"family": "Smith", "given": ["Alice"], "prefix": ["Dr."]}]},
        {"resourceType": "Practitioner", "id": "prac-2", "name": [{"text": "Dr. Bob Jones"}]},
        {"resourceType": "Patient", "id": "pat-1", "gender": "female", "birthDate": "1968-04-12",
         "identifier": [{"type": {"coding": [{"code": "MR"}]}, "system": MRN, "value": "MRN-1001"}],
         "name": [{"use": "official", "family": "Garcia", "given": ["Maria", "Elena"]}],
         "managingOrganization": {"reference": "Organization/org-1"}},
        {"resourceType": "Patient", "id": "pat-2", "gender": "female", "birthDate": "1984-02-29",
         "identifier": [{"system": MRN, "value": "MRN-1004"}],
         "name": [{"family": "Łukasiewicz-Núñez", "given": ["Zoë"]}]},
        {"resourceType": "Patient", "id": "pat-3", "gender": "male", "birthDate": "1949-09-30",
         "identifier": [{"system": MRN, "value": "MRN-1005"}],
         "name": [{"family": "Ødegård", "given": ["Søren"]}]},
        {"resourceType": "Encounter", "id": "enc-1", "status": "finished",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
         "subject": {"reference": "Patient/pat-1"},
         "participant": [{"individual": {"reference": "Practitioner/prac-1"}}],
         "period": {"start": "2024-03-01T09:00:00Z", "end": "2024-03-01T10:00:00Z"}},
        {"resourceType": "Encounter", "id": "enc-2", "status": "in-progress",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
         "subject": {"reference": "Patient/pat-1"},
         "period": {"start": "2024-05-01T08:00:00Z"}},
        {"resourceType": "Encounter", "id": "enc-3", "status": "finished",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
         "subject": {"reference": "Patient/pat-2"},
         "period": {"start": "2024-04-01", "end": "2024-04-03"}},
        {"resourceType": "Condition", "id": "cond-1",
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                        "condition-clinical", "code": "active"}]},
         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                   "condition-category", "code": "problem-list-item"}]}],
         "code": {"coding": [{"system": SNOMED, "code": "38341003"}], "text": "Hypertension"},
         "subject": {"reference": "Patient/pat-1"}, "encounter": {"reference": "Encounter/enc-1"}},
        {"resourceType": "AllergyIntolerance", "id": "allergy-1",
         "code": {"text": "Penicillin"}, "patient": {"reference": "Patient/pat-1"}},
        {"resourceType": "MedicationRequest", "id": "medreq-1", "status": "active",
         "intent": "order", "medicationCodeableConcept": {"text": "Lisinopril 10 mg"},
         "subject": {"reference": "Patient/pat-1"}},
        observation("obs-hr-1", "pat-1", "8867-4", "2024-03-01T09:30:00Z", 72, "/min",
                    encounter="enc-1"),
        observation("obs-hr-2", "pat-1", "8867-4", "2024-05-01T08:30:00Z", 80, "/min",
                    encounter="enc-2"),
        observation("obs-glucose", "pat-1", "2339-0", "2024-03-01", 5.4, "mmol/L",
                    category="laboratory", encounter="enc-1"),
        observation("obs-bp-2", "pat-2", "8480-6", "2024-04-01T12:00:00+02:00", 130, "mm[Hg]",
                    encounter="enc-3"),
        {"resourceType": "DocumentReference", "id": "doc-1", "status": "current",
         "docStatus": "final",
         "identifier": [{"system": NOTE_IDS, "value": "note-1"}],
         "type": {"coding": [{"system": LOINC, "code": "11506-3"}]},
         "subject": {"reference": "Patient/pat-1"}, "date": "2024-03-01T10:00:00Z",
         "author": [{"reference": "Practitioner/prac-1"}],
         "content": [{"attachment": {"contentType": "text/plain", "data": b64("S: ok")}}],
         "context": {"encounter": [{"reference": "Encounter/enc-1"}]}},
        {"resourceType": "Provenance", "id": "prov-1", "recorded": "2024-03-01T10:00:00Z",
         "target": [{"reference": "DocumentReference/doc-1"}],
         "agent": [{"who": {"reference": "Practitioner/prac-1"}}]},
    ]  # fmt: skip
    # pat-3 has no encounter but 30 daily weights (paging)
    resources += [
        observation(f"obs-wt-{day:02d}", "pat-3", "29463-7", f"2024-01-{day:02d}", 70 + day / 10,
                    "kg")
        for day in range(1, 31)
    ]  # fmt: skip
    return {"resourceType": "Bundle", "type": "transaction", "entry": [_put(r) for r in resources]}


SEED_COUNT = len(small_seed()["entry"])


@dataclass
class RunningFhir:
    store: FhirStore
    urls: SandboxUrls
    _server: WaitressThread
    _clients: list[httpx.Client]

    @property
    def base(self) -> str:
        return self.urls.fhir_base

    def client(self, token: str | None = "user-all", **headers: str) -> httpx.Client:
        all_headers = dict(headers)
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        c = httpx.Client(base_url=self.base + "/", headers=all_headers, timeout=30)
        self._clients.append(c)
        return c

    def snapshot(self) -> list[tuple[Any, ...]]:
        """Everything stored: current rows, history and every index table."""
        db = self.store.db
        rows: list[tuple[Any, ...]] = []
        for table in ("resource", "history", "idx_token", "idx_ref", "idx_date", "idx_string"):
            rows += [(table, *r) for r in db.query(f"SELECT * FROM {table} ORDER BY 1, 2, 3")]
        return rows

    def count(self, resource_type: str | None = None) -> int:
        if resource_type is None:
            return self.store.db.count()
        return int(
            self.store.db.query("SELECT COUNT(*) FROM resource WHERE type = ?", (resource_type,))[
                0
            ][0]
        )

    def stop(self) -> None:
        for c in self._clients:
            c.close()
        self._server.stop()  # the listener and every connection it accepted
        self.store.close()


def start_fhir(
    db_path: Path, *, seed: dict[str, Any] | None = None, max_body_bytes: int = 8 * 1024 * 1024
) -> RunningFhir:
    options = SandboxOptions(db_path=db_path, max_body_bytes=max_body_bytes)
    app = Flask("fhir-test")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    server = WaitressThread(app, name="fhir-test", host="127.0.0.1", port=0, threads=8)
    urls = SandboxUrls(base=f"http://127.0.0.1:{server.port}")
    store = FhirStore(db_path)
    seed_path = db_path.with_suffix(".seed.json")
    seed_path.write_text(json.dumps(small_seed() if seed is None else seed), encoding="utf-8")
    store.ensure_seeded(seed_path)
    app.register_blueprint(create_fhir_blueprint(store, urls, StubVerifier(), options))
    server.start()
    return RunningFhir(store, urls, server, [])


@contextlib.contextmanager
def running_fhir(db_path: Path, **kwargs: Any) -> Iterator[RunningFhir]:
    running = start_fhir(db_path, **kwargs)
    try:
        yield running
    finally:
        running.stop()


def issues(response: httpx.Response) -> str:
    """All diagnostics of an OperationOutcome response, joined (for assertions)."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return " | ".join(i.get("diagnostics", "") for i in body["issue"])


def entries(bundle: dict[str, Any], mode: str = "match") -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == mode
    ]


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [r["id"] for r in entries(bundle, mode)]


def note(identifier: str, *, patient: str = "pat-1", encounter: str = "enc-1") -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "docStatus": "final",
        "identifier": [{"system": NOTE_IDS, "value": identifier}],
        "type": {"coding": [{"system": LOINC, "code": "11506-3"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "date": "2024-06-01T10:00:00Z",
        "content": [{"attachment": {"contentType": "text/plain", "data": b64("Progress note")}}],
        "context": {"encounter": [{"reference": f"Encounter/{encounter}"}]},
    }


def test_harness_serves_the_small_seed(tmp_path: Path) -> None:
    with running_fhir(tmp_path / "fhir.db") as fhir:
        assert fhir.count() == SEED_COUNT
        response = fhir.client().get("Patient/pat-1")
        assert response.status_code == 200
        assert response.json()["name"][0]["family"] == "Garcia"
