"""The sandbox takes every resource type the app's catalogue of item kinds writes: it declares
them truthfully (create + identifier search), grants their scopes, validates their content (the
MedicationStatement status code included) and stores what the app's own mappings build."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.domain.clinical import Reference
from app.domain.items import ITEM_KINDS, write_types
from app.fhir.items import WriteContext, mapping_for
from app.sandbox.auth.scopes import grantable_scope
from tests.sandbox.test_fhir_support import RunningFhir, issues, running_fhir
from tests.support.drafts import reconciliation, symptom

CTX = WriteContext(
    patient=Reference("Patient", "pat-1"),
    encounter=Reference("Encounter", "enc-1"),
    clinician={"reference": "Practitioner/prac-1", "display": "Dr. Alice Smith"},
    note_id="5f0c6f7e-0000-4000-8000-000000000001",
    approved_at=datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
)
SEED = Path(__file__).resolve().parents[2] / "resources" / "sandbox" / "seed-bundle.json"


@pytest.fixture(scope="module")
def fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFhir]:
    with running_fhir(tmp_path_factory.mktemp("kinds") / "fhir.db") as running:
        yield running


def built(item: Any) -> dict[str, Any]:
    """What the app writes for ``item`` (the note reference replaced: no bundle here)."""
    kind = next(k for k in ITEM_KINDS if k.owns(item))
    payload = mapping_for(kind).to_fhir(item, CTX)
    return json.loads(json.dumps(payload).replace(f"urn:uuid:{CTX.note_id}", "Encounter/enc-1"))


def test_the_capability_statement_declares_create_and_identifier_search_for_every_write_type(
    fhir: RunningFhir,
) -> None:
    rest = fhir.client(None).get("metadata").json()["rest"][0]
    declared = {r["type"]: r for r in rest["resource"]}
    for resource_type in write_types():
        entry = declared[resource_type]
        assert {"create", "search-type"} <= {i["code"] for i in entry["interaction"]}
        params = {p["name"] for p in entry["searchParam"]}
        assert "identifier" in params or resource_type == "Provenance", resource_type


def test_the_scopes_of_the_new_kinds_are_granted() -> None:
    requested = "openid user/MedicationStatement.crs user/Observation.crus"
    assert grantable_scope(requested) == requested


@pytest.mark.parametrize("item", [reconciliation(), symptom()], ids=["medication", "symptom"])
def test_the_apps_resources_for_the_new_kinds_are_accepted(fhir: RunningFhir, item: Any) -> None:
    payload = built(item)
    client = fhir.client()
    r = client.post(payload["resourceType"], json=payload)
    assert r.status_code == 201, r.text
    stored = client.get(r.headers["Location"].split("/_history")[0]).json()
    assert stored["subject"] == {"reference": "Patient/pat-1"}


def test_a_medication_statement_with_an_unknown_status_is_refused(fhir: RunningFhir) -> None:
    payload = {**built(reconciliation()), "status": "continued"}
    r = fhir.client().post("MedicationStatement", json=payload)
    assert r.status_code == 422, r.text
    assert "'continued' is not an allowed code" in issues(r)


def test_the_seed_gives_pat1_active_medication_orders_for_the_reconciliation() -> None:
    bundle = json.loads(SEED.read_text(encoding="utf-8"))
    active = [
        e["resource"]["id"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationRequest"
        and e["resource"]["subject"]["reference"] == "Patient/pat-1"
        and e["resource"]["status"] == "active"
    ]
    assert len(active) >= 2 and "medrx-1" in active
