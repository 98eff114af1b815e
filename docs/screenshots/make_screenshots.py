"""Drive the real app against the embedded sandbox and save screenshots of each page.

    QT_QPA_PLATFORM=offscreen BROWSER="python tests/support/browser.py %s" \
        .venv/bin/python docs/screenshots/make_screenshots.py [--size 1366x768] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.bootstrap import build_services  # noqa: E402
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
    services = build_services(None, True, paths)
    window = build_main_window(services)
    window.resize(width, height)
    window.show()
    await asyncio.sleep(0.5)
    out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out / f"signin-{size}.png"))
    controller = window.controller  # type: ignore[attr-defined]
    await wait_for(lambda: not controller.tasks.is_running("sign-in"), 30)  # restore attempt
    controller.request_sign_in(services.sites[0])
    await wait_for(lambda: controller.session is not None and window.pages.currentWidget() is not controller.signin_view, 60)
    await asyncio.sleep(1.5)
    window.grab().save(str(out / f"workspace-{size}.png"))
    for name, grab in getattr(window, "extra_screens", {}).items():
        grab().save(str(out / f"{name}-{size}.png"))
    window.close()
    await services.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1366x768")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    qasync.run(main(args.size, args.out))
