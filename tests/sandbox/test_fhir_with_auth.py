"""The FHIR server inside the real sandbox (SandboxServer): real SMART tokens, the bundled seed.

No stub here: the tokens come from a standalone launch against the sandbox's own
authorization server (auto-login prac-1), and the data is resources/sandbox/seed-bundle.json.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.sandbox.options import SandboxOptions
from app.sandbox.server import SandboxServer
from tests.sandbox.test_fhir_support import issues, note, small_seed
from tests.support.launch import discover, standalone_launch


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    db = tmp_path_factory.mktemp("sandbox") / "sandbox.db"
    server = SandboxServer(SandboxOptions(port=0, db_path=db, auto_login="prac-1"))
    server.start()
    yield server
    server.stop()


def token_for(sandbox: SandboxServer, scope: str) -> dict[str, object]:
    with httpx.Client(timeout=30) as http:
        cfg = discover(http, sandbox.fhir_base)
        result = standalone_launch(http, cfg, client_id="fhir-writeback", scope=scope)
    return result.token


def fhir_client(sandbox: SandboxServer, token: dict[str, object]) -> httpx.Client:
    return httpx.Client(
        base_url=sandbox.fhir_base + "/",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=30,
    )


def test_patient_scoped_token_reads_context_and_writes_a_note(sandbox: SandboxServer) -> None:
    token = token_for(
        sandbox, "openid fhirUser launch/patient launch/encounter patient/*.rs "
        "patient/DocumentReference.cu",
    )  # fmt: skip
    patient = str(token["patient"])
    with fhir_client(sandbox, token) as client:
        assert client.get(f"Patient/{patient}").status_code == 200
        encounters = client.get("Encounter", params={"_count": 100}).json()
        assert encounters["total"] >= 1
        assert {e["resource"]["subject"]["reference"] for e in encounters["entry"]} == {
            f"Patient/{patient}"
        }
        body = note("with-auth-1", patient=patient, encounter=str(token["encounter"]))
        created = client.post("DocumentReference", json=body)
        assert created.status_code == 201
        assert client.get(created.headers["location"]).status_code == 200
        r = client.post("Observation", json={"resourceType": "Observation"})
        assert r.status_code == 403 and "Observation create permission" in issues(r)
        other = "pat-2" if patient != "pat-2" else "pat-1"
        assert client.get(f"Patient/{other}").status_code == 403


def test_user_scoped_token_searches_the_whole_seed(sandbox: SandboxServer) -> None:
    token = token_for(sandbox, "openid fhirUser user/*.rs")
    with fhir_client(sandbox, token) as client:
        patients = client.get("Patient", params={"_count": 100}).json()
        assert patients["total"] >= 8
        assert client.post("Patient", json={"resourceType": "Patient"}).status_code == 403


def test_revoked_or_bogus_tokens_are_401(sandbox: SandboxServer) -> None:
    with fhir_client(sandbox, {"access_token": "bogus"}) as client:
        r = client.get("Patient")
        assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]
    with httpx.Client() as http:
        assert http.get(f"{sandbox.fhir_base}/metadata").status_code == 200


def test_smart_discovery_is_not_shadowed_by_the_fhir_routes(sandbox: SandboxServer) -> None:
    with httpx.Client() as http:
        r = http.get(f"{sandbox.fhir_base}/.well-known/smart-configuration")
    assert r.status_code == 200
    assert "authorization_endpoint" in r.json()


def test_db_path_is_persistent(tmp_path: Path) -> None:
    db, seed = tmp_path / "persist.db", tmp_path / "seed.json"
    seed.write_text(
        json.dumps(small_seed()), encoding="utf-8"
    )  # small: quicker than the bundled one
    options = SandboxOptions(port=0, db_path=db, auto_login="prac-1", seed_path=seed)
    first = SandboxServer(options)
    first.start()
    try:
        token = token_for(first, "openid fhirUser user/*.cruds")
        with fhir_client(first, token) as client:
            created = client.post("DocumentReference", json=note("persisted")).json()
    finally:
        first.stop()
    second = SandboxServer(options)
    second.start()
    try:
        token = token_for(second, "openid fhirUser user/*.rs")
        with fhir_client(second, token) as client:
            assert client.get(f"DocumentReference/{created['id']}").status_code == 200
    finally:
        second.stop()
