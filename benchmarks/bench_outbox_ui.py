"""The outbox panel and status summary on screen with 10,000 commits: time and memory.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_outbox_ui.py [--commits 10000]

Another process fills a fresh store (benchmarks/bench_outbox_panel.py's ``fill``: a note, two
observations, a task and a Provenance per commit, most confirmed, some refused, the rest
queued). This process then opens it as the app does and measures, with Qt widgets really
built, laid out and painted (offscreen):

- the status bar at start-up: ``SyncStatusModel`` (reads the summary) + ``SyncStatusButton``
  (includes one-time costs: the first SQL statements compiled, the first widget styled);
- the status summary re-read, as after every (coalesced) change in the store;
- opening the panel as a click on that button does: ``OutboxPanel`` built, shown and painted,
  the first time in the process and the median of later openings (goal: first opening +
  summary <= 100 ms);
- selecting a commit (its detail: payloads read and verified, described, decision parsed);
- scrolling through everything (``fetchMore`` until all 10,000 rows are loaded);
- a refresh after a store change with all rows loaded (what a coalesced notification costs);

and the resident memory of the process afterwards (goal for the whole app <= 300 MB).
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
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

GOAL_MS = 100.0
GOAL_MB = 300.0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1_048_576


def ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--store", type=Path, help="use this filled store.db (no filling)")
    args = parser.parse_args()

    path = args.store
    filled = 0.0
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="bench-outbox-ui-")) / "store.db"
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("bench_outbox_panel.py")),
                "--fill",
                str(path),
                "--commits",
                str(args.commits),
            ],
            check=True,
        )
        filled = time.perf_counter() - start

    from PySide6.QtWidgets import QApplication

    from app.services.outbox import OutboxService
    from app.store.store import open_store
    from app.sync.store_thread import StoreThread
    from app.ui.outbox_panel import OutboxPanel
    from app.ui.style import APP_STYLESHEET
    from app.ui.sync_status import SyncStatusButton, SyncStatusModel

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setStyleSheet(APP_STYLESHEET)
    at_start = rss_mb()
    store = open_store(path)
    store.outbox.list_items(newest_first=True, limit=500)  # a running app has the pages cached
    outbox = OutboxService(store.outbox, StoreThread(), user_label=lambda: "bench")

    # At start-up the app builds the status bar's model and button (the summary is read then).
    start = time.perf_counter()
    model = SyncStatusModel(outbox, outbox)
    button = SyncStatusButton(model)
    button.show()
    app.processEvents()
    status_at_start = (time.perf_counter() - start) * 1000

    holder: dict[str, OutboxPanel] = {}

    def open_panel() -> None:
        """What a click on the status button does: build the panel, show it, paint it."""
        panel = OutboxPanel(outbox, status=model)
        panel.resize(1366, 700)
        panel.show()
        app.processEvents()
        panel.repaint()  # paint now, synchronously: what the clinician sees
        holder["panel"] = panel

    def close_panel() -> None:
        panel = holder.pop("panel")
        panel.close_panel()
        panel.close()
        panel.deleteLater()
        app.processEvents()

    first_open = ms(open_panel)
    close_panel()
    later = []
    for _ in range(args.runs):
        later.append(ms(open_panel))
        close_panel()
    open_panel()
    panel = holder["panel"]
    rows = panel.model.rowCount()
    sentence = model.sentence

    middle = panel.model.row_at(rows // 2)
    assert middle is not None
    detail = ms(lambda: (panel.select_commit(middle.commit_id), app.processEvents()))

    def scroll_all() -> None:
        while panel.model.canFetchMore():
            panel.model.fetchMore()
        panel.table.scrollToBottom()
        app.processEvents()

    everything = ms(scroll_all)
    loaded = panel.model.rowCount()
    refresh = statistics.median(ms(panel.refresh) for _ in range(3))
    summary = statistics.median(ms(model.refresh) for _ in range(args.runs))
    after = rss_mb()

    opened = statistics.median(later)
    size = path.stat().st_size / 1_048_576
    print(
        f"{args.commits} commits in the outbox; store {size:.0f} MB"
        + (f"; filled in {filled:.1f} s by another process" if filled else "")
    )
    print(f"status: {sentence}")
    print(f"status bar at start-up (model + button) : {status_at_start:6.1f} ms")
    print(f"status summary re-read                  : {summary:6.1f} ms")
    print(
        f"open the panel, first time              : {first_open:6.1f} ms  "
        f"(+ summary: goal <= {GOAL_MS:.0f}; {rows} rows loaded)"
    )
    print(f"open the panel, median of {args.runs}            : {opened:6.1f} ms")
    print(f"select a commit (detail)                : {detail:6.1f} ms")
    print(f"scroll through everything               : {everything:6.1f} ms  ({loaded} rows)")
    print(f"refresh with every row loaded           : {refresh:6.1f} ms")
    print(
        f"resident memory                         : {after:6.0f} MB  (goal <= {GOAL_MB:.0f}; "
        f"{at_start:.0f} MB after imports and QApplication)"
    )
    panel.close_panel()
    model.close()
    store.close()
    ok = first_open + summary <= GOAL_MS and after <= GOAL_MB
    print("result: " + ("within the goals" if ok else "OVER a goal"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
