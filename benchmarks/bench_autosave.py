"""Autosave latency: p50/p95/max of DraftRepository.save on a real SQLite file.

    .venv/bin/python benchmarks/bench_autosave.py [--saves 500] [--dir PATH]

Each save is what the editor does after a pause in typing: one section's text changed, the
whole draft upserted in one transaction (WAL, synchronous=FULL, so it includes an fsync).
Target (issue 4): p95 <= 10 ms. Use --dir to measure on the disk that holds the user's data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.draft import ObservationItem
from app.domain.prefill import prefill_draft
from app.store.store import open_store
from app.store.templates import load_templates
from tests.domain.conftest import NOW, make_context

TARGET_P95_MS = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        store = open_store(Path(tmp) / "store.db")
        draft = prefill_draft(make_context(), load_templates().default, now=NOW)
        draft = draft.with_item(ObservationItem("o1", "8867-4", "Heart rate", Decimal(78), "/min"))
        paragraph = "Patient reports intermittent headaches, worse in the morning. " * 40  # ~2.5 KB
        for _ in range(20):  # warm-up: engine, statement cache, WAL file
            draft = store.drafts.save(draft)
        timings: list[float] = []
        for i in range(args.saves):
            draft = draft.with_section_text("subjective", paragraph + f" edit {i}")
            t0 = time.perf_counter()
            draft = store.drafts.save(draft)
            timings.append((time.perf_counter() - t0) * 1000)
        store.close()
    timings.sort()
    p50 = statistics.median(timings)
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(f"autosave: {args.saves} saves of a ~3 KB draft (WAL, synchronous=FULL)")
    print(
        f"  p50 {p50:.2f} ms   p95 {p95:.2f} ms   max {timings[-1]:.2f} ms   (target p95 <= {TARGET_P95_MS} ms)"
    )
    print(f"  verdict: {'PASS' if p95 <= TARGET_P95_MS else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
