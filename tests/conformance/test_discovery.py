"""Discovery: what each server declares, before any sign-in."""

from __future__ import annotations

import httpx

from tests.conformance.helpers import show
from tests.support.launch import SmartConfig
from tests.support.servers import RunningServer


def test_smart_configuration_declares_pkce_s256_and_endpoints(smart: SmartConfig) -> None:
    raw = smart.raw
    assert "S256" in raw.get("code_challenge_methods_supported", []), raw
    assert "plain" not in raw.get("code_challenge_methods_supported", []), raw
    for key in ("authorization_endpoint", "token_endpoint"):
        assert str(raw.get(key, "")).startswith("http://127.0.0.1:"), (key, raw)
    assert "launch-standalone" in raw.get("capabilities", []), raw
    assert "client-public" in raw.get("capabilities", []), raw
    if "sso-openid-connect" in raw.get("capabilities", []):
        assert raw.get("issuer") and raw.get("jwks_uri"), (
            "sso-openid-connect needs issuer + jwks_uri"
        )


def test_metadata_is_an_r4_capability_statement(ehr: RunningServer, http: httpx.Client) -> None:
    r = http.get(f"{ehr.fhir_base}/metadata", headers={"Accept": "application/fhir+json"})
    assert r.status_code == 200, show(r)
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert str(cs.get("fhirVersion", "")).startswith("4."), cs.get("fhirVersion")
    assert any("json" in f for f in cs.get("format", [])), cs.get("format")
    rest = cs["rest"][0]
    assert rest["mode"] == "server"
    types = {res["type"] for res in rest.get("resource", [])}
    assert {"Patient", "Observation", "DocumentReference", "Provenance"} <= types, types


def test_fhir_calls_need_a_bearer_token(ehr: RunningServer, http: httpx.Client) -> None:
    url = f"{ehr.fhir_base}/Patient/pat-1"
    for headers in ({}, {"Authorization": "Bearer not-a-real-token"}):
        r = http.get(url, headers={"Accept": "application/fhir+json", **headers})
        assert r.status_code == 401, show(r)
        # RFC 6750 section 3: a 401 from a resource server carries WWW-Authenticate: Bearer ...
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer"), show(r)
        assert r.json().get("resourceType") == "OperationOutcome", show(r)
