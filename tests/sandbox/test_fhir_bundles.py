"""Transaction and batch Bundles on the sandbox FHIR server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.test_fhir_support import (
    NOTE_IDS,
    RunningFhir,
    issues,
    note,
    observation,
    running_fhir,
)


@pytest.fixture
def fhir(tmp_path: Path) -> Iterator[RunningFhir]:
    with running_fhir(tmp_path / "fhir.db") as running:
        yield running


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def put(resource: dict[str, Any], **request: str) -> dict[str, Any]:
    url = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": url, **request}}


def get(url: str) -> dict[str, Any]:
    return {"request": {"method": "GET", "url": url}}


def commit(identifier: str) -> list[dict[str, Any]]:
    """A note, an observation and a Provenance pointing at both, linked by urn:uuid."""
    doc_url, obs_url = f"urn:uuid:{identifier}-doc", f"urn:uuid:{identifier}-obs"
    obs = observation("x", "pat-1", "8867-4", "2024-06-01T10:00:00Z", 70, "/min", encounter="enc-1")
    del obs["id"]
    obs["identifier"] = [{"system": NOTE_IDS, "value": f"{identifier}-obs"}]
    obs["derivedFrom"] = [{"reference": doc_url}]
    provenance = {
        "resourceType": "Provenance",
        "recorded": "2024-06-01T10:00:00Z",
        "target": [{"reference": doc_url}, {"reference": obs_url}],
        "agent": [{"who": {"reference": "Practitioner/prac-1"}}],
        "text": {"status": "generated",
                 "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{doc_url}">note</a></div>'},
    }  # fmt: skip
    criteria = f"identifier={NOTE_IDS}|{identifier}"
    return [
        post(note(identifier), doc_url, ifNoneExist=criteria),
        post(obs, obs_url, ifNoneExist=f"identifier={NOTE_IDS}|{identifier}-obs"),
        post(provenance, f"urn:uuid:{identifier}-prov"),
    ]


def test_transaction_resolves_urn_uuids_everywhere(fhir: RunningFhir) -> None:
    client = fhir.client()
    r = client.post("", json=bundle("transaction", *commit("c1")))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 3
    doc_loc, obs_loc, prov_loc = (e["response"]["location"] for e in body["entry"])
    assert doc_loc.startswith(f"{fhir.base}/DocumentReference/") and doc_loc.endswith("/_history/1")
    assert all(e["response"]["etag"] == 'W/"1"' for e in body["entry"])
    doc_ref = "/".join(doc_loc.split("/")[-4:-2])
    obs_ref = "/".join(obs_loc.split("/")[-4:-2])
    provenance = client.get("/".join(prov_loc.split("/")[-4:-2])).json()
    assert [t["reference"] for t in provenance["target"]] == [doc_ref, obs_ref]
    assert f'href="{doc_ref}"' in provenance["text"]["div"]
    obs = client.get(obs_ref).json()
    assert obs["derivedFrom"][0]["reference"] == doc_ref
    # the resolved references are searchable
    found = client.get(f"Provenance?target={doc_ref}").json()
    assert found["total"] == 1
    assert client.get("Provenance?patient=pat-1").json()["total"] == 0  # targets are not Patients


def test_transaction_replayed_with_if_none_exist_creates_nothing_new(fhir: RunningFhir) -> None:
    client = fhir.client()
    first = client.post("", json=bundle("transaction", *commit("c2"))).json()
    count = fhir.count()
    entries = commit("c2")[:2]  # the note and the observation again (as after a lost response)
    replay = client.post("", json=bundle("transaction", *entries))
    assert replay.status_code == 200
    body = replay.json()
    assert [e["response"]["status"] for e in body["entry"]] == ["200 OK", "200 OK"]
    assert body["entry"][0]["response"]["location"] == first["entry"][0]["response"]["location"]
    assert fhir.count() == count


def test_failing_entry_rolls_back_the_whole_transaction(fhir: RunningFhir) -> None:
    client = fhir.client()
    before = fhir.snapshot()
    bad_obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
               "effectiveDateTime": "2024-02-30T10:00:00Z"}  # fmt: skip
    r = client.post("", json=bundle("transaction", *commit("c3"), post(bad_obs)))
    assert r.status_code == 422
    text = issues(r)
    assert "rolled back" in text and "Entry 3 (POST Observation)" in text
    assert "effectiveDateTime" in text
    assert fhir.snapshot() == before


def test_if_match_failure_in_transaction_is_412_and_rolls_back(fhir: RunningFhir) -> None:
    client = fhir.client()
    doc = client.get("DocumentReference/doc-1").json()
    client.put("DocumentReference/doc-1", json=doc)  # now version 2
    before = fhir.snapshot()
    stale = put({**doc, "docStatus": "amended"}, ifMatch='W/"1"')
    r = client.post("", json=bundle("transaction", post(note("c4")), stale))
    assert r.status_code == 412
    assert "Entry 1 (PUT DocumentReference/doc-1)" in issues(r)
    assert fhir.snapshot() == before
    fresh = put({**doc, "docStatus": "amended"}, ifMatch='W/"2"')
    ok = client.post("", json=bundle("transaction", post(note("c4")), fresh))
    assert ok.status_code == 200
    assert ok.json()["entry"][1]["response"]["etag"] == 'W/"3"'


def test_if_none_exist_matching_two_fails_the_transaction(fhir: RunningFhir) -> None:
    client = fhir.client()
    client.post("DocumentReference", json=note("dup"))
    client.post("DocumentReference", json=note("dup"))
    before = fhir.snapshot()
    r = client.post(
        "", json=bundle("transaction", post(note("dup"), ifNoneExist=f"identifier={NOTE_IDS}|dup"))
    )
    assert r.status_code == 412 and "more than one" in issues(r)
    assert fhir.snapshot() == before


def test_unresolved_urn_uuid_and_duplicates_are_refused(fhir: RunningFhir) -> None:
    client = fhir.client()
    before = fhir.snapshot()
    dangling = {**note("c5"), "relatesTo": [{"code": "replaces",
                                             "target": {"reference": "urn:uuid:nowhere"}}]}  # fmt: skip
    r = client.post("", json=bundle("transaction", post(dangling)))
    assert r.status_code == 400 and "urn:uuid:nowhere" in issues(r)
    doc = client.get("DocumentReference/doc-1").json()
    r = client.post("", json=bundle("transaction", put(doc), put(doc)))
    assert r.status_code == 409 and "only once" in issues(r)
    assert fhir.snapshot() == before


def test_conditional_reference_is_resolved(fhir: RunningFhir) -> None:
    client = fhir.client()
    obs = observation("x", "pat-1", "8867-4", "2024-06-01T10:00:00Z", 70, "/min")
    del obs["id"]
    obs["subject"] = {"reference": "Patient?identifier=urn:oid:2.16.840.1.113883.19.5|MRN-1004"}
    r = client.post("", json=bundle("transaction", post(obs)))
    assert r.status_code == 200, r.text
    location = r.json()["entry"][0]["response"]["location"]
    stored = client.get("/".join(location.split("/")[-4:-2])).json()
    assert stored["subject"]["reference"] == "Patient/pat-2"
    before = fhir.snapshot()
    obs["subject"] = {"reference": "Patient?gender=female"}  # two patients
    r = client.post("", json=bundle("transaction", post(obs)))
    assert r.status_code == 412 and "matches 2" in issues(r)
    assert fhir.snapshot() == before


def test_transaction_gets_see_the_writes_and_come_last(fhir: RunningFhir) -> None:
    client = fhir.client()
    r = client.post(
        "",
        json=bundle("transaction", get(f"DocumentReference?identifier={NOTE_IDS}|c6"),
                    post(note("c6"), "urn:uuid:c6")),
    )  # fmt: skip
    assert r.status_code == 200
    search_result = r.json()["entry"][0]["resource"]
    assert search_result["type"] == "searchset" and search_result["total"] == 1


def test_transaction_prefer_minimal_and_operation_outcome(fhir: RunningFhir) -> None:
    minimal = fhir.client(Prefer="return=minimal").post(
        "", json=bundle("transaction", post(note("c7")))
    )
    entry = minimal.json()["entry"][0]
    assert "resource" not in entry and entry["response"]["status"] == "201 Created"
    oo = fhir.client(Prefer="return=OperationOutcome").post(
        "", json=bundle("transaction", post(note("c8")))
    )
    outcome = oo.json()["entry"][0]["response"]["outcome"]
    assert outcome["issue"][0]["severity"] == "information"
    full = fhir.client().post("", json=bundle("transaction", post(note("c9"))))
    assert full.json()["entry"][0]["resource"]["resourceType"] == "DocumentReference"


def test_batch_entries_succeed_or_fail_independently(fhir: RunningFhir) -> None:
    client = fhir.client()
    bad = {**note("b-bad"), "status": "nonsense"}
    r = client.post(
        "",
        json=bundle(
            "batch",
            post(note("b1")),
            post(bad),
            get("Patient/pat-1"),
            get("Patient/nobody"),
            get("Condition?patient=pat-1&clinical-status=active"),
            {"request": {"method": "DELETE", "url": "Patient/pat-1"}},
            post({**note("b2"), "relatesTo": [{"code": "replaces",
                                               "target": {"reference": "urn:uuid:b1"}}]}),
        ),
    )  # fmt: skip
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"][:3] for e in body["entry"]]
    assert statuses == ["201", "422", "200", "404", "200", "405", "400"]
    assert "nonsense" in body["entry"][1]["response"]["outcome"]["issue"][0]["diagnostics"]
    assert "batch" in body["entry"][6]["response"]["outcome"]["issue"][0]["diagnostics"]
    assert body["entry"][4]["resource"]["total"] == 1
    assert body["entry"][2]["resource"]["id"] == "pat-1"
    found = client.get(f"DocumentReference?identifier={NOTE_IDS}|b1").json()
    assert found["total"] == 1
    assert client.get(f"DocumentReference?identifier={NOTE_IDS}|b-bad").json()["total"] == 0


def test_batch_if_none_exist_per_entry(fhir: RunningFhir) -> None:
    client = fhir.client()
    entry = post(note("b3"), ifNoneExist=f"identifier={NOTE_IDS}|b3")
    r = client.post("", json=bundle("batch", entry, entry))
    assert [e["response"]["status"] for e in r.json()["entry"]] == ["201 Created", "200 OK"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"resourceType": "Bundle", "type": "collection"}, 400, "transaction or a batch"),
        ({"resourceType": "Patient"}, 400, "Bundle of type transaction or batch"),
        ([], 400, "Bundle"),
        ({"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {}}]}, 400,
         "request.method"),
        ({"resourceType": "Bundle", "type": "transaction", "bogus": 1}, 400, "bogus"),
        ({"resourceType": "Bundle", "type": "transaction",
          "entry": [{"request": {"method": "PUT", "url": "Patient?name=x"},
                     "resource": {"resourceType": "Patient"}}]}, 405, "conditional update"),
        ({"resourceType": "Bundle", "type": "transaction",
          "entry": [{"request": {"method": "POST", "url": "Observation"},
                     "resource": {"resourceType": "Patient"}}]}, 400, "URL is for Observation"),
    ],
)  # fmt: skip
def test_malformed_bundles(fhir: RunningFhir, body: Any, status: int, words: str) -> None:
    before = fhir.snapshot()
    r = fhir.client().post("", json=body)
    assert r.status_code == status, r.text
    assert words in issues(r)
    assert fhir.snapshot() == before
