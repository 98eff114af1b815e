"""Transaction Bundles: all or nothing, urn:uuid references resolved, ifNoneExist per entry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
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


def _post_entry(resource: dict[str, Any], **request: str) -> dict[str, Any]:
    full_url = f"urn:uuid:{uuid.uuid4()}"
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }


def _transaction(fhir: httpx.Client, entries: list[dict[str, Any]]) -> httpx.Response:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return fhir.post("", json=bundle, headers=WRITE_HEADERS)


def _provenance(target: str) -> dict[str, Any]:
    return {
        "resourceType": "Provenance",
        "target": [{"reference": target}],
        "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
        "agent": [{"who": {"reference": "Practitioner/prac-1"}}],
    }


def _found(fhir: httpx.Client, ident: dict[str, str]) -> list[dict[str, Any]]:
    return matches(search(fhir, "DocumentReference", {"identifier": token_param(ident)}))


def _id_from_location(location: str, resource_type: str) -> str:
    parts = location.split("/")
    return parts[parts.index(resource_type) + 1]


def test_a_failing_entry_leaves_nothing_behind(fhir: httpx.Client) -> None:
    ident = new_identifier()
    invalid = {"resourceType": "Observation", "subject": {"reference": "Patient/pat-1"}}
    # status and code are required (1..1) in R4; the valid entry comes first on purpose
    r = _transaction(fhir, [_post_entry(docref(ident)), _post_entry(invalid)])
    assert 400 <= r.status_code < 500, show(r)
    assert r.json().get("resourceType") == "OperationOutcome", show(r)
    assert _found(fhir, ident) == [], "the valid entry of a failed transaction must not persist"


def test_a_failing_if_match_entry_leaves_nothing_behind(fhir: httpx.Client) -> None:
    existing = fhir.post("DocumentReference", json=docref(new_identifier()), headers=WRITE_HEADERS)
    assert existing.status_code == 201, show(existing)
    doc, v1 = existing.json(), etag_version(existing.headers.get("etag"))
    doc["description"] = "current edit"
    current = fhir.put(
        f"DocumentReference/{doc['id']}",
        json=doc,
        headers={**WRITE_HEADERS, "If-Match": f'W/"{v1}"'},
    )
    assert current.status_code == 200, show(current)
    v2 = etag_version(current.headers.get("etag"))
    doc["description"] = "edit under the stale version"
    stale = {
        "resource": doc,
        "request": {
            "method": "PUT",
            "url": f"DocumentReference/{doc['id']}",
            "ifMatch": f'W/"{v1}"',
        },
    }
    ident = new_identifier()
    r = _transaction(fhir, [_post_entry(docref(ident)), stale])
    assert r.status_code in (409, 412), show(r)
    assert _found(fhir, ident) == []
    now = fhir.get(f"DocumentReference/{doc['id']}").json()
    assert (now["meta"]["versionId"], now.get("description")) == (v2, "current edit")


def test_urn_uuid_references_are_resolved(fhir: httpx.Client) -> None:
    ident = new_identifier()
    note = _post_entry(docref(ident))
    r = _transaction(fhir, [note, _post_entry(_provenance(note["fullUrl"]))])
    assert r.status_code == 200, show(r)
    result = r.json()
    assert result["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert all(s.startswith("201") for s in statuses), statuses
    doc_id = _id_from_location(result["entry"][0]["response"]["location"], "DocumentReference")
    prov_id = _id_from_location(result["entry"][1]["response"]["location"], "Provenance")
    assert [d["id"] for d in _found(fhir, ident)] == [doc_id]
    prov = fhir.get(f"Provenance/{prov_id}")
    assert prov.status_code == 200, show(prov)
    assert prov.json()["target"] == [{"reference": f"DocumentReference/{doc_id}"}]


def test_if_none_exist_entry_makes_a_replayed_transaction_idempotent(fhir: httpx.Client) -> None:
    ident = new_identifier()
    doc_ids, targets = [], []
    for attempt in range(2):
        note = _post_entry(docref(ident), ifNoneExist=f"identifier={token_param(ident)}")
        r = _transaction(fhir, [note, _post_entry(_provenance(note["fullUrl"]))])
        assert r.status_code == 200, show(r)
        entries = r.json()["entry"]
        assert entries[0]["response"]["status"].startswith("201" if attempt == 0 else "200")
        doc_ids.append(
            _id_from_location(entries[0]["response"]["location"], "DocumentReference")
            if "location" in entries[0]["response"]
            else entries[0]["resource"]["id"]
        )
        prov_id = _id_from_location(entries[1]["response"]["location"], "Provenance")
        targets.append(fhir.get(f"Provenance/{prov_id}").json()["target"][0]["reference"])
    assert doc_ids[0] == doc_ids[1]
    assert [d["id"] for d in _found(fhir, ident)] == [doc_ids[0]], "replay made a duplicate"
    # the replay's urn:uuid resolves to the resource that already existed
    assert targets == [f"DocumentReference/{doc_ids[0]}"] * 2
