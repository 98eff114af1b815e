"""Screenshots of the agreement check, from the real app against the embedded sandbox: the
mismatch warning in the workspace (Objective says 78 beats/minute, the table 96 bpm, with its
one-click fixes and the app-maintained block) and the review dialog that asks to confirm it.

    Xvfb :92 -screen 0 1366x768x24 & openbox &   (DISPLAY=:92)
    BROWSER="python tests/support/browser.py %s" \\
        .venv/bin/python docs/screenshots/make_agreement_screenshots.py [--size 1366x768]

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

from app.domain.draft import ObservationItem
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
        window, workspace = shot.window, shot.parts.workspace
        drafts = workspace.drafts
        # the case: Objective says 78 beats/minute, the table 96 bpm
        editor = workspace.editor
        editor.section_edits["subjective"].setPlainText("Palpitations since Sunday.")
        editor.section_edits["objective"].setPlainText(
            "Vital signs (latest):\n- Heart rate: 78 beats/minute\nChest clear, heart sounds regular."
        )
        editor.section_edits["assessment"].setPlainText("Sinus tachycardia.")
        editor.section_edits["plan"].setPlainText("Holter monitor; review in 2 weeks.")
        taken = datetime.now(UTC) - timedelta(minutes=5)
        drafts.edit_item(ObservationItem("hr", "8867-4", "Heart rate", Decimal(96), "/min", taken))
        drafts.refresh_diff()
        agreement = workspace.agreement
        assert agreement is not None
        await wait_for(lambda: bool(agreement.model.mismatches), 10)
        pane = workspace.context_pane
        split = pane.parentWidget()
        if isinstance(split, QSplitter):  # the editor wide enough to read the block and the warning
            split.setSizes([260, width - 260])
        right = agreement.panel.parentWidget()
        if isinstance(right, QSplitter):
            right.setSizes([470, 80, 60])
        # Objective given the room the other sections can spare (as a clinician drags the
        # dividers), scrolled by a line: the value it states and the block under it both in view
        editor.sections_splitter.setSizes([1, 1000, 1, 1])
        await asyncio.sleep(0.3)
        objective = editor.section_edits["objective"]
        objective.verticalScrollBar().setValue(1)
        await asyncio.sleep(0.8)
        shoot(window, out / f"mismatch-warning-{size}.png")

        workspace.approval_dialog = None
        workspace.approve_button.click()
        await wait_for(lambda: workspace.approval_dialog is not None, 10)
        review = workspace.approval_dialog
        assert review is not None
        review.move(120, 40)
        await asyncio.sleep(0.8)
        shoot(review, out / f"mismatch-review-{size}.png")
        review.reject()


if __name__ == "__main__":
    run_script(main)
