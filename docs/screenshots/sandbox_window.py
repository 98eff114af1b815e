"""What the screenshot scripts share: the real main window, signed in to the embedded sandbox.

    async with signed_in_window((1366, 768)) as shot:   # None: the size the app chooses
        shot.parts.workspace ...                         # the chart in context is loaded
        shoot(shot.window, out / "name.png")

    run_script(main)   # --size WxH and --out, a QApplication, then ``main(size, out)`` on qasync

Each run uses fresh app folders in a temporary directory; the sign-in goes through the browser
named by ``BROWSER`` (``python tests/support/browser.py %s``). ``shoot`` takes the whole
screen (``import -window root``) when a window manager runs, so a dialog is seen over the main
window as the clinician sees it; else Qt grabs the widget.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the app, run as a script

from PySide6.QtWidgets import QApplication, QWidget

from app.bootstrap import start_workbench
from app.paths import AppPaths
from app.services.workbench import Workbench
from app.ui.main_window import MainWindow
from app.ui.workbench import MainWindowParts, build_main_window

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SignedIn:
    workbench: Workbench
    parts: MainWindowParts
    paths: AppPaths

    @property
    def window(self) -> MainWindow:
        return self.parts.window


async def wait_for(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.1)


def shoot(widget: QWidget, path: Path) -> None:
    QApplication.processEvents()
    if os.environ.get("DISPLAY") and shutil.which("import"):
        subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=30)
    else:
        widget.grab().save(str(path))
    print("saved", path)


@contextlib.asynccontextmanager
async def signed_in_window(
    size: tuple[int, int] | None,
    *,
    before_sign_in: Callable[[MainWindowParts], Awaitable[None]] | None = None,
) -> AsyncIterator[SignedIn]:
    """The main window at ``size`` (placed at 0,0), signed in, the chart in context and its
    draft loaded; closed, with its services, on the way out."""
    tmp = Path(tempfile.mkdtemp(prefix="fhir-writeback-shots-"))
    paths = AppPaths(tmp / "data", tmp / "log", tmp / "cfg", tmp / "site").ensure()
    workbench = start_workbench(None, True, paths)
    parts = build_main_window(workbench)
    window = parts.window
    if size is not None:
        window.resize(*size)
        window.move(0, 0)
    window.show()
    window.activateWindow()
    try:
        if before_sign_in is not None:
            await before_sign_in(parts)
        controller = parts.controller
        await wait_for(lambda: not controller.tasks.is_running("sign-in"), 30)
        controller.request_sign_in(workbench.sites[0])
        drafts = parts.workspace.drafts
        await wait_for(lambda: parts.gate.chart is not None and drafts.draft is not None)
        yield SignedIn(workbench, parts, paths)
    finally:
        window.close()
        await parts.aclose()
        await workbench.aclose()


def size_of(text: str) -> tuple[int, int]:
    width, height = (int(x) for x in text.split("x"))
    return width, height


def run_script(main: Callable[[str, Path], Awaitable[None]]) -> None:
    """The scripts' command line (``--size``, ``--out``) and event loop."""
    import qasync

    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1366x768")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # type: ignore[attr-defined]
    qasync.run(main(args.size, args.out))
