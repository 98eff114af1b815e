"""Search on the sandbox FHIR server: every parameter kind, date prefixes, paging, _sort,
_include/_revinclude, POST _search and what happens to unknown parameters.

The seed is only read here, so one server serves the whole module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sandbox.test_fhir_support import (
    LOINC,
    MRN,
    NOTE_IDS,
    OBS_CAT,
    SNOMED,
    RunningFhir,
    entries,
    ids,
    issues,
    running_fhir,
)


@pytest.fixture(scope="module")
def fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFhir]:
    with running_fhir(tmp_path_factory.mktemp("search") / "fhir.db") as running:
        yield running


@pytest.fixture(scope="module")
def client(fhir: RunningFhir) -> httpx.Client:
    return fhir.client()


def search(client: httpx.Client, query: str, status: int = 200) -> dict[str, Any]:
    r = client.get(query)
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Patient?_id=pat-1", {"pat-1"}),
        ("Patient?_id=pat-1,pat-3", {"pat-1", "pat-3"}),
        (f"Patient?identifier={MRN}|MRN-1004", {"pat-2"}),
        ("Patient?identifier=MRN-1004", {"pat-2"}),
        ("Patient?identifier=other-system|MRN-1004", set()),
        ("Patient?name=garc", {"pat-1"}),
        ("Patient?name=elena", {"pat-1"}),
        ("Patient?family=lukasiewicz", {"pat-2"}),
        ("Patient?family=Łukasiewicz-Núñez", {"pat-2"}),
        ("Patient?given=zoe", {"pat-2"}),
        ("Patient?given=søren", {"pat-3"}),
        ("Patient?name:exact=Garcia", {"pat-1"}),
        ("Patient?name:exact=garcia", set()),
        ("Patient?name:contains=siew", {"pat-2"}),
        ("Patient?birthdate=1968-04-12", {"pat-1"}),
        ("Patient?birthdate=1968", {"pat-1"}),
        ("Patient?birthdate=lt1960", {"pat-3"}),
        ("Patient?gender=male", {"pat-3"}),
        ("Patient?organization=org-1", {"pat-1"}),
        ("Encounter?patient=pat-1", {"enc-1", "enc-2"}),
        ("Encounter?patient=Patient/pat-1", {"enc-1", "enc-2"}),
        ("Encounter?subject=Patient/pat-2", {"enc-3"}),
        ("Encounter?subject=pat-2", {"enc-3"}),
        ("Encounter?subject:Patient=pat-2", {"enc-3"}),
        ("Encounter?status=in-progress", {"enc-2"}),
        ("Encounter?practitioner=prac-1", {"enc-1"}),
        ("Encounter?date=2024-03-01", {"enc-1"}),
        ("Encounter?date=ge2024-04-01&date=lt2024-06", {"enc-2", "enc-3"}),
        ("Condition?patient=pat-1&clinical-status=active", {"cond-1"}),
        ("Condition?code=http://snomed.info/sct|38341003", {"cond-1"}),
        ("Condition?encounter=Encounter/enc-1", {"cond-1"}),
        ("Condition?encounter=enc-1", {"cond-1"}),
        ("Condition?category=problem-list-item", {"cond-1"}),
        ("Observation?patient=pat-1&category=laboratory", {"obs-glucose"}),
        (f"Observation?code={LOINC}|8867-4", {"obs-hr-1", "obs-hr-2"}),
        ("Observation?code=8867-4&date=gt2024-04", {"obs-hr-2"}),
        (f"Observation?category={OBS_CAT}|vital-signs&patient=pat-2", {"obs-bp-2"}),
        ("Observation?encounter=enc-1", {"obs-hr-1", "obs-glucose"}),
        ("Observation?encounter=Encounter/enc-1&code=2339-0", {"obs-glucose"}),
        ("Observation?status=final&patient=pat-1&code=8867-4,2339-0",
         {"obs-hr-1", "obs-hr-2", "obs-glucose"}),
        ("Observation?code:not=8867-4&patient=pat-1", {"obs-glucose"}),
        ("Observation?encounter:missing=true&patient=pat-1", set()),
        ("Observation?encounter:missing=false&patient=pat-1",
         {"obs-hr-1", "obs-hr-2", "obs-glucose"}),
        ("DocumentReference?encounter=enc-1", {"doc-1"}),
        ("DocumentReference?encounter=Encounter/enc-1", {"doc-1"}),
        (f"DocumentReference?identifier={NOTE_IDS}|note-1", {"doc-1"}),
        ("DocumentReference?type=http://loinc.org|11506-3&patient=pat-1", {"doc-1"}),
        ("DocumentReference?author=Practitioner/prac-1", {"doc-1"}),
        ("AllergyIntolerance?patient=pat-1", {"allergy-1"}),
        ("MedicationRequest?patient=pat-1&status=active", {"medreq-1"}),
        ("Provenance?target=DocumentReference/doc-1", {"prov-1"}),
        ("Practitioner?name=alice", {"prac-1"}),
        ("Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1234567893", {"prac-1"}),
        ("Practitioner?name=bob", {"prac-2"}),
        ("Practitioner?name=dr. bob j", {"prac-2"}),
    ],
)  # fmt: skip
def test_search_parameters(client: httpx.Client, query: str, expected: set[str]) -> None:
    bundle = search(client, query)
    assert bundle["type"] == "searchset"
    assert set(ids(bundle)) == expected
    assert bundle["total"] == len(expected)
    assert "OperationOutcome" not in str(entries(bundle, "outcome")), "no warning expected"


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        # obs-hr-1 2024-03-01T09:30Z, obs-glucose 2024-03-01 (the whole day), obs-hr-2 2024-05-01
        ("eq2024-03-01", {"obs-hr-1", "obs-glucose"}),
        ("2024-03-01", {"obs-hr-1", "obs-glucose"}),
        ("ne2024-03-01", {"obs-hr-2"}),
        ("gt2024-03-01", {"obs-hr-2"}),
        ("ge2024-03-01", {"obs-hr-1", "obs-glucose", "obs-hr-2"}),
        ("lt2024-05-01", {"obs-hr-1", "obs-glucose"}),
        ("le2024-03-01", {"obs-hr-1", "obs-glucose"}),
        ("lt2024-03-01T10:00:00Z", {"obs-hr-1", "obs-glucose"}),
        ("gt2024-03-01T09:30:00Z", {"obs-glucose", "obs-hr-2"}),
        ("sa2024-03-01", {"obs-hr-2"}),
        ("eb2024-05-01", {"obs-hr-1", "obs-glucose"}),
        ("ap2024-05-02", {"obs-hr-2"}),
        ("eq2024-03-01T09:30", {"obs-hr-1"}),
        ("eq2024-03-01T10:30:00+01:00", {"obs-hr-1"}),
        ("2024", {"obs-hr-1", "obs-glucose", "obs-hr-2"}),
        ("2024-04", set()),
    ],
)
def test_date_prefixes(client: httpx.Client, prefix: str, expected: set[str]) -> None:
    bundle = search(client, f"Observation?patient=pat-1&date={prefix.replace('+', '%2B')}")
    assert set(ids(bundle)) == expected


def test_period_dates_with_open_end(client: httpx.Client) -> None:
    # enc-2 started 2024-05-01 and has no end: it overlaps every later date
    assert set(ids(search(client, "Encounter?patient=pat-1&date=ge2030-01-01"))) == {"enc-2"}
    assert set(ids(search(client, "Encounter?patient=pat-1&date=eq2024-05"))) == set()
    assert set(ids(search(client, "Encounter?patient=pat-1&date=lt2024-03-02"))) == {"enc-1"}


def test_invalid_date_is_400(client: httpx.Client) -> None:
    r = client.get("Observation?date=2024-13-45")
    assert r.status_code == 400
    assert "not a valid date search" in issues(r)
    assert client.get("Observation?date=xx2024").status_code == 400
    assert client.get("Observation?_lastUpdated=gt2024-02-30").status_code == 400


def test_paging_with_count_and_links(client: httpx.Client) -> None:
    seen: list[str] = []
    url = "Observation?patient=pat-3&_count=7&_sort=date"
    pages = 0
    while url:
        bundle = search(client, url.replace(client.base_url.__str__(), ""))
        assert bundle["total"] == 30
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert links["self"].startswith("http")
        if pages == 0:
            assert "previous" not in links
        else:
            assert "previous" in links
        seen += ids(bundle)
        url = links.get("next", "")
        pages += 1
    assert pages == 5
    assert seen == [f"obs-wt-{d:02d}" for d in range(1, 31)]


def test_count_zero_and_summary_count_give_only_the_total(client: httpx.Client) -> None:
    for query in ("Observation?patient=pat-3&_count=0", "Observation?patient=pat-3&_summary=count"):
        bundle = search(client, query)
        assert bundle["total"] == 30 and "entry" not in bundle


def test_count_above_maximum_is_capped_with_warning(client: httpx.Client) -> None:
    bundle = search(client, "Patient?_count=5000")
    assert len(ids(bundle)) == 3
    assert "maximum" in str(entries(bundle, "outcome"))


@pytest.mark.parametrize(
    ("sort", "first", "last"),
    [
        ("date", "obs-wt-01", "obs-wt-30"),
        ("-date", "obs-wt-30", "obs-wt-01"),
        ("_id", "obs-wt-01", "obs-wt-30"),
        ("-_id", "obs-wt-30", "obs-wt-01"),
    ],
)
def test_sort(client: httpx.Client, sort: str, first: str, last: str) -> None:
    found = ids(search(client, f"Observation?patient=pat-3&_sort={sort}&_count=100"))
    assert found[0] == first and found[-1] == last


def test_sort_by_last_updated(fhir: RunningFhir, client: httpx.Client) -> None:
    ascending = ids(search(client, "Observation?patient=pat-3&_sort=_lastUpdated&_count=100"))
    descending = ids(search(client, "Observation?patient=pat-3&_sort=-_lastUpdated&_count=100"))
    stamps = {
        r["id"]: r["meta"]["lastUpdated"]
        for r in entries(search(client, "Observation?patient=pat-3&_count=100"))
    }
    assert [stamps[i] for i in ascending] == sorted(stamps[i] for i in ascending)
    assert [stamps[i] for i in descending] == sorted((stamps[i] for i in descending), reverse=True)


def test_include_and_revinclude(client: httpx.Client) -> None:
    bundle = search(client, "Encounter?_id=enc-1&_include=Encounter:patient"
                            "&_revinclude=DocumentReference:encounter"
                            "&_revinclude=Observation:encounter")  # fmt: skip
    assert ids(bundle) == ["enc-1"]
    assert bundle["total"] == 1
    included = {f"{r['resourceType']}/{r['id']}" for r in entries(bundle, "include")}
    assert included == {"Patient/pat-1", "DocumentReference/doc-1",
                        "Observation/obs-hr-1", "Observation/obs-glucose"}  # fmt: skip


def test_revinclude_observations_of_a_patient(client: httpx.Client) -> None:
    bundle = search(client, "Patient?_id=pat-3&_revinclude=Observation:patient")
    assert ids(bundle) == ["pat-3"]
    assert len(entries(bundle, "include")) == 30


def test_include_with_target_type_and_iterate(client: httpx.Client) -> None:
    bundle = search(
        client,
        "Provenance?_id=prov-1&_include=Provenance:target:DocumentReference"
        "&_include:iterate=DocumentReference:patient",
    )
    included = {f"{r['resourceType']}/{r['id']}" for r in entries(bundle, "include")}
    assert included == {"DocumentReference/doc-1", "Patient/pat-1"}


def test_post_search_merges_form_and_query(client: httpx.Client) -> None:
    r = client.post(
        "Observation/_search?patient=pat-1",
        data={"code": "8867-4", "_sort": "-date"},
    )
    assert r.status_code == 200
    assert ids(r.json()) == ["obs-hr-2", "obs-hr-1"]
    assert client.get("Observation/_search?patient=pat-2").json()["total"] == 1
    r = client.post("Observation/_search", json={"code": "x"})
    assert r.status_code == 415


def test_unknown_parameter_is_ignored_with_warning_outcome(client: httpx.Client) -> None:
    bundle = search(client, "Encounter?patient=pat-1&colour=blue&subject.name=x")
    assert set(ids(bundle)) == {"enc-1", "enc-2"}
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1
    issue_list = outcome[0]["resource"]["issue"]
    assert all(i["severity"] == "warning" for i in issue_list)
    text = " ".join(i["diagnostics"] for i in issue_list)
    assert "'colour'" in text and "ignored" in text and "Chained" in text
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert "colour" not in self_link and "patient=pat-1" in self_link


def test_unknown_parameter_with_strict_handling_is_400(fhir: RunningFhir) -> None:
    r = fhir.client(Prefer="handling=strict").get("Encounter?colour=blue")
    assert r.status_code == 400
    assert "colour" in issues(r)


def test_unsupported_modifier_is_400(client: httpx.Client) -> None:
    r = client.get("Observation?code:below=8867")
    assert r.status_code == 400 and ":below" in issues(r)
    assert client.get("Observation?code:missing=maybe").status_code == 400


def test_bad_paging_values_are_400(client: httpx.Client) -> None:
    assert client.get("Observation?_count=-1").status_code == 400
    assert client.get("Observation?_offset=abc").status_code == 400


def test_empty_result_has_total_zero_and_no_entries(client: httpx.Client) -> None:
    bundle = search(client, "Observation?patient=nobody")
    assert bundle["total"] == 0 and "entry" not in bundle


def test_references_to_absolute_urls_are_searchable(tmp_path: Path) -> None:
    with running_fhir(tmp_path / "own.db") as fhir:
        _absolute_references(fhir)


def _absolute_references(fhir: RunningFhir) -> None:
    client = fhir.client()
    obs = {
        "resourceType": "Observation", "status": "final", "code": {"text": "abs"},
        "subject": {"reference": f"{fhir.base}/Patient/pat-2"},
    }  # fmt: skip
    assert client.post("Observation", json=obs).status_code == 201
    found = search(client, "Observation?patient=pat-2&status=final")
    assert found["total"] == 2
    by_url = search(client, f"Observation?subject={fhir.base}/Patient/pat-2")
    assert by_url["total"] == 2
    assert search(client, f"Observation?code={SNOMED}|x")["total"] == 0
