"""Writes: conditional create (dedup), If-Match (no lost updates), Prefer, update-as-create."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.conformance.helpers import (
    WRITE_HEADERS,
    docref,
    etag_version,
    matches,
    new_identifier,
    search,
    show,
    token_param,
)
from tests.conformance.quirks import (
    PREFER_MINIMAL_IGNORED,
    QUIRKS,
    UNQUOTED_IF_MATCH_IGNORED,
    UPDATE_AS_CREATE_200,
    VERSION_ID_UUID,
    quirk,
)
from tests.support.servers import RunningServer

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _create(
    fhir: httpx.Client, resource: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return fhir.post(
        resource["resourceType"], json=resource, headers={**WRITE_HEADERS, **(headers or {})}
    )


def test_conditional_create_does_not_duplicate(fhir: httpx.Client) -> None:
    ident = new_identifier()
    guard = {"If-None-Exist": f"identifier={token_param(ident)}"}
    first = _create(fhir, docref(ident), guard)
    assert first.status_code == 201, show(first)
    assert "/DocumentReference/" in first.headers.get("location", ""), show(first)
    second = _create(fhir, docref(ident, text="a retry must not make a second note"), guard)
    assert second.status_code == 200, show(second)
    assert second.json()["id"] == first.json()["id"], "200 returns the existing resource"
    found = matches(search(fhir, "DocumentReference", {"identifier": token_param(ident)}))
    assert [d["id"] for d in found] == [first.json()["id"]]


def test_conditional_create_with_two_matches_is_412(fhir: httpx.Client) -> None:
    ident = new_identifier()
    for _ in range(2):
        assert _create(fhir, docref(ident)).status_code == 201
    r = _create(fhir, docref(ident), {"If-None-Exist": f"identifier={token_param(ident)}"})
    assert r.status_code == 412, show(r)
    assert len(matches(search(fhir, "DocumentReference", {"identifier": token_param(ident)}))) == 2


def _created_and_updated(ehr: RunningServer, fhir: httpx.Client) -> tuple[dict[str, Any], str, str]:
    """A DocumentReference updated once under If-Match: (current resource, v1, v2)."""
    created = _create(fhir, docref(new_identifier()))
    assert created.status_code == 201, show(created)
    doc = created.json()
    v1 = etag_version(created.headers.get("etag"))
    assert v1 == doc["meta"]["versionId"], "ETag carries meta.versionId"
    doc["description"] = "first edit"
    updated = fhir.put(
        f"DocumentReference/{doc['id']}",
        json=doc,
        headers={**WRITE_HEADERS, "If-Match": f'W/"{v1}"'},
    )
    assert updated.status_code == 200, show(updated)
    v2 = etag_version(updated.headers.get("etag"))
    assert v2 != v1
    if quirk(ehr, VERSION_ID_UUID):
        assert UUID.match(v1) and UUID.match(v2), QUIRKS[ehr.name][VERSION_ID_UUID]
    else:
        assert (v1, v2) == ("1", "2"), "versionId counts 1, 2, 3"
    return updated.json(), v1, v2


def _assert_unchanged(fhir: httpx.Client, doc_id: str, version: str) -> None:
    now = fhir.get(f"DocumentReference/{doc_id}")
    assert now.status_code == 200, show(now)
    assert now.json()["meta"]["versionId"] == version, "a refused update changes nothing"
    assert now.json().get("description") == "first edit"


def test_stale_if_match_is_412_and_changes_nothing(ehr: RunningServer, fhir: httpx.Client) -> None:
    doc, v1, v2 = _created_and_updated(ehr, fhir)
    doc["description"] = "edit based on a stale copy"
    # Always the quoted weak form: the peer ignores unquoted values (see the next check).
    stale = fhir.put(
        f"DocumentReference/{doc['id']}",
        json=doc,
        headers={**WRITE_HEADERS, "If-Match": f'W/"{v1}"'},
    )
    assert stale.status_code == 412, show(stale)
    assert stale.json().get("resourceType") == "OperationOutcome", show(stale)
    _assert_unchanged(fhir, doc["id"], v2)


def test_unquoted_stale_if_match(ehr: RunningServer, fhir: httpx.Client) -> None:
    doc, v1, v2 = _created_and_updated(ehr, fhir)
    doc["description"] = "edit based on a stale copy"
    r = fhir.put(
        f"DocumentReference/{doc['id']}", json=doc, headers={**WRITE_HEADERS, "If-Match": v1}
    )
    if quirk(ehr, UNQUOTED_IF_MATCH_IGNORED):
        # Documented: the precondition is dropped and the stale edit overwrites version 2.
        assert r.status_code == 200, (QUIRKS[ehr.name][UNQUOTED_IF_MATCH_IGNORED], show(r))
        assert r.json()["description"] == "edit based on a stale copy"
    else:
        # A precondition the server cannot honour must never be dropped silently.
        assert r.status_code in (400, 412), show(r)
        _assert_unchanged(fhir, doc["id"], v2)


def test_prefer_return_minimal(ehr: RunningServer, fhir: httpx.Client) -> None:
    r = _create(fhir, docref(new_identifier()), {"Prefer": "return=minimal"})
    assert r.status_code == 201, show(r)
    assert "/DocumentReference/" in r.headers.get("location", ""), show(r)
    if quirk(ehr, PREFER_MINIMAL_IGNORED):
        assert r.json()["resourceType"] == "DocumentReference", QUIRKS[ehr.name][
            PREFER_MINIMAL_IGNORED
        ]
    else:
        assert not r.content.strip(), f"return=minimal: no body expected\n{show(r)}"


def test_update_as_create_follows_the_capability_statement(
    ehr: RunningServer, fhir: httpx.Client
) -> None:
    cs = fhir.get("metadata").json()
    declared = next(res for res in cs["rest"][0]["resource"] if res["type"] == "DocumentReference")
    new_id = f"conf-{uuid.uuid4().hex[:20]}"
    doc = {**docref(new_identifier()), "id": new_id}
    r = fhir.put(f"DocumentReference/{new_id}", json=doc, headers=WRITE_HEADERS)
    if not declared.get("updateCreate"):
        assert 400 <= r.status_code < 500, f"updateCreate is not declared\n{show(r)}"
        assert fhir.get(f"DocumentReference/{new_id}").status_code in (404, 410)
        return
    if quirk(ehr, UPDATE_AS_CREATE_200):
        assert r.status_code == 200, (QUIRKS[ehr.name][UPDATE_AS_CREATE_200], show(r))
    else:
        assert r.status_code == 201, show(r)
    assert fhir.get(f"DocumentReference/{new_id}").json()["id"] == new_id
