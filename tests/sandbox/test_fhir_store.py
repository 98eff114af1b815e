"""FhirStore: seeding, persistence, the Directory the login page uses, concurrency and speed."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.sandbox.fhir import FhirStore
from app.sandbox.fhir.errors import SeedError
from tests.sandbox.test_fhir_support import (
    NOTE_IDS,
    SEED_COUNT,
    note,
    running_fhir,
    small_seed,
)


def write_seed(tmp_path: Path, bundle: object) -> Path:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def test_seed_is_loaded_once_and_the_store_persists(tmp_path: Path) -> None:
    db, seed = tmp_path / "fhir.db", write_seed(tmp_path, small_seed())
    store = FhirStore(db)
    store.ensure_seeded(seed)
    assert store.db.count() == SEED_COUNT
    store.close()
    with running_fhir(db) as fhir:  # reopens the same file; seeding again must be a no-op
        created = fhir.client().post("DocumentReference", json=note("persist")).json()
        fhir.client().put(f"DocumentReference/{created['id']}", json=created)
    store = FhirStore(db)
    store.ensure_seeded(seed)
    assert store.db.count() == SEED_COUNT + 1
    stored = store.db.get("DocumentReference", created["id"])
    assert stored is not None and stored.version == 2
    assert len(store.db.history("DocumentReference", created["id"])) == 2
    store.close()


def test_missing_seed_file_logs_a_warning_and_leaves_the_store_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FhirStore(tmp_path / "fhir.db")
    with caplog.at_level(logging.WARNING, logger="app.sandbox.fhir.store"):
        store.ensure_seeded(tmp_path / "missing.json")
    assert store.db.count() == 0
    assert "missing.json not found" in caplog.text
    store.close()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "cannot be read"),
        (json.dumps({"resourceType": "Bundle", "type": "collection"}), "was refused"),
        (json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "id": "p", "birthDate": "1990-02-30"},
             "request": {"method": "PUT", "url": "Patient/p"}}]}), "birthDate"),
        (json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": {"resourceType": "Patient", "colour": "x"},
             "request": {"method": "POST", "url": "Patient"}}]}), "colour"),
    ],
)  # fmt: skip
def test_broken_seed_fails_with_a_clear_message(tmp_path: Path, content: str, words: str) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(content, encoding="utf-8")
    store = FhirStore(tmp_path / "fhir.db")
    with pytest.raises(SeedError, match=r"seed\.json") as info:
        store.ensure_seeded(seed)
    assert words in str(info.value)
    assert store.db.count() == 0
    store.close()


def test_directory_answers_for_the_login_page(tmp_path: Path) -> None:
    store = FhirStore(tmp_path / "fhir.db")
    store.ensure_seeded(write_seed(tmp_path, small_seed()))
    practitioners = {e.id: e for e in store.practitioners()}
    assert practitioners["prac-1"].display == "Dr. Alice Smith"
    assert practitioners["prac-1"].detail == "NPI 1234567893"
    assert practitioners["prac-2"].display == "Dr. Bob Jones"
    patients = {e.id: e for e in store.patients()}
    assert set(patients) == {"pat-1", "pat-2", "pat-3"}
    assert patients["pat-1"].display == "Maria Elena Garcia"
    assert patients["pat-1"].detail == "born 1968-04-12 · MRN-1001"
    assert patients["pat-2"].display == "Zoë Łukasiewicz-Núñez"
    assert store.exists("Patient", "pat-1") and not store.exists("Patient", "pat-9")
    assert store.exists("Encounter", "enc-1")
    assert store.latest_encounter("pat-1") == "enc-2"
    assert store.latest_encounter("pat-2") == "enc-3"
    assert store.latest_encounter("pat-3") is None
    store.close()


def test_concurrent_writes_keep_versions_and_counts_exact(tmp_path: Path) -> None:
    with running_fhir(tmp_path / "fhir.db") as fhir:
        client = fhir.client()
        doc = client.get("DocumentReference/doc-1").json()

        def create(i: int) -> int:
            criteria = {"If-None-Exist": f"identifier={NOTE_IDS}|conc-{i % 20}"}
            return client.post(
                "DocumentReference", json=note(f"conc-{i % 20}"), headers=criteria
            ).status_code

        def update(_: int) -> str:
            r = client.put("DocumentReference/doc-1", json=doc)
            assert r.status_code == 200
            return str(r.headers["etag"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            created = list(pool.map(create, range(80)))
            etags = list(pool.map(update, range(30)))
        assert created.count(201) == 20 and created.count(200) == 60
        assert fhir.count("DocumentReference") == 21
        assert sorted(int(e[3:-1]) for e in etags) == list(range(2, 32))
        assert fhir.store.db.get("DocumentReference", "doc-1").version == 31  # type: ignore[union-attr]


def test_a_create_and_a_small_transaction_take_a_few_milliseconds(tmp_path: Path) -> None:
    with running_fhir(tmp_path / "fhir.db") as fhir:
        client = fhir.client()
        client.post("DocumentReference", json=note("warm-up"))
        started = time.perf_counter()
        for i in range(40):
            assert client.post("DocumentReference", json=note(f"speed-{i}")).status_code == 201
        per_create = (time.perf_counter() - started) / 40
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": f"urn:uuid:t{i}", "resource": note(f"tx-{i}"),
             "request": {"method": "POST", "url": "DocumentReference",
                         "ifNoneExist": f"identifier={NOTE_IDS}|tx-{i}"}}
            for i in range(4)]}  # fmt: skip
        started = time.perf_counter()
        assert client.post("", json=bundle).status_code == 200
        per_transaction = time.perf_counter() - started
    # generous bounds for a loaded 2-core CI machine; typical figures are 3-5 ms and 10 ms
    assert per_create < 0.05, f"{per_create * 1000:.1f} ms per create"
    assert per_transaction < 0.2, f"{per_transaction * 1000:.1f} ms per transaction"
