"""Screenshots of follow-ups, from the real app against the embedded sandbox: the review of a
correction ("Correct this note" with the heart rate corrected) and the chart pane re-read after
the correction was confirmed (the note listed once, written here, its earlier version one
click away).

    Xvfb :91 -screen 0 1366x768x24 & openbox &   (DISPLAY=:91)
    BROWSER="python tests/support/browser.py %s" \\
        .venv/bin/python docs/screenshots/make_followup_screenshots.py [--size 1366x768]

Each picture is taken of the whole screen (``import -window root``) when a window manager runs,
so the dialog is seen over the main window as the clinician sees it; else Qt grabs the widget.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication, QSplitter, QWidget

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.bootstrap import start_workbench  # noqa: E402
from app.domain.draft import FollowUpKind, ObservationItem  # noqa: E402
from app.domain.note_history import commit_of  # noqa: E402
from app.domain.outbox import OutboxState  # noqa: E402
from app.paths import AppPaths  # noqa: E402
from app.ui.workbench import build_main_window  # noqa: E402


async def wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.1)


def shoot(widget: QWidget, path: Path) -> None:
    QApplication.processEvents()
    if os.environ.get("DISPLAY") and shutil.which("import"):
        subprocess.run(["import", "-window", "root", str(path)], check=True)
    else:
        widget.grab().save(str(path))
    print("saved", path)


async def main(size: str, out: Path) -> None:
    width, height = (int(x) for x in size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="fhir-writeback-shots-"))
    paths = AppPaths(tmp / "data", tmp / "log", tmp / "cfg", tmp / "site").ensure()
    workbench = start_workbench(None, True, paths)
    parts = build_main_window(workbench)
    window = parts.window
    window.resize(width, height)
    window.move(0, 0)
    window.show()
    out.mkdir(parents=True, exist_ok=True)
    controller = parts.controller
    await wait_for(lambda: not controller.tasks.is_running("sign-in"), 30)
    controller.request_sign_in(workbench.sites[0])
    workspace, gate, drafts = parts.workspace, parts.gate, parts.workspace.drafts
    await wait_for(lambda: gate.chart is not None and drafts.draft is not None)
    site = parts.flow.site
    assert site is not None
    await wait_for(lambda: site.outbox.sending)

    # a note with a heart rate of 96 (typed instead of 92), approved and confirmed
    workspace.editor.section_edits["subjective"].setPlainText("Palpitations since Sunday.")
    workspace.editor.section_edits["assessment"].setPlainText("Sinus rhythm, no distress.")
    workspace.editor.section_edits["plan"].setPlainText("Holter monitor; review in 2 weeks.")
    taken = datetime.now(UTC) - timedelta(minutes=5)
    drafts.edit_item(ObservationItem("hr", "8867-4", "Heart rate", Decimal(96), "/min", taken))
    drafts.edit_item(
        ObservationItem("temp", "8310-5", "Body temperature", Decimal("37.1"), "Cel", taken)
    )
    drafts.refresh_diff()
    await wait_for(lambda: gate.report is not None and gate.report.can_approve, 10)
    workspace.approve_button.click()
    await wait_for(lambda: workspace.approval_dialog is not None, 10)
    first = workspace.approval_dialog
    assert first is not None
    if first.acknowledge is not None:
        first.acknowledge.setChecked(True)
    queued: list[object] = []
    gate.queued.connect(queued.append)
    first.approve_button.click()
    await wait_for(lambda: bool(queued), 10)
    first_id = queued[0].commit_id  # type: ignore[attr-defined]
    await wait_for(lambda: site.outbox.item(first_id).state is OutboxState.CONFIRMED)

    # "Correct this note": 92, not 96
    await wait_for(lambda: drafts.draft is not None and not drafts.draft.is_editable, 10)
    workspace.follow_up_buttons[FollowUpKind.AMENDMENT].click()
    await wait_for(lambda: drafts.draft is not None and drafts.draft.is_editable, 30)
    table = workspace.editor.tables["observation"].table
    headers = [h.text() for c in range(table.columnCount()) if (h := table.horizontalHeaderItem(c))]
    name = headers.index("Observation")
    hr_row = next(r for r in range(table.rowCount()) if table.item(r, name).text() == "Heart rate")  # type: ignore[union-attr]
    cell = table.item(hr_row, headers.index("Value"))
    assert cell is not None
    cell.setText("92")
    plan = workspace.editor.section_edits["plan"]
    plan.setPlainText(plan.toPlainText() + " Heart rate recounted: 92.")
    drafts.refresh_diff()
    await wait_for(lambda: gate.report is not None and gate.report.can_approve, 10)
    workspace.approval_dialog = None
    workspace.approve_button.click()
    await wait_for(lambda: workspace.approval_dialog is not None, 10)
    review = workspace.approval_dialog
    assert review is not None
    review.move(120, 40)
    review.tabs.setCurrentWidget(review.writes_page)
    await asyncio.sleep(0.8)
    shoot(review, out / f"followup-review-{size}.png")
    if review.acknowledge is not None:
        review.acknowledge.setChecked(True)
    queued.clear()
    review.approve_button.click()
    await wait_for(lambda: bool(queued), 10)
    second_id = queued[0].commit_id  # type: ignore[attr-defined]
    await wait_for(lambda: site.outbox.item(second_id).state is OutboxState.CONFIRMED)

    # the chart pane, read again: the note once, written here, its earlier version below
    chart = parts.chart
    await wait_for(
        lambda: any(commit_of(t.current) == second_id and t.written_here for t in chart.threads)
    )
    await asyncio.sleep(0.5)
    pane = workspace.context_pane
    split = pane.parentWidget()
    if isinstance(split, QSplitter):  # the clinician can drag it: wide enough to read the notes
        split.setSizes([620, width - 620])
    for row in pane.thread_rows():
        row.setExpanded(True)
        pane.tree.scrollToItem(row)
    rows = pane.thread_rows()
    if rows:
        pane.tree.setCurrentItem(rows[0])
    await asyncio.sleep(0.5)
    shoot(window, out / f"chart-refreshed-{size}.png")
    window.close()
    await parts.aclose()
    await workbench.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1366x768")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    qasync.run(main(args.size, args.out))
