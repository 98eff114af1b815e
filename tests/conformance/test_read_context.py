"""Read in context: the patient named by the token, and their vital signs page by page."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conformance.helpers import (
    RUN_SYSTEM,
    WRITE_HEADERS,
    heart_rate,
    matches,
    new_identifier,
    next_link,
    search,
    show,
)
from tests.support.servers import RunningServer

VITAL_SIGNS = "vital-signs"


def _is_vital_sign_of(obs: dict[str, Any], patient: str) -> bool:
    codes = {c.get("code") for cat in obs.get("category", []) for c in cat.get("coding", [])}
    return obs.get("subject", {}).get("reference") == f"Patient/{patient}" and VITAL_SIGNS in codes


def _follow(fhir: httpx.Client, url: str, ehr: RunningServer) -> dict[str, Any]:
    assert url.startswith(ehr.fhir_base.rstrip("/") + "/"), (
        f"next link {url} leaves {ehr.fhir_base}"
    )
    r = fhir.get(url)
    assert r.status_code == 200, show(r)
    bundle: dict[str, Any] = r.json()
    return bundle


def test_patient_in_context_is_readable(fhir: httpx.Client, token: dict[str, Any]) -> None:
    r = fhir.get(f"Patient/{token['patient']}")
    assert r.status_code == 200, show(r)
    patient = r.json()
    assert (patient["resourceType"], patient["id"]) == ("Patient", token["patient"])
    assert r.headers.get("etag", "").startswith('W/"'), show(r)


def test_seeded_vital_signs_page_with_next_link(
    ehr: RunningServer, fhir: httpx.Client, token: dict[str, Any]
) -> None:
    pid = token["patient"]
    page = search(fhir, "Observation", {"patient": pid, "category": VITAL_SIGNS, "_count": 2})
    first = matches(page)
    assert first, f"seed data: Patient/{pid} has vital signs"
    assert len(first) <= 2
    assert all(_is_vital_sign_of(o, pid) for o in first), first
    url = next_link(page)
    if url:  # the seeds are not required to hold more than two; the next check creates them
        second = matches(_follow(fhir, url, ehr))
        assert second and len(second) <= 2
        assert all(_is_vital_sign_of(o, pid) for o in second), second
        assert not {o["id"] for o in first} & {o["id"] for o in second}, "pages overlap"


def test_vital_signs_search_pages_through_exactly_what_was_written(
    ehr: RunningServer, fhir: httpx.Client, token: dict[str, Any]
) -> None:
    pid, run_code = token["patient"], str(uuid.uuid4())
    created = set()
    for minute, bpm in ((1, 61), (2, 62), (3, 63)):
        obs = heart_rate(
            new_identifier(),
            run_code=run_code,
            patient=pid,
            bpm=bpm,
            when=f"2024-01-01T10:0{minute}:00Z",
        )
        r = fhir.post("Observation", json=obs, headers=WRITE_HEADERS)
        assert r.status_code == 201, show(r)
        created.add(r.json()["id"])

    params = {
        "patient": pid,
        "category": VITAL_SIGNS,
        "code": f"{RUN_SYSTEM}|{run_code}",
        "_count": 2,
    }
    page = search(fhir, "Observation", params)
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        found = matches(page)
        assert len(found) <= 2, f"_count=2 but page {pages} has {len(found)}"
        assert all(_is_vital_sign_of(o, pid) for o in found), found
        seen += [o["id"] for o in found]
        url = next_link(page)
        if url is None or pages > 5:
            break
        page = _follow(fhir, url, ehr)
    assert pages == 2, f"3 matches at _count=2 are 2 pages, got {pages}"
    assert sorted(seen) == sorted(created), (seen, created)
