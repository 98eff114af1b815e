"""The worklist as a clinician sees it: the real app against the embedded sandbox (its clinic
day), signed in, one visit opened and its draft started, back to the day (Ctrl+Shift+W).

    BROWSER="python tests/support/browser.py %s" .venv/bin/python \
        docs/screenshots/make_worklist_screenshot.py [--size 1366x768] [--root-shot]

``--root-shot``: also capture the whole screen with ImageMagick's ``import`` (under Xvfb with
a window manager, e.g. openbox: what a person sees, frame included).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.bootstrap import start_workbench  # noqa: E402
from app.paths import AppPaths  # noqa: E402
from app.ui.workbench import build_main_window  # noqa: E402


async def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.1)


async def main(size: str, out: Path, root_shot: bool) -> None:
    width, height = (int(x) for x in size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="fhir-writeback-worklist-"))
    paths = AppPaths(tmp / "data", tmp / "log", tmp / "cfg", tmp / "site").ensure()
    workbench = start_workbench(None, True, paths)
    parts = build_main_window(workbench)
    window = parts.window
    window.resize(width, height)
    window.show()
    controller, flow = parts.controller, parts.worklist
    assert flow is not None
    await wait_for(lambda: not controller.tasks.is_running("sign-in"), 30)
    controller.request_sign_in(workbench.sites[0])
    await wait_for(lambda: parts.flow.site is not None, 60)
    page = flow.page
    await wait_for(lambda: page.table_model.rowCount() >= 12, 30)
    flow.back()
    await wait_for(lambda: window.pages.currentWidget() is page, 10)
    page.table.selectRow(6)  # an arrived patient: open the chart, start the note
    page.open_current()
    await wait_for(lambda: window.pages.currentWidget() is parts.workspace, 10)
    await wait_for(lambda: parts.workspace.drafts.draft is not None, 30)
    parts.workspace.editor.section_edits["subjective"].setPlainText("Cough for 5 days, no fever.")
    await asyncio.sleep(1.5)  # the autosave lands (the note column says "Draft")
    flow.back()
    await wait_for(lambda: window.pages.currentWidget() is page, 10)
    page.table.selectRow(7)
    await asyncio.sleep(1.0)
    out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out / f"worklist-{size}.png"))
    if root_shot:
        subprocess.run(["import", "-window", "root", str(tmp / f"screen-{size}.png")], check=True)
        print(f"whole screen: {tmp / f'screen-{size}.png'}")
    window.close()
    await parts.aclose()
    await workbench.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1366x768")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--root-shot", action="store_true")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    qasync.run(main(args.size, args.out, args.root_shot))
