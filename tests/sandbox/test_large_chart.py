"""Issue 15, item 1 (the sandbox's part): ``_sort`` reads each match's sort key through an
index (checked with EXPLAIN QUERY PLAN), so a search sorted by date costs about what the same
search unsorted costs; and the seed has a patient with a large chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.sandbox.fhir.database import ResourceDatabase
from app.sandbox.fhir.prefer import Prefer, ReturnPreference
from app.sandbox.fhir.query import parse_search
from app.sandbox.fhir.scopes import Access
from app.sandbox.fhir.search import SearchEngine
from app.sandbox.fhir.service import FhirService
from app.sandbox.fhir.sql import NO_FILTER, order_by
from app.sandbox.fhir.store import FhirStore
from app.sandbox.fhir.transaction import BundleProcessor
from app.sandbox.large_chart import NOTES, PATIENT, ensure_large_chart, large_chart, write_chart
from app.sandbox.options import DEFAULT_SEED, SandboxOptions


def plan_of_sorted_search(db: ResourceDatabase, sort: str) -> list[str]:
    """EXPLAIN QUERY PLAN of the statement SearchEngine.run sends for a sorted search."""
    request = parse_search(
        "Observation", [("patient", f"Patient/{PATIENT}"), ("_sort", sort), ("_count", "10")]
    )
    where, params = SearchEngine(db).where("Observation", request.criteria, NO_FILTER)
    order, order_params = order_by("Observation", request.sort)
    rows = db.query(
        f"EXPLAIN QUERY PLAN SELECT r.id FROM resource r WHERE {where} ORDER BY {order} "
        "LIMIT ? OFFSET ?",
        [*params, *order_params, 10, 0],
    )
    return [str(row[-1]) for row in rows]


@pytest.mark.parametrize(
    ("sort", "table", "index"),
    [
        ("-date", "idx_date", "idx_date_by_owner"),
        ("code", "idx_token", "idx_token_by_owner"),
        ("subject", "idx_ref", "idx_ref_by_owner"),
    ],
)
def test_the_sort_key_of_a_match_is_one_index_lookup(
    tmp_path: Path, sort: str, table: str, index: str
) -> None:
    db = ResourceDatabase(tmp_path / "fhir.db")
    plan = plan_of_sorted_search(db, sort)
    sort_steps = [step for step in plan if "CORRELATED" in step or index in step]
    assert any(f"USING COVERING INDEX {index} (type=? AND id=? AND param=?)" in s for s in plan), (
        plan
    )
    # before: "SEARCH x USING INDEX idx_date_lookup (type=? AND param=?)" - every Observation
    assert not any(f"{table}_lookup (type=? AND param=?)" in s for s in sort_steps), plan


def test_the_large_chart_is_valid_fhir_for_the_sandbox(tmp_path: Path) -> None:
    """What write_chart stores without the API's validation passes it (a small one here)."""
    store = FhirStore(tmp_path / "fhir.db")
    store.ensure_seeded(DEFAULT_SEED)
    bundle = large_chart(40, notes=3)
    result = BundleProcessor(FhirService(store.db, "http://sandbox.invalid/fhir")).process(
        Access.system(), bundle, Prefer(ReturnPreference.MINIMAL)
    )
    statuses = [e["response"]["status"] for e in (result.body or {})["entry"]]
    assert statuses and all(s.startswith("2") for s in statuses), statuses


def test_the_seed_has_the_large_chart_once(tmp_path: Path) -> None:
    store = FhirStore(tmp_path / "fhir.db")
    store.ensure_seeded(DEFAULT_SEED)
    assert ensure_large_chart(store.db, observations=300)
    assert not ensure_large_chart(store.db, observations=300)  # a restart leaves it alone
    service = FhirService(store.db, "http://sandbox.invalid/fhir")
    for rtype, expected in (("Observation", 300), ("DocumentReference", NOTES)):
        found = service.search(Access.system(), rtype, [("patient", f"Patient/{PATIENT}")])
        assert found.body is not None and found.body["total"] == expected
    newest = service.search(
        Access.system(),
        "Observation",
        [("patient", f"Patient/{PATIENT}"), ("_sort", "-date"), ("_count", "3")],
    )
    assert newest.body is not None
    dates = [e["resource"]["effectiveDateTime"] for e in newest.body["entry"]]
    assert dates == sorted(dates, reverse=True)


def test_only_the_default_seed_gets_the_large_chart(tmp_path: Path) -> None:
    assert SandboxOptions().writes_large_chart
    assert not SandboxOptions(seed_path=tmp_path / "own-seed.json").writes_large_chart
    assert not SandboxOptions(large_chart=False).writes_large_chart


def test_a_chart_written_for_a_benchmark_has_its_own_patient(tmp_path: Path) -> None:
    db = ResourceDatabase(tmp_path / "fhir.db")
    write_chart(db, large_chart(10, patient="pat-obs-10", notes=2, mrn="MRN-10"))
    assert db.get("Patient", "pat-obs-10") is not None
    assert db.get("Observation", "obs-obs-10-10") is not None
