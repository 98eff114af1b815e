"""The CapabilityStatement at /fhir/metadata is valid and truthful: whatever it declares works,
and what it leaves out is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.sandbox.fhir.params import SUPPORTED_TYPES
from tests.sandbox.test_fhir_support import RunningFhir, entries, running_fhir

SAMPLE = {"token": "x", "reference": "x", "date": "2024", "string": "x"}


@pytest.fixture(scope="module")
def fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFhir]:
    with running_fhir(tmp_path_factory.mktemp("cap") / "fhir.db") as running:
        yield running


@pytest.fixture(scope="module")
def statement(fhir: RunningFhir) -> dict[str, Any]:
    r = fhir.client(None).get("metadata")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = r.json()
    return body


def test_is_a_valid_r4_capability_statement(statement: dict[str, Any]) -> None:
    get_fhir_model_class("CapabilityStatement").model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance"
    assert "json" in statement["format"]


def test_declares_smart_security(fhir: RunningFhir, statement: dict[str, Any]) -> None:
    security = statement["rest"][0]["security"]
    codes = [c["code"] for s in security["service"] for c in s["coding"]]
    assert codes == ["SMART-on-FHIR"]
    (oauth,) = [
        e for e in security["extension"]
        if e["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    ]  # fmt: skip
    uris = {e["url"]: e["valueUri"] for e in oauth["extension"]}
    urls = fhir.urls
    assert uris == {"authorize": urls.authorize, "token": urls.token,
                    "revoke": urls.revoke, "introspect": urls.introspect}  # fmt: skip


def test_declares_transaction_batch_and_the_served_types(statement: dict[str, Any]) -> None:
    rest = statement["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}
    resources = {r["type"]: r for r in rest["resource"]}
    assert set(resources) == set(SUPPORTED_TYPES)
    for resource in resources.values():
        codes = {i["code"] for i in resource["interaction"]}
        assert codes == {"read", "vread", "update", "history-instance", "create", "search-type"}
        assert resource["conditionalCreate"] is True
        assert resource["updateCreate"] is True
        assert resource["versioning"] == "versioned-update"
        assert resource["conditionalUpdate"] is False
        assert resource["conditionalDelete"] == "not-supported"


def _no_warning(client: httpx.Client, url: str, params: list[tuple[str, str]]) -> None:
    r = client.get(url, params=params)
    assert r.status_code == 200, (url, r.text)
    assert entries(r.json(), "outcome") == [], (url, entries(r.json(), "outcome"))


def test_every_declared_search_parameter_include_and_revinclude_works(
    fhir: RunningFhir, statement: dict[str, Any]
) -> None:
    # strict handling: an undeclared parameter would be a 400, an unusable include a warning
    client = fhir.client(Prefer="handling=strict")
    for resource in statement["rest"][0]["resource"]:
        t = resource["type"]
        params = [(p["name"], SAMPLE[p["type"]]) for p in resource["searchParam"]]
        params += [("_include", i) for i in resource["searchInclude"]]
        params += [("_revinclude", i) for i in resource["searchRevInclude"]]
        _no_warning(client, t, params)
    common = [(p["name"], SAMPLE[p["type"]]) for p in statement["rest"][0]["searchParam"]]
    _no_warning(client, "Patient", common)


def test_what_is_not_declared_is_refused(fhir: RunningFhir, statement: dict[str, Any]) -> None:
    client = fhir.client()
    declared = {
        p["name"] for r in statement["rest"][0]["resource"] if r["type"] == "Observation"
        for p in r["searchParam"]
    }  # fmt: skip
    assert "value-quantity" not in declared
    bundle = client.get("Observation?value-quantity=5").json()
    assert "value-quantity" in str(entries(bundle, "outcome"))
    assert client.delete("Observation/obs-hr-1").status_code == 405
    assert client.get("Specimen").status_code == 404
