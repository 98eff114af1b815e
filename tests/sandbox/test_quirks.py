"""The sandbox's per-site behaviour switches (``--quirk``), over real HTTP to a started sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.launch import discover, standalone_launch
from tests.support.servers import RunningServer, start_sandbox

SCOPE = "openid fhirUser launch/patient offline_access user/*.cruds"
COMBINATION = (
    "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination"
)


@pytest.fixture(scope="module")
def quirky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_sandbox(
        tmp_path_factory.mktemp("quirky"),
        auto_login="prac-1:pat-1",
        quirks=("no-refresh-token", "search-needs-patient", "refuse-provenance"),
    )
    yield server
    server.stop()


def test_a_quirky_site_behaves_as_its_switches_say(quirky: RunningServer) -> None:
    with httpx.Client(timeout=10) as http:
        cfg = discover(http, quirky.fhir_base)
        token = standalone_launch(http, cfg, client_id=quirky.client_id, scope=SCOPE).token
        assert "offline_access" in token["scope"] and "refresh_token" not in token
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        base = quirky.fhir_base
        refused = http.get(
            f"{base}/DocumentReference", params={"identifier": "x|y"}, headers=headers
        )
        assert refused.status_code == 400
        assert "must name the patient" in refused.json()["issue"][0]["diagnostics"]
        fine = http.get(
            f"{base}/DocumentReference",
            params={"identifier": "x|y", "patient": "pat-1"},
            headers=headers,
        )
        assert fine.status_code == 200
        statement = http.get(f"{base}/metadata").json()
        docs = next(r for r in statement["rest"][0]["resource"] if r["type"] == "DocumentReference")
        assert docs["extension"][0]["url"] == COMBINATION
        provenance = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Provenance")
        assert {"code": "create"} in provenance["interaction"]
        posted = http.post(
            f"{base}/Provenance",
            json={"resourceType": "Provenance", "recorded": "2026-01-01T00:00:00Z"},
            headers=headers,
        )
        assert posted.status_code == 403
        assert "not supported by this server" in posted.text


def test_an_unknown_quirk_is_refused_with_the_valid_names(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="valid: no-refresh-token"):
        start_sandbox(tmp_path, quirks=("epic",))
