"""Read, vread, create, update, instance history, ETag/Location/Last-Modified, If-Match,
If-None-Exist, Prefer and the 404/405 answers of the sandbox FHIR server."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from tests.sandbox.test_fhir_support import (
    NOTE_IDS,
    RunningFhir,
    issues,
    note,
    running_fhir,
)


@pytest.fixture
def fhir(tmp_path: Path) -> Iterator[RunningFhir]:
    with running_fhir(tmp_path / "fhir.db") as running:
        yield running


def test_read_returns_resource_with_version_headers(fhir: RunningFhir) -> None:
    r = fhir.client().get("Patient/pat-1")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    assert body["id"] == "pat-1" and body["meta"]["versionId"] == "1"
    assert r.headers["etag"] == 'W/"1"'
    assert parsedate_to_datetime(r.headers["last-modified"]).year >= 2024


def test_create_assigns_id_version_1_and_location(fhir: RunningFhir) -> None:
    client = fhir.client()
    r = client.post("DocumentReference", json={**note("n-create"), "id": "ignored"})
    assert r.status_code == 201
    body = r.json()
    assert body["id"] != "ignored"
    assert body["meta"]["versionId"] == "1"
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["location"] == f"{fhir.base}/DocumentReference/{body['id']}/_history/1"
    again = client.get(f"DocumentReference/{body['id']}")
    assert again.json() == body


def test_update_increments_version_1_2_3_and_keeps_history(fhir: RunningFhir) -> None:
    client = fhir.client()
    created = client.post("DocumentReference", json=note("n-upd")).json()
    doc_id = created["id"]
    for expected in ("2", "3"):
        body = {**created, "docStatus": "amended"}
        r = client.put(f"DocumentReference/{doc_id}", json=body)
        assert r.status_code == 200
        assert r.json()["meta"]["versionId"] == expected
        assert r.headers["etag"] == f'W/"{expected}"'
        assert r.headers["location"].endswith(f"/_history/{expected}")
    history = client.get(f"DocumentReference/{doc_id}/_history").json()
    assert history["type"] == "history" and history["total"] == 3
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["3", "2", "1"]
    assert history["entry"][-1]["request"]["method"] == "POST"
    assert history["entry"][0]["response"]["etag"] == 'W/"3"'
    v1 = client.get(f"DocumentReference/{doc_id}/_history/1")
    assert v1.status_code == 200 and v1.json()["docStatus"] == "final"
    assert v1.headers["etag"] == 'W/"1"'
    assert client.get(f"DocumentReference/{doc_id}/_history/9").status_code == 404
    assert client.get(f"DocumentReference/{doc_id}/_history/x").status_code == 404


def test_update_as_create_with_client_id(fhir: RunningFhir) -> None:
    client = fhir.client()
    body = {**note("n-client-id"), "id": "client-chosen-1"}
    r = client.put("DocumentReference/client-chosen-1", json=body)
    assert r.status_code == 201
    assert r.headers["location"] == f"{fhir.base}/DocumentReference/client-chosen-1/_history/1"
    assert client.put("DocumentReference/client-chosen-1", json=body).status_code == 200


def test_server_sets_meta_but_keeps_profiles_and_tags(fhir: RunningFhir) -> None:
    body = {
        **note("n-meta"),
        "meta": {"versionId": "99", "lastUpdated": "2000-01-01T00:00:00Z",
                 "profile": ["http://example.org/p"], "tag": [{"code": "t"}]},
    }  # fmt: skip
    stored = fhir.client().post("DocumentReference", json=body).json()
    assert stored["meta"]["versionId"] == "1"
    assert stored["meta"]["lastUpdated"] > "2020"
    assert stored["meta"]["profile"] == ["http://example.org/p"]


def test_if_match_current_version_updates_stale_version_is_412(fhir: RunningFhir) -> None:
    client = fhir.client()
    created = client.post("DocumentReference", json=note("n-ifmatch")).json()
    url = f"DocumentReference/{created['id']}"
    ok = client.put(url, json=created, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == 'W/"2"'
    before = fhir.snapshot()
    stale = client.put(url, json={**created, "docStatus": "amended"}, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert "current version is 2" in issues(stale)
    assert fhir.snapshot() == before
    missing = client.put(
        "DocumentReference/not-there", json={**created, "id": "not-there"},
        headers={"If-Match": 'W/"1"'},
    )  # fmt: skip
    assert missing.status_code == 412
    bad = client.put(url, json=created, headers={"If-Match": "W/garbage, x y"})
    assert bad.status_code == 400
    assert fhir.snapshot() == before


def test_if_none_exist_0_creates_1_returns_existing_2_is_412(fhir: RunningFhir) -> None:
    client = fhir.client()
    criteria = {"If-None-Exist": f"identifier={NOTE_IDS}|n-cond"}
    first = client.post("DocumentReference", json=note("n-cond"), headers=criteria)
    assert first.status_code == 201
    second = client.post("DocumentReference", json=note("n-cond"), headers=criteria)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["etag"] == 'W/"1"'
    assert fhir.count("DocumentReference") == 2  # the seed's doc-1 + one
    # a second resource with the same identifier (created without the condition)
    client.post("DocumentReference", json=note("n-cond"))
    before = fhir.snapshot()
    third = client.post("DocumentReference", json=note("n-cond"), headers=criteria)
    assert third.status_code == 412
    assert "more than one" in issues(third)
    assert fhir.snapshot() == before


def test_if_none_exist_with_unknown_parameter_is_400_not_a_blind_match(fhir: RunningFhir) -> None:
    before = fhir.snapshot()
    r = fhir.client().post(
        "DocumentReference", json=note("n-x"), headers={"If-None-Exist": "colour=blue"}
    )
    assert r.status_code == 400
    assert "colour" in issues(r)
    assert fhir.snapshot() == before


@pytest.mark.parametrize("prefer", ["return=minimal", "return=representation",
                                    "return=OperationOutcome", None])  # fmt: skip
def test_prefer_return_on_create_and_update(fhir: RunningFhir, prefer: str | None) -> None:
    headers = {"Prefer": prefer} if prefer else {}
    client = fhir.client(**headers)
    r = client.post("DocumentReference", json=note("n-prefer"))
    assert r.status_code == 201
    assert r.headers["location"] and r.headers["etag"] == 'W/"1"'
    if prefer == "return=minimal":
        assert r.content == b""
    elif prefer == "return=OperationOutcome":
        oo = r.json()
        assert oo["resourceType"] == "OperationOutcome"
        assert oo["issue"][0]["severity"] == "information"
        assert "Created DocumentReference/" in oo["issue"][0]["diagnostics"]
    else:
        assert r.json()["resourceType"] == "DocumentReference"
    doc_id = r.headers["location"].split("/")[-3]
    stored = fhir.client().get(f"DocumentReference/{doc_id}").json()
    u = client.put(f"DocumentReference/{doc_id}", json=stored)
    assert u.status_code == 200 and u.headers["etag"] == 'W/"2"'
    if prefer == "return=minimal":
        assert u.content == b""


def test_conditional_read_304(fhir: RunningFhir) -> None:
    client = fhir.client()
    r = client.get("Patient/pat-1", headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304 and r.content == b""
    assert client.get("Patient/pat-1", headers={"If-None-Match": 'W/"7"'}).status_code == 200
    last_modified = client.get("Patient/pat-1").headers["last-modified"]
    assert (
        client.get("Patient/pat-1", headers={"If-Modified-Since": last_modified}).status_code == 304
    )
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get("Patient/pat-1", headers={"If-Modified-Since": old}).status_code == 200


def test_unknown_type_and_id_are_404_operation_outcomes(fhir: RunningFhir) -> None:
    client = fhir.client()
    r = client.get("Patient/nobody")
    assert r.status_code == 404 and "Patient/nobody does not exist" in issues(r)
    r = client.get("Foo/1")
    assert r.status_code == 404 and "not a FHIR resource type" in issues(r)
    r = client.get("Specimen/1")
    assert r.status_code == 404 and "does not serve it" in issues(r)
    r = client.post("Specimen", json={"resourceType": "Specimen"})
    assert r.status_code == 404
    r = client.get("Patient/pat-1/foo/bar/baz")
    assert r.status_code == 404 and "not a FHIR endpoint" in issues(r)
    assert client.get("DocumentReference/nope/_history").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "Patient/pat-1"),
        ("PATCH", "Patient/pat-1"),
        ("POST", "Patient/pat-1"),
        ("DELETE", "Patient"),
        ("PUT", "Patient"),
        ("GET", ""),
        ("GET", "_history"),
        ("GET", "Patient/_history"),
        ("PUT", "Patient/pat-1/_history/1"),
        ("POST", "metadata"),
    ],
)
def test_unsupported_interactions_are_405(fhir: RunningFhir, method: str, path: str) -> None:
    before = fhir.snapshot()
    r = fhir.client().request(method, path, json={"resourceType": "Patient", "id": "pat-1"})
    assert r.status_code == 405, r.text
    assert "not supported" in issues(r)
    assert fhir.snapshot() == before


def test_head_read_has_headers_and_no_body(fhir: RunningFhir) -> None:
    r = fhir.client().head("Patient/pat-1")
    assert r.status_code == 200 and r.headers["etag"] == 'W/"1"' and r.content == b""


def test_xml_is_not_acceptable(fhir: RunningFhir) -> None:
    client = fhir.client()
    r = client.get("Patient/pat-1", headers={"Accept": "application/fhir+xml"})
    assert r.status_code == 406 and "JSON only" in issues(r)
    assert client.get("Patient/pat-1?_format=xml").status_code == 406
    assert client.get("Patient/pat-1?_format=json").status_code == 200
    assert client.get("Patient/pat-1", headers={"Accept": "application/json"}).status_code == 200
