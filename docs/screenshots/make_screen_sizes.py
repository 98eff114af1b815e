"""Screenshots of the whole screen at the sizes clinics have (issue 13), with a window manager:

    1366x768 and 1280x720 at 100 %, 1920x1080 at 125 % and 150 % (QT_SCALE_FACTOR)

    .venv/bin/python docs/screenshots/make_screen_sizes.py [--out docs/screenshots]

For each size a private Xvfb with openbox (tests/support/xsession.py) runs this script again
as the driver (``--drive``): the real main window against the embedded sandbox, opened at the
size the app chooses by itself (never resized or maximised here), signed in through the
scripted browser, a note written, then approved, sent and the outbox opened. Each step saves the *whole screen*
(``import -window root``), so a status line or section that falls off the screen shows.

Files: ``screen-<W>x<H>-<scale>-<step>.png`` with steps signin, workspace, outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SIZES = [
    (1366, 768, "1"),
    (1280, 720, "1"),
    (1920, 1080, "1.25"),
    (1920, 1080, "1.5"),
]


async def drive(prefix: str, out: Path) -> None:
    from app.ui.workbench import MainWindowParts
    from docs.screenshots.sandbox_window import signed_in_window

    def shoot(name: str) -> None:  # the whole screen, whatever is on it
        subprocess.run(["import", "-window", "root", str(out / name)], check=True, timeout=30)

    async def sign_in_page(_parts: MainWindowParts) -> None:
        await asyncio.sleep(1.5)
        shoot(f"{prefix}-signin.png")

    # opened at the size the app chooses by itself: never resized or maximised here
    async with signed_in_window(None, before_sign_in=sign_in_page) as shot:
        await write_approve_send(shot.parts, prefix, shoot)


async def write_approve_send(parts, prefix: str, shoot) -> None:  # type: ignore[no-untyped-def]
    from app.domain.clinical import Reference
    from app.domain.draft import ObservationItem, TaskItem
    from docs.screenshots.sandbox_window import wait_for

    workspace = parts.workspace
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
    await asyncio.sleep(1.5)
    shoot(f"{prefix}-workspace.png")
    workspace.approve_button.click()  # approved and sent: the outbox names the patient
    await wait_for(lambda: workspace.approval_dialog is not None, 30)
    dialog = workspace.approval_dialog
    assert dialog is not None
    if dialog.acknowledge is not None:
        dialog.acknowledge.setChecked(True)
    dialog.approve_button.click()
    await wait_for(lambda: workspace.editor.notice_label.text().startswith("Sent"), 60)
    parts.outbox.toggle()
    await asyncio.sleep(1.0)
    shoot(f"{prefix}-outbox.png")


def run_driver(prefix: str, out: Path) -> None:
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    qasync.run(drive(prefix, out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", help="one size, e.g. 1280x720-1")
    parser.add_argument("--drive", help=argparse.SUPPRESS)  # the child: prefix to save under
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.drive:
        run_driver(args.drive, args.out)
        return
    from tests.support.xsession import x_session

    for width, height, scale in SIZES:
        prefix = f"screen-{width}x{height}-{scale.replace('.', '_')}"
        if args.only and prefix != f"screen-{args.only.replace('.', '_')}":
            continue
        with x_session(width, height) as x, tempfile.TemporaryDirectory() as home:
            env = {
                **os.environ,
                **x.env,
                "QT_SCALE_FACTOR": scale,
                "HOME": home,
                "XDG_CONFIG_HOME": f"{home}/config",
                "BROWSER": f"{sys.executable} {ROOT / 'tests/support/browser.py'} %s",
                "SCRIPTED_BROWSER_MODE": "login",
            }
            subprocess.run(
                [sys.executable, __file__, "--drive", prefix, "--out", str(args.out)],
                env=env,
                check=True,
                timeout=300,
            )
        print(f"{prefix}: saved", flush=True)


if __name__ == "__main__":
    main()
