"""Bearer tokens, SMART v1/v2 scopes and the patient compartment on the sandbox FHIR server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.test_fhir_support import (
    RunningFhir,
    entries,
    ids,
    issues,
    note,
    observation,
    running_fhir,
)


@pytest.fixture
def fhir(tmp_path: Path) -> Iterator[RunningFhir]:
    with running_fhir(tmp_path / "fhir.db") as running:
        yield running


def new_obs(patient: str) -> dict[str, Any]:
    obs = observation("x", patient, "8867-4", "2024-06-01T10:00:00Z", 70, "/min")
    del obs["id"]
    return obs


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "Patient/pat-1"), ("GET", "Observation?patient=pat-1"), ("POST", "Observation"),
     ("POST", ""), ("GET", "Patient/pat-1/_history"), ("GET", "nowhere/at/all/x")],
)  # fmt: skip
@pytest.mark.parametrize("token", [None, "not-a-token", "expired"])
def test_missing_unknown_or_expired_token_is_401(
    fhir: RunningFhir, method: str, path: str, token: str | None
) -> None:
    before = fhir.snapshot()
    r = fhir.client(token).request(method, path, json=new_obs("pat-1"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    if token is not None:
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
        assert "expired or revoked" in issues(r)
    else:
        assert "no bearer token" in issues(r)
    assert fhir.snapshot() == before


def test_basic_auth_is_not_a_bearer_token(fhir: RunningFhir) -> None:
    r = fhir.client(None, Authorization="Basic dXNlcjpwYXNz").get("Patient/pat-1")
    assert r.status_code == 401


def test_metadata_needs_no_token(fhir: RunningFhir) -> None:
    assert fhir.client(None).get("metadata").status_code == 200


@pytest.mark.parametrize("token", ["user-read", "user-v2-read"])
def test_read_scopes_allow_reading_but_not_writing(fhir: RunningFhir, token: str) -> None:
    client = fhir.client(token)
    assert client.get("Patient/pat-1").status_code == 200
    assert client.get("Observation?patient=pat-1").json()["total"] == 3
    before = fhir.snapshot()
    r = client.post("DocumentReference", json=note("forbidden"))
    assert r.status_code == 403
    text = issues(r)
    assert "lacks DocumentReference create permission" in text
    assert "user/DocumentReference.c" in text and "patient/DocumentReference.c" in text
    assert "user/DocumentReference.write" in text
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert fhir.snapshot() == before


def test_v1_read_write_scopes(fhir: RunningFhir) -> None:
    client = fhir.client("user-v1")
    assert client.post("DocumentReference", json=note("v1")).status_code == 201
    assert client.get("DocumentReference?identifier=v1").json()["total"] == 1


def test_type_specific_scope(fhir: RunningFhir) -> None:
    client = fhir.client("obs-read")
    assert client.get("Observation/obs-hr-1").status_code == 200
    r = client.get("Patient/pat-1")
    assert r.status_code == 403 and "Patient read" in issues(r)
    r = client.get("Patient?name=garcia")
    assert r.status_code == 403 and "Patient search" in issues(r)
    # includes of types the token cannot read are left out, with a warning
    bundle = client.get("Observation?_id=obs-hr-1&_include=Observation:patient").json()
    assert ids(bundle) == ["obs-hr-1"] and ids(bundle, "include") == []
    assert "may not read" in str(entries(bundle, "outcome"))


def test_create_only_and_update_only_scopes(fhir: RunningFhir) -> None:
    creator = fhir.client("doc-create-only")
    created = creator.post("DocumentReference", json=note("c-only"))
    assert created.status_code == 201
    doc = created.json()
    r = creator.get(f"DocumentReference/{doc['id']}")
    assert r.status_code == 403 and "read permission" in issues(r)
    r = creator.put(f"DocumentReference/{doc['id']}", json=doc)
    assert r.status_code == 403 and "update permission" in issues(r)
    updater = fhir.client("doc-update-only")
    assert updater.put(f"DocumentReference/{doc['id']}", json=doc).status_code == 200
    r = updater.put("DocumentReference/brand-new", json={**doc, "id": "brand-new"})
    assert r.status_code == 403 and "create permission" in issues(r)
    r = updater.post("DocumentReference", json=note("nope"))
    assert r.status_code == 403


def test_patient_scope_reads_only_the_patients_compartment(fhir: RunningFhir) -> None:
    client = fhir.client("patient-1")
    assert client.get("Patient/pat-1").status_code == 200
    r = client.get("Patient/pat-2")
    assert r.status_code == 403 and "Patient/pat-1" in issues(r)
    assert client.get("Observation/obs-bp-2").status_code == 403
    assert client.get("Observation/obs-bp-2/_history").status_code == 403
    assert client.get("Observation/obs-bp-2/_history/1").status_code == 403
    assert ids(client.get("Patient").json()) == ["pat-1"]
    assert set(ids(client.get("Observation?_count=100").json())) == {
        "obs-hr-1", "obs-hr-2", "obs-glucose"}  # fmt: skip
    assert client.get("Observation?patient=pat-2").json()["total"] == 0
    assert set(ids(client.get("Encounter").json())) == {"enc-1", "enc-2"}
    assert ids(client.get("Provenance").json()) == ["prov-1"]  # via its target doc-1
    # shared reference data is readable
    assert client.get("Practitioner/prac-1").status_code == 200
    bundle = client.get("Patient?_revinclude=Observation:patient&_count=100").json()
    assert {r["subject"]["reference"] for r in entries(bundle, "include")} == {"Patient/pat-1"}


def test_patient_scope_does_not_include_other_patients(fhir: RunningFhir) -> None:
    obs = new_obs("pat-1")
    obs["performer"] = [{"reference": "Patient/pat-2"}]
    created = fhir.client().post("Observation", json=obs).json()
    bundle = (
        fhir.client("patient-1")
        .get(f"Observation?_id={created['id']}&_include=Observation:performer")
        .json()
    )
    assert ids(bundle) == [created["id"]]
    assert ids(bundle, "include") == []
    assert "left out" in str(entries(bundle, "outcome"))


def test_patient_scope_writes_must_reference_the_patient(fhir: RunningFhir) -> None:
    client = fhir.client("patient-1")
    assert client.post("Observation", json=new_obs("pat-1")).status_code == 201
    before = fhir.snapshot()
    r = client.post("Observation", json=new_obs("pat-2"))
    assert r.status_code == 403 and "Patient/pat-1" in issues(r)
    # hijacking: rewriting another patient's resource to point at pat-1
    other = fhir.client().get("Observation/obs-bp-2").json()
    r = client.put(
        "Observation/obs-bp-2", json={**other, "subject": {"reference": "Patient/pat-1"}}
    )
    assert r.status_code == 403
    # moving one's own resource to another patient
    own = fhir.client().get("Observation/obs-hr-1").json()
    r = client.put("Observation/obs-hr-1", json={**own, "subject": {"reference": "Patient/pat-2"}})
    assert r.status_code == 403
    r = client.post("Practitioner", json={"resourceType": "Practitioner"})
    assert r.status_code == 403 and "not patient data" in issues(r)
    r = client.put("Patient/pat-2", json=fhir.client().get("Patient/pat-2").json())
    assert r.status_code == 403
    assert fhir.snapshot() == before


def test_patient_scope_v1(fhir: RunningFhir) -> None:
    client = fhir.client("patient-1-v1")
    assert client.post("Observation", json=new_obs("pat-1")).status_code == 201
    assert client.get("Observation/obs-bp-2").status_code == 403
    reader = fhir.client("patient-1-read")
    assert reader.post("Observation", json=new_obs("pat-1")).status_code == 403


def test_patient_scope_without_patient_context_is_403(fhir: RunningFhir) -> None:
    r = fhir.client("patient-no-context").get("Observation")
    assert r.status_code == 403
    assert "needs a patient in context" in issues(r)


def test_transaction_entries_are_each_checked(fhir: RunningFhir) -> None:
    client = fhir.client("patient-1")
    before = fhir.snapshot()
    entries_ = [
        {"resource": new_obs("pat-1"), "request": {"method": "POST", "url": "Observation"}},
        {"resource": new_obs("pat-2"), "request": {"method": "POST", "url": "Observation"}},
    ]
    r = client.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": entries_})
    assert r.status_code == 403 and "Entry 1" in issues(r)
    assert fhir.snapshot() == before
    r = client.post("", json={"resourceType": "Bundle", "type": "batch", "entry": entries_})
    assert [e["response"]["status"][:3] for e in r.json()["entry"]] == ["201", "403"]
    reader = fhir.client("user-read")
    r = reader.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": entries_})
    assert r.status_code == 403 and "Observation create permission" in issues(r)


def test_v2_scope_query_is_enforced(fhir: RunningFhir) -> None:
    client = fhir.client("labs-only")
    assert ids(client.get("Observation?patient=pat-1").json()) == ["obs-glucose"]
    assert client.get("Observation/obs-glucose").status_code == 200
    assert client.get("Observation/obs-hr-1").status_code == 403


def test_v2_scope_query_that_cannot_be_evaluated_grants_nothing(fhir: RunningFhir) -> None:
    r = fhir.client("bad-query").get("Observation")
    assert r.status_code == 403
    assert "colour" in issues(r) and "ignored" in issues(r)
