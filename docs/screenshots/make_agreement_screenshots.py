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
from app.domain.draft import ObservationItem  # noqa: E402
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
