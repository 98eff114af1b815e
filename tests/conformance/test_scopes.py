"""SMART scopes are enforced on FHIR calls: 403 with an OperationOutcome, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.conformance.conftest import TIMEOUT
from tests.conformance.helpers import (
    WRITE_HEADERS,
    docref,
    matches,
    new_identifier,
    search,
    show,
    token_param,
)
from tests.conformance.quirks import PATIENT_SCOPE_TYPE_ONLY, QUIRKS, quirk
from tests.support.launch import LaunchResult
from tests.support.servers import RunningServer


def _client(ehr: RunningServer, token: dict[str, Any]) -> httpx.Client:
    return httpx.Client(
        base_url=ehr.fhir_base.rstrip("/") + "/",
        timeout=TIMEOUT,
        headers={
            "Authorization": f"Bearer {token['access_token']}",
            "Accept": "application/fhir+json",
        },
    )


def test_write_without_a_write_scope_is_403_and_writes_nothing(
    ehr: RunningServer, launch: Callable[..., LaunchResult], fhir: httpx.Client
) -> None:
    read_only = launch(scope="openid fhirUser launch/patient user/*.rs").token
    ident = new_identifier()
    with _client(ehr, read_only) as limited:
        assert limited.get("Patient/pat-1").status_code == 200
        r = limited.post("DocumentReference", json=docref(ident), headers=WRITE_HEADERS)
    assert r.status_code == 403, show(r)
    assert r.json().get("resourceType") == "OperationOutcome", show(r)
    assert "DocumentReference" in r.text, f"the refusal names what is missing\n{show(r)}"
    assert matches(search(fhir, "DocumentReference", {"identifier": token_param(ident)})) == []


def test_patient_scope_stays_in_the_patient_compartment(
    ehr: RunningServer, launch: Callable[..., LaunchResult]
) -> None:
    tok = launch(scope="openid fhirUser launch/patient patient/*.rs").token
    in_context = tok["patient"]
    outside = "pat-2" if in_context != "pat-2" else "pat-1"
    with _client(ehr, tok) as patient_scoped:
        assert patient_scoped.get(f"Patient/{in_context}").status_code == 200
        other = patient_scoped.get(f"Patient/{outside}")
    if quirk(ehr, PATIENT_SCOPE_TYPE_ONLY):
        assert other.status_code == 200, (QUIRKS[ehr.name][PATIENT_SCOPE_TYPE_ONLY], show(other))
    else:
        assert other.status_code == 403, show(other)
        assert other.json().get("resourceType") == "OperationOutcome", show(other)
