"""Bad input to the sandbox FHIR server: each gets the right status, an OperationOutcome a
person can act on, and nothing in the store changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.sandbox.test_fhir_support import RunningFhir, issues, note, running_fhir

CAP = 4096


@pytest.fixture(scope="module")
def fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFhir]:
    with running_fhir(tmp_path_factory.mktemp("bad") / "fhir.db", max_body_bytes=CAP) as running:
        yield running


@pytest.fixture
def unchanged(fhir: RunningFhir) -> Iterator[None]:
    before = fhir.snapshot()
    yield
    assert fhir.snapshot() == before, "the store changed"


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


JSON = {"Content-Type": "application/fhir+json"}


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"resourceType": "DocumentReference",', "not valid JSON"),
        (b"", "empty"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "JSON list, not a FHIR resource"),
        (b'"text"', "not a FHIR resource"),
        (b'{"status": "current"}', "no resourceType"),
    ],
)
def test_malformed_bodies_are_400(
    fhir: RunningFhir, unchanged: None, raw: bytes, words: str
) -> None:
    r = fhir.client().post("DocumentReference", content=raw, headers=JSON)
    assert r.status_code == 400
    assert words in issues(r)


def test_wrong_resource_type_for_the_url_is_400(fhir: RunningFhir, unchanged: None) -> None:
    client = fhir.client()
    r = client.post("Observation", json=note("wrong-type"))
    assert r.status_code == 400
    assert "body is a DocumentReference but the URL is for Observation" in issues(r)
    r = client.put("Patient/pat-1", json={"resourceType": "Practitioner", "id": "pat-1"})
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (with_(note("x"), colour="blue"), "DocumentReference.colour: unknown element"),
        (with_(note("x"), date="2024-02-30T10:00:00Z"), "DocumentReference.date"),
        (with_(note("x"), date="yesterday"), "not a valid FHIR instant"),
        (with_(note("x"), status="nonsense"), "'nonsense' is not an allowed code"),
        (with_(note("x"), content=[{"attachment": {"contentType": "text/plain",
                                                   "data": "!!!not base64!!!"}}]),
         "content[0].attachment.data: not valid base64"),
        (with_(note("x"), content=[{"attachment": {"data": "aGVsbG8"}}]), "not valid base64"),
        (with_(note("x"), content=[{"attachment": {"data": "!!!!"}}]), "not valid base64"),
        (with_(note("x"), content="not a list"), "DocumentReference.content"),
        ({k: v for k, v in note("x").items() if k != "content"}, "required element is missing"),
        (with_(note("x"), subject={"reference": 42}), "DocumentReference.subject.reference"),
    ],
)  # fmt: skip
def test_invalid_content_is_422_naming_the_element(
    fhir: RunningFhir, unchanged: None, body: dict[str, Any], words: str
) -> None:
    r = fhir.client().post("DocumentReference", json=body)
    assert r.status_code == 422, r.text
    text = issues(r)
    assert words in text
    assert "Nothing was saved" in text
    assert r.json()["issue"][0]["expression"]


def test_invalid_content_on_update_is_422(fhir: RunningFhir, unchanged: None) -> None:
    client = fhir.client()
    doc = client.get("DocumentReference/doc-1").json()
    r = client.put("DocumentReference/doc-1", json=with_(doc, date="2024-13-01"))
    assert r.status_code == 422


def test_valid_base64_with_line_breaks_is_accepted(fhir: RunningFhir) -> None:
    body = with_(note("b64"), content=[{"attachment": {"data": "aGVs\nbG8="}}])
    assert fhir.client().post("DocumentReference", json=body).status_code == 201


def test_id_mismatch_and_missing_id_on_update_are_400(fhir: RunningFhir, unchanged: None) -> None:
    client = fhir.client()
    doc = client.get("DocumentReference/doc-1").json()
    r = client.put("DocumentReference/doc-1", json=with_(doc, id="doc-2"))
    assert r.status_code == 400 and "does not match the id in the URL" in issues(r)
    no_id = {k: v for k, v in doc.items() if k != "id"}
    r = client.put("DocumentReference/doc-1", json=no_id)
    assert r.status_code == 400 and "has no id" in issues(r)
    r = client.put("DocumentReference/bad id!", json=with_(doc, id="bad id!"))
    assert r.status_code == 400 and "not a valid FHIR id" in issues(r)


def test_oversized_body_is_413_and_names_the_cap(fhir: RunningFhir, unchanged: None) -> None:
    big = with_(note("big"), description="x" * (CAP * 2))
    r = fhir.client().post("DocumentReference", json=big)
    assert r.status_code == 413
    assert f"at most {CAP} bytes" in issues(r)


def test_oversized_chunked_body_is_413(fhir: RunningFhir, unchanged: None) -> None:
    payload = json.dumps(with_(note("big"), description="x" * (CAP * 2))).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(payload), 1000):
            yield payload[i : i + 1000]

    r = fhir.client().post("DocumentReference", content=chunks(), headers=JSON)
    assert r.status_code == 413
    assert f"at most {CAP} bytes" in issues(r)


def test_oversized_bundle_is_413(fhir: RunningFhir, unchanged: None) -> None:
    entries = [{"resource": note(f"n{i}"), "request": {"method": "POST", "url": "DocumentReference"}}
               for i in range(20)]  # fmt: skip
    r = fhir.client().post(
        "", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}
    )
    assert r.status_code == 413


@pytest.mark.parametrize("content_type", ["application/fhir+xml", "text/plain"])
def test_non_json_media_type_is_415(fhir: RunningFhir, unchanged: None, content_type: str) -> None:
    r = fhir.client().post(
        "DocumentReference", content=json.dumps(note("x")), headers={"Content-Type": content_type}
    )
    assert r.status_code == 415
    assert "application/fhir+json" in issues(r)


def test_plain_json_media_type_is_accepted(fhir: RunningFhir) -> None:
    r = fhir.client().post(
        "DocumentReference",
        content=json.dumps(note("plain-json")),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201
