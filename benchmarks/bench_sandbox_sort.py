"""Issue 15, item 1 (the sandbox's part): a search sorted by date costs about what the same
search unsorted costs, at any number of matches.

    .venv/bin/python benchmarks/bench_sandbox_sort.py [--sizes 1000,5000,20000] [--runs 5]

The seed plus one patient per size (``pat-obs-<n>``, app/sandbox/large_chart.py), then
``Observation?patient=..&category=laboratory&_count=100`` with and without ``_sort=-date``
through the sandbox's FhirService (no HTTP), median of ``--runs``. Fails when a sorted search
costs more than 3x the unsorted one, or grows faster than the number of matches.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.sandbox.fhir.scopes import Access
from app.sandbox.fhir.service import FhirService
from app.sandbox.fhir.store import FhirStore
from app.sandbox.large_chart import large_chart, write_chart
from app.sandbox.options import DEFAULT_SEED


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        store = FhirStore(Path(tmp) / "sandbox.db")
        store.ensure_seeded(DEFAULT_SEED)
        for n in sizes:
            write_chart(store.db, large_chart(n, patient=f"pat-obs-{n}", notes=0, mrn=f"M{n}"))
        service = FhirService(store.db, "http://sandbox.invalid/fhir")
        print(f"{'Observations':>12} {'matches':>8} {'sorted':>9} {'unsorted':>9} {'ratio':>6}")
        previous: tuple[int, float] | None = None
        for n in sizes:
            base = [("patient", f"Patient/pat-obs-{n}"), ("category", "laboratory")]
            timings = {}
            for label, extra in (("sorted", [("_sort", "-date")]), ("unsorted", [])):
                runs = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    result = service.search(
                        Access.system(), "Observation", [*base, *extra, ("_count", "100")]
                    )
                    runs.append(time.perf_counter() - started)
                timings[label] = statistics.median(runs)
            assert result.body is not None
            matches = result.body["total"]
            ratio = timings["sorted"] / timings["unsorted"]
            print(
                f"{n:>12} {matches:>8} {timings['sorted'] * 1000:7.1f}ms "
                f"{timings['unsorted'] * 1000:7.1f}ms {ratio:5.1f}x"
            )
            failed |= ratio > 3
            if previous is not None and timings["sorted"] / previous[1] > n / previous[0]:
                print(f"  super-linear: {previous[0]} -> {n}")
                failed = True
            previous = (n, timings["sorted"])
        store.close()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
