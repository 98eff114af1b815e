"""The event loop outlives the window: closing it runs the asynchronous shutdown (the last
draft save, stopping the sender, closing the stores) before the app exits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMainWindow
    from app.ui.application import run_event_loop

    done = Path(sys.argv[1])

    def build():
        window = QMainWindow()
        QTimer.singleShot(300, window.close)  # the clinician closes the window
        return window

    async def shutdown():
        await asyncio.sleep(0.1)  # needs the loop: a save on the store thread, a network call
        await asyncio.get_running_loop().run_in_executor(None, done.write_text, "saved")

    sys.exit(run_event_loop(build, shutdown))
    """
)


def test_closing_the_window_runs_the_shutdown_to_its_end(tmp_path: Path) -> None:
    done = tmp_path / "done"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(done)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    assert "Event loop stopped" not in result.stderr
    assert done.read_text() == "saved"
