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

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from PySide6.QtWidgets import QSplitter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.domain.draft import FollowUpKind, ObservationItem
from app.domain.note_history import commit_of
from app.domain.outbox import OutboxState
from docs.screenshots.sandbox_window import (
    run_script,
    shoot,
    signed_in_window,
    size_of,
    wait_for,
)


async def main(size: str, out: Path) -> None:
    width, _height = size_of(size)
    async with signed_in_window(size_of(size)) as shot:
        parts, window = shot.parts, shot.window
        workspace, gate, drafts = parts.workspace, parts.gate, parts.workspace.drafts
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
        headers = [
            h.text() for c in range(table.columnCount()) if (h := table.horizontalHeaderItem(c))
        ]
        name = headers.index("Observation")
        hr_row = next(
            r for r in range(table.rowCount()) if table.item(r, name).text() == "Heart rate"
        )  # type: ignore[union-attr]
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


if __name__ == "__main__":
    run_script(main)
