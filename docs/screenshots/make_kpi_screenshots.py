"""Screenshot of "My week" (Tools menu), from the real app against the embedded sandbox: the
clinician signed in, a year of figures in the site's store (tests/support/kpi_data.py: about
5,000 synthetic notes), Tools > My week over the main window.

    Xvfb :91 -screen 0 1366x768x24 & openbox &   (DISPLAY=:91)
    BROWSER="python tests/support/browser.py %s" \\
        .venv/bin/python docs/screenshots/make_kpi_screenshots.py [--size 1366x768]

The picture is taken of the whole screen (``import -window root``) when a window manager runs;
else Qt grabs the dialog.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication, QWidget

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.bootstrap import open_site_store, start_workbench  # noqa: E402
from app.paths import AppPaths  # noqa: E402
from app.ui.workbench import build_main_window  # noqa: E402
from tests.support.kpi_data import seed_year  # noqa: E402


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
    await wait_for(lambda: parts.gate.chart is not None and parts.drafts.draft is not None)

    # a year of figures beside the app's own (the same file; WAL readers and writers coexist)
    folder = paths.data_dir / "sites" / workbench.sites[0].id
    protected = open_site_store(folder, is_sandbox=True)
    seed_year(protected.store, datetime.now().astimezone().date())
    protected.close()

    parts.tools.open_my_week()
    dialog = parts.tools.my_week
    assert dialog is not None
    await wait_for(lambda: dialog.model.report is not None)  # type: ignore[attr-defined]
    dialog.move(max(0, (width - dialog.width()) // 2), max(0, (height - dialog.height()) // 2))
    await asyncio.sleep(0.8)
    shoot(dialog, out / f"my-week-{size}.png")
    dialog.close()
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
