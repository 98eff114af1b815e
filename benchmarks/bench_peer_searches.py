"""Issue 15, the peer EHR at each chart size: what one Observation search costs it, by shape.

    .venv/bin/python benchmarks/bench_peer_searches.py [--sizes 1000,5000] [--runs 5]

A fresh peer EHR (Medplum's MemoryRepository) per size, holding ``pat-obs-<n>``'s chart
(app/sandbox/large_chart.py: an Observation every 6 hours, a quarter of them vital signs,
200 notes); each search straight to it (no added latency), median of ``--runs``. The shapes:
the app's sorted search (before issue 15's fourth pass), the same unsorted, a recent window
(``date=ge``, 7 / 30 / 90 days before the encounter) sorted and unsorted, the date filter
first, vital signs and results in one search, the older window (``date=lt``), and every
Observation of the patient unsorted (what the app reads on this server now). The figures are
in docs/performance.md, "Issue 15, fourth pass".
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_context_sizes import chart, load_into_peer, patient_of
from tests.fhir.conftest import BearerAuth, access_token
from tests.support.servers import start_peer


def shapes(size: int) -> dict[str, str]:
    patient, _ = patient_of(size)
    start = next(
        e["resource"]["period"]["start"]
        for e in chart(size)["entry"]
        if e["resource"]["resourceType"] == "Encounter"
    )
    newest = datetime.fromisoformat(start)

    def before(days: int) -> str:
        return (newest - timedelta(days=days)).date().isoformat()

    subject = f"subject=Patient/{patient}"
    labs, vitals = "category=laboratory", "category=vital-signs"
    newest_first = "_sort=-date&_count=200"
    return {
        "labs, sorted (the app before)": f"{subject}&{labs}&{newest_first}",
        "vitals, sorted (the app before)": f"{subject}&{vitals}&{newest_first}",
        "labs, unsorted, 200": f"{subject}&{labs}&_count=200",
        "labs, 7 days, sorted": f"{subject}&{labs}&date=ge{before(7)}&{newest_first}",
        "labs, 7 days, unsorted": f"{subject}&{labs}&date=ge{before(7)}&_count=200",
        "labs, 30 days, sorted": f"{subject}&{labs}&date=ge{before(30)}&{newest_first}",
        "labs, 90 days, sorted": f"{subject}&{labs}&date=ge{before(90)}&{newest_first}",
        "labs, 90 days, unsorted": f"{subject}&{labs}&date=ge{before(90)}&_count=200",
        "labs, 90 days, date first": f"date=ge{before(90)}&{subject}&{labs}&{newest_first}",
        "vitals, 90 days, sorted": f"{subject}&{vitals}&date=ge{before(90)}&{newest_first}",
        "both, 90 days, sorted": f"{subject}&category=vital-signs,laboratory&date=ge{before(90)}"
        "&_sort=-date&_count=400",
        "labs, older than 90 days, sorted": f"{subject}&{labs}&date=lt{before(90)}&{newest_first}",
        "labs, every one, unsorted (the app now)": f"{subject}&{labs}&_count=10000",
        "vitals, every one, unsorted (the app now)": f"{subject}&{vitals}&_count=10000",
    }


async def measure(size: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_peer(Path(tmp) / "peer", auto_login="prac-1")
        try:
            auth = BearerAuth(access_token(server))
            async with httpx.AsyncClient(timeout=600, auth=auth) as http:
                await load_into_peer(http, server.fhir_base, [size])
                print(f"{size:,} Observations, median of {runs}:")
                for name, query in shapes(size).items():
                    url = f"{server.fhir_base}/Observation?{query}"
                    took: list[float] = []
                    for _ in range(runs):
                        t0 = time.perf_counter()
                        response = await http.get(url)
                        took.append((time.perf_counter() - t0) * 1000)
                        response.raise_for_status()
                    bundle = response.json()
                    got, total = len(bundle.get("entry") or []), bundle.get("total")
                    print(
                        f"  {name:44s} {statistics.median(took):7.0f} ms "
                        f"({got} of {total} matches)",
                        flush=True,
                    )
        finally:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        asyncio.run(measure(size, args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
