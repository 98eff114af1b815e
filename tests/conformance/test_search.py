"""Search behaviours where servers legitimately differ; each difference is a named quirk."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conformance.helpers import (
    WRITE_HEADERS,
    docref,
    matches,
    new_identifier,
    search,
    show,
    token_param,
)
from tests.conformance.quirks import (
    BARE_ID_SINGLE_TARGET_ONLY,
    QUIRKS,
    UNKNOWN_SEARCH_PARAM_ZERO_RESULTS,
    quirk,
)
from tests.support.servers import RunningServer


def _note(fhir: httpx.Client, **kw: Any) -> tuple[dict[str, str], str]:
    ident = new_identifier()
    r = fhir.post("DocumentReference", json=docref(ident, **kw), headers=WRITE_HEADERS)
    assert r.status_code == 201, show(r)
    return ident, r.json()["id"]


def test_unknown_search_parameter(ehr: RunningServer, fhir: httpx.Client) -> None:
    ident, doc_id = _note(fhir)
    bundle = search(
        fhir, "DocumentReference", {"identifier": token_param(ident), "no-such-param": "x"}
    )
    if quirk(ehr, UNKNOWN_SEARCH_PARAM_ZERO_RESULTS):
        assert matches(bundle) == [], QUIRKS[ehr.name][UNKNOWN_SEARCH_PARAM_ZERO_RESULTS]
        return
    # Lenient handling: the parameter is ignored and the client is told so.
    assert [d["id"] for d in matches(bundle)] == [doc_id]
    outcomes = [
        e["resource"]
        for e in bundle.get("entry", [])
        if e.get("resource", {}).get("resourceType") == "OperationOutcome"
    ]
    assert outcomes, f"an ignored parameter is reported in an OperationOutcome entry: {bundle}"
    text = str(outcomes)
    assert "no-such-param" in text, f"the warning names the parameter: {outcomes}"


def test_encounter_reference_search(ehr: RunningServer, fhir: httpx.Client) -> None:
    ident, doc_id = _note(fhir, encounter="enc-1")
    typed = search(
        fhir,
        "DocumentReference",
        {"identifier": token_param(ident), "encounter": "Encounter/enc-1"},
    )
    assert [d["id"] for d in matches(typed)] == [doc_id]
    bare = search(
        fhir, "DocumentReference", {"identifier": token_param(ident), "encounter": "enc-1"}
    )
    if quirk(ehr, BARE_ID_SINGLE_TARGET_ONLY):
        assert matches(bare) == [], QUIRKS[ehr.name][BARE_ID_SINGLE_TARGET_ONLY]
    else:
        assert [d["id"] for d in matches(bare)] == [doc_id]
