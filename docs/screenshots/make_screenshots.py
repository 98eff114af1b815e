"""Drive the real app against the embedded sandbox and save screenshots of each page.

    QT_QPA_PLATFORM=offscreen BROWSER="python tests/support/browser.py %s" \
        .venv/bin/python docs/screenshots/make_screenshots.py [--size 1366x768] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.bootstrap import start_workbench  # noqa: E402
from app.domain.clinical import Reference  # noqa: E402
from app.domain.draft import ObservationItem, TaskItem  # noqa: E402
from app.paths import AppPaths  # noqa: E402
from app.ui.workbench import build_main_window  # noqa: E402


async def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.1)


async def main(size: str, out: Path) -> None:
    width, height = (int(x) for x in size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="fhir-writeback-shots-"))
    paths = AppPaths(tmp / "data", tmp / "log", tmp / "cfg", tmp / "site").ensure()
    workbench = start_workbench(None, True, paths)
    parts = build_main_window(workbench)
    window = parts.window
    window.resize(width, height)
    window.show()
    await asyncio.sleep(0.5)
    out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out / f"signin-{size}.png"))
    controller = parts.controller
    await wait_for(lambda: not controller.tasks.is_running("sign-in"), 30)  # restore attempt
    controller.request_sign_in(workbench.sites[0])
    await wait_for(
        lambda: (
            controller.session is not None
            and window.pages.currentWidget() is not controller.signin_view
        ),
        60,
    )
    await asyncio.sleep(1.5)
    workspace, gate = parts.workspace, parts.gate
    await wait_for(lambda: gate.chart is not None and workspace.drafts.draft is not None, 30)
    drafts = workspace.drafts
    workspace.editor.section_edits["plan"].setPlainText(
        "Increase lisinopril to 20 mg daily. Recheck blood pressure in 2 weeks."
    )
    drafts.edit_item(
        ObservationItem(
            "hr-1",
            "8867-4",
            "Heart rate",
            Decimal("78"),
            "/min",
            effective=datetime.now(UTC) - timedelta(minutes=5),
        )
    )
    drafts.edit_item(
        TaskItem(
            "task-1",
            "Recheck blood pressure",
            Reference("Practitioner", "prac-2"),
            date.today() + timedelta(days=14),
        )
    )
    drafts.refresh_diff()
    await asyncio.sleep(0.5)
    window.grab().save(str(out / f"workspace-{size}.png"))
    workspace.editor.items_tabs.setCurrentIndex(1)
    drafts.edit_item(TaskItem("task-2", "", None, None))
    drafts.refresh_diff()
    await asyncio.sleep(0.3)
    window.grab().save(str(out / f"validation-{size}.png"))
    drafts.remove_item("task-2")
    drafts.refresh_diff()
    workspace.approve_button.click()
    await asyncio.sleep(0.5)
    dialog = workspace.approval_dialog
    if dialog is not None:
        dialog.grab().save(str(out / f"approval-dialog-{size}.png"))
        if dialog.acknowledge is not None:
            dialog.acknowledge.setChecked(True)
        dialog.approve_button.click()
    await asyncio.sleep(3)
    window.grab().save(str(out / f"approved-{size}.png"))
    parts.outbox.toggle()
    await asyncio.sleep(0.5)
    panel = parts.outbox.panel
    if panel is not None:
        panel.refresh()
    await asyncio.sleep(0.5)
    window.grab().save(str(out / f"outbox-{size}.png"))
    parts.lock.lock()
    await asyncio.sleep(0.3)
    window.grab().save(str(out / f"locked-{size}.png"))
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
