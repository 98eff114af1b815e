"""Screenshots of issue 13's pickers and keys, from the real app against the embedded sandbox:
the observation picker offering "Blood pressure" for "bp", a refused entry kept with what to type,
a due date shown resolved before it is accepted, the owner picker, Help › Keyboard shortcuts, and
the review's FHIR detail for IT.

    Xvfb :92 -screen 0 1366x768x24 & openbox &   (DISPLAY=:92)
    BROWSER="python tests/support/browser.py %s" \\
        .venv/bin/python docs/screenshots/make_keyboard_screenshots.py [--size 1366x768]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from docs.screenshots.sandbox_window import (
    run_script,
    shoot,
    signed_in_window,
    size_of,
    wait_for,
)


def focused():  # type: ignore[no-untyped-def]
    return QApplication.focusWidget()


async def main(size: str, out: Path) -> None:
    async with signed_in_window(size_of(size)) as shot:
        parts, window = shot.parts, shot.window
        workspace, gate, drafts = parts.workspace, parts.gate, parts.workspace.drafts
        await wait_for(lambda: bool(workspace.entry and workspace.entry.owners), 30)
        editor = workspace.editor
        editor.section_edits["subjective"].setPlainText("Headache for 3 days, better with rest.")
        editor.section_edits["plan"].setPlainText("Recheck blood pressure in *** weeks.")

        editor.add_row("observation")
        await wait_for(lambda: focused() is not None and focused().inherits("QLineEdit"), 10)
        QTest.keyClicks(focused(), "bp")
        await asyncio.sleep(0.8)
        shoot(window, out / f"picker-observation-{size}.png")
        QTest.keyClick(focused(), Qt.Key.Key_Return)
        await asyncio.sleep(0.3)
        QTest.keyClicks(focused(), "142/")
        QTest.keyClick(focused(), Qt.Key.Key_Return)
        await asyncio.sleep(0.8)
        shoot(window, out / f"entry-refused-{size}.png")
        table = editor.table_for("observation").table
        table.item(0, 1).setText("142/88")  # type: ignore[union-attr]

        editor.add_row("task")
        await wait_for(lambda: focused() is not None and focused().inherits("QLineEdit"), 10)
        QTest.keyClicks(focused(), "Recheck blood pressure")
        QTest.keyClick(focused(), Qt.Key.Key_Return)
        await asyncio.sleep(0.3)
        QTest.keyClicks(focused(), "jones")
        await asyncio.sleep(0.8)
        shoot(window, out / f"picker-owner-{size}.png")
        QTest.keyClick(focused(), Qt.Key.Key_Return)
        await asyncio.sleep(0.3)
        QTest.keyClicks(focused(), "next monday")
        await asyncio.sleep(0.8)
        shoot(window, out / f"due-date-preview-{size}.png")
        QTest.keyClick(focused(), Qt.Key.Key_Return)
        editor.next_blank(1)
        QTest.keyClicks(focused(), "2")

        parts.help_menu.show_shortcuts()  # type: ignore[union-attr]
        await asyncio.sleep(0.8)
        shoot(window, out / f"keyboard-shortcuts-{size}.png")
        parts.help_menu.dialog.reject()  # type: ignore[union-attr]

        drafts.refresh_diff()
        await wait_for(lambda: gate.report is not None and gate.report.can_approve, 10)
        workspace.review_shortcut()
        await wait_for(lambda: workspace.approval_dialog is not None, 10)
        review = workspace.approval_dialog
        assert review is not None
        review.move(120, 20)
        review.tabs.setCurrentWidget(review.writes_page)
        review.detail_button.setChecked(True)
        await asyncio.sleep(0.8)
        shoot(window, out / f"review-fhir-detail-{size}.png")
        review.reject()


if __name__ == "__main__":
    run_script(main)
