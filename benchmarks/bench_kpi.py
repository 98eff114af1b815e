"""KPI measurements: what recording adds to the action it measures, and "My week" over a year.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_kpi.py [--notes 5000] [--rounds 200]
                                                            [--history 1500]

1. Recording. A protected store opened as the app opens it (AES-GCM, audit log, the KPI
   recorder listening), with ``history`` notes already recorded (the audit log of months of
   use, ~8 records a note, 400 patients); ``rounds`` times the path of one note: sign-in, chart opened, draft
   started, approved (draft marked approved + commit queued, one transaction), sent, confirmed.
   The recorder's ``on_audit`` is timed inside each of those transactions: that is exactly
   what measuring adds to the action (goal: <= 1 ms each, at the 95th percentile; the garbage
   collector runs between rounds: its pauses are the process's, not the measurement's). Also timed:
   the editor's active-time write that rides on an autosave (``add_active_time``), and a
   keystroke's bookkeeping in the view-model (``EditingTime.typed``).
2. My week. A store with a year of figures (``--notes``, about 5,000 over the working days);
   ``KpiService.my_week`` (edit rates measured, the week read and summed) and the dialog built,
   filled and painted offscreen: the first opening in the process and the median of later ones
   (goal: <= 200 ms). Importing the charting library (pyqtgraph, with numpy) is timed apart:
   the app does it when the Tools menu is first opened, before "My week" can be chosen.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RECORD_GOAL_MS = 1.0
OPEN_GOAL_MS = 200.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_recording(folder: Path, rounds: int, history: int) -> dict[str, list[float]]:
    from app.domain.audit import AuditEvent, AuditKind
    from app.domain.clinical import Reference
    from app.domain.draft import DraftStatus
    from app.domain.outbox import SyncEvent
    from app.store.crypto import StoreKeyring
    from app.store.kpi_hooks import KpiRecorder
    from app.store.outbox_records import WriteResult
    from app.store.protected import open_protected_store
    from app.ui.editing_time import EditingTime
    from tests.store.protected_support import (
        decision_json,
        file_keyring,
        marker_commit,
        marker_draft,
    )

    spent: dict[str, list[float]] = defaultdict(list)
    original = KpiRecorder.on_audit

    def timed(self: KpiRecorder, c: Any, record: Any) -> None:
        start = time.perf_counter()
        original(self, c, record)
        spent[record.event.kind.value].append((time.perf_counter() - start) * 1000)

    KpiRecorder.on_audit = timed  # type: ignore[method-assign]
    ps = open_protected_store(
        folder / "store.db", StoreKeyring(file_keyring(folder)), actor=lambda: "Practitioner/p"
    )
    store, audit = ps.store, ps.audit
    now = datetime.now(UTC)

    def one_note(i: int) -> None:
        patient, encounter = f"pat-{i % 400}", f"enc-{i}"
        audit.append(AuditEvent(AuditKind.SIGN_IN, now, "Practitioner/p"))
        audit.append(
            AuditEvent(
                AuditKind.CHART_OPENED,
                now,
                "Practitioner/p",
                patient_id=patient,
                encounter_id=encounter,
            )
        )
        draft = store.drafts.save(
            marker_draft(
                patient=Reference("Patient", patient), encounter=Reference("Encounter", encounter)
            )
        )
        start = time.perf_counter()
        store.kpi.add_active_time(draft.id, 1234, now.date())
        spent["active time (with an autosave)"].append((time.perf_counter() - start) * 1000)
        commit = marker_commit(patient=patient)
        with store.db.write() as conn:
            store.drafts.set_status(draft.id, DraftStatus.APPROVED, conn=conn)
            store.outbox.enqueue_approval(
                commit, decision_json(draft), draft_id=draft.id, conn=conn
            )
        store.outbox.apply(commit.commit_id, SyncEvent.SEND_STARTED)
        store.outbox.apply(
            commit.commit_id,
            SyncEvent.SERVER_ACCEPTED,
            status=201,
            results=[WriteResult(p, f"id-{i}-{p}", "1") for p in range(3)],
        )

    for i in range(history):  # the log and the figures of months of use, not timed
        one_note(rounds + i)
    spent.clear()
    gc.disable()  # a collection is the whole process's pause, not the measurement's: run it
    for i in range(rounds):  # between rounds, outside the timed calls
        gc.collect()
        one_note(i)
    editing = EditingTime()
    editing.focus(True)
    for _ in range(10_000):
        start = time.perf_counter()
        editing.typed()
        spent["keystroke (view-model)"].append((time.perf_counter() - start) * 1000)
    gc.enable()
    KpiRecorder.on_audit = original  # type: ignore[method-assign]
    ps.close()
    return spent


def bench_my_week(folder: Path, notes: int) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from app.services.kpi import KpiService
    from app.store.store import open_store
    from app.sync.store_thread import StoreThread
    from tests.support.kpi_data import seed_year

    last = date.today()
    store = open_store(folder / "year.db")
    written = seed_year(store, last, notes=notes)
    app = QApplication.instance() or QApplication([])
    start = time.perf_counter()
    import app.ui.my_week as my_week

    imported_ms = (time.perf_counter() - start) * 1000
    service = KpiService(store.kpi, StoreThread(), today=lambda: last)
    loop = asyncio.new_event_loop()
    service_ms, open_ms = [], []
    for _ in range(8):
        start = time.perf_counter()
        loop.run_until_complete(service.my_week())
        service_ms.append((time.perf_counter() - start) * 1000)
    for _ in range(8):
        start = time.perf_counter()
        model = my_week.MyWeekModel(service)
        dialog = my_week.MyWeekDialog(model)
        dialog.show()
        loop.run_until_complete(model.load())
        dialog.repaint()
        app.processEvents()
        open_ms.append((time.perf_counter() - start) * 1000)
        dialog.close()
        dialog.deleteLater()
        app.processEvents()
    loop.close()
    store.close()
    return {
        "notes": written,
        "import_ms": imported_ms,
        "service_ms": statistics.median(service_ms),
        "first_open_ms": open_ms[0],
        "open_ms": statistics.median(open_ms[1:]),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--history", type=int, default=1500, help="notes recorded before")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spent = bench_recording(Path(tmp), args.rounds, args.history)
        week = bench_my_week(Path(tmp), args.notes)
    worst = 0.0
    load = os.getloadavg()[0]
    print(f"Load average {load:.1f} on {os.cpu_count()} cores.")
    print(
        f"Recording a KPI event ({args.rounds} notes after {args.history} others; "
        "ms added to the action):"
    )
    for kind, values in sorted(spent.items()):
        p95 = pct(values, 0.95)
        if "keystroke" not in kind:
            worst = max(worst, p95)
        print(
            f"  {kind:34s} n={len(values):6d}  median {statistics.median(values):.3f}  "
            f"p95 {p95:.3f}  max {max(values):.3f}"
        )
    print(f"My week over a year ({week['notes']} notes):")
    print(
        f"  import of the charting library (once, when the Tools menu opens): {week['import_ms']:.0f} ms"
    )
    print(f"  figures read and summed (KpiService.my_week, median): {week['service_ms']:.1f} ms")
    print(f"  dialog built, filled and painted: first {week['first_open_ms']:.0f} ms, "
          f"then median {week['open_ms']:.0f} ms")  # fmt: skip
    ok = worst <= RECORD_GOAL_MS and max(week["first_open_ms"], week["open_ms"]) <= OPEN_GOAL_MS
    print(f"Goals (record <= {RECORD_GOAL_MS} ms p95, open <= {OPEN_GOAL_MS:.0f} ms): "
          + ("met" if ok else "NOT met"))  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
