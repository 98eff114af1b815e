"""The outbox panel with 10,000 commits: list query + status summary time, and memory.

    .venv/bin/python benchmarks/bench_outbox_panel.py [--commits 10000] [--runs 7]

Fills a fresh store with approved commits (a note, two observations, a task and a Provenance
each: ~50,000 payloads) in a spread of states, then times, with a warm page cache as in a
running app:

- the first page the panel shows (500 newest rows) + the summary (goal <= 100 ms),
- every row + the summary (what a panel without lazy loading would need),
- one commit in detail (``get``: payloads read and verified),

and reports the resident memory of this process after holding all rows (goal for the whole
app <= 300 MB). Medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.outbox import SyncEvent
from app.store.outbox_records import WriteResult
from app.store.store import open_store
from tests.sync.commits import clinical_commit
from tests.ui.outbox_states import decision_json

E = SyncEvent


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1_048_576


def timed(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def fill(path: Path, n: int) -> None:
    """Approve ``n`` commits and move them through a spread of states (a clinic after a bad
    week: most confirmed, some refused, the rest waiting)."""
    store = open_store(path)
    commits = []
    with store.db.write() as conn:
        for i in range(n):
            # a real review decision: the panel's patient column reads it (issue 13)
            commit = clinical_commit(text=f"note {i}")
            commits.append(
                store.outbox.enqueue_approval(commit, decision_json(commit), conn=conn)
            )
    for i, commit in enumerate(commits[: int(n * 0.9)]):
        store.outbox.apply(commit.commit_id, E.SEND_STARTED)
        if i % 50 == 0:
            store.outbox.apply(
                commit.commit_id, E.PERMANENT_REJECTION, status=422, error="Refused."
            )
        else:
            store.outbox.apply(
                commit.commit_id,
                E.SERVER_ACCEPTED,
                results=[WriteResult(w.position, f"s{i}-{w.position}", "1") for w in commit.writes],
            )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--fill", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        fill(args.fill, args.commits)
        return
    path = Path(tempfile.mkdtemp(prefix="bench-panel-")) / "store.db"
    start = time.perf_counter()
    # filled by another process, so the memory figure is that of an app opening the store
    subprocess.run(
        [sys.executable, __file__, "--fill", str(path), "--commits", str(args.commits)], check=True
    )
    filled = time.perf_counter() - start
    at_start = rss_mb()
    store = open_store(path)
    outbox = store.outbox
    outbox.list_items()
    first_page = timed(
        lambda: (outbox.list_items(newest_first=True, limit=500), outbox.summary()), args.runs
    )
    everything = timed(lambda: (outbox.list_items(), outbox.summary()), args.runs)
    summary_only = timed(outbox.summary, args.runs)
    rows = outbox.list_items()
    middle = rows[len(rows) // 2].commit_id
    detail = timed(lambda: outbox.get(middle), args.runs)
    after = rss_mb()
    size = path.stat().st_size / 1_048_576
    print(
        f"{args.commits} commits ({len(rows)} rows, 5 resources each); store {size:.0f} MB; "
        f"filled in {filled:.1f} s (approval, sending and confirming included)"
    )
    print(f"first page (500) + summary : {first_page:6.1f} ms  (goal <= 100)")
    print(f"all rows + summary         : {everything:6.1f} ms")
    print(f"summary alone              : {summary_only:6.1f} ms")
    print(f"one commit in detail       : {detail:6.1f} ms  (payloads read and verified)")
    print(
        f"resident memory            : {after:6.0f} MB holding all rows "
        f"({at_start:.0f} MB after imports)"
    )
    store.close()


if __name__ == "__main__":
    main()
