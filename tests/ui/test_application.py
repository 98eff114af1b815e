"""The event loop outlives the window: closing it runs the asynchronous shutdown (the last
draft save, stopping the sender, closing the stores) before the app exits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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


ENDINGS = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow
    from app.ui.application import run_event_loop

    done, how = Path(sys.argv[1]), sys.argv[2]

    def end():
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)  # a logoff
        elif how == "sigint":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl+C in a terminal
        elif how == "qt-quit":
            QApplication.quit()  # the session manager asks Qt to quit
        elif how == "qt-exit":
            QApplication.exit(0)  # Qt's loop ends without asking anyone

    def build():
        window = QMainWindow()
        QTimer.singleShot(300, end)
        return window

    async def shutdown():
        await asyncio.sleep(0.2)  # still needs the loop after Qt's ended
        await asyncio.get_running_loop().run_in_executor(None, done.write_text, "saved")

    sys.exit(run_event_loop(build, shutdown))
    """
)


@pytest.mark.parametrize("how", ["sigterm", "sigint", "qt-quit", "qt-exit"])
def test_every_ending_runs_the_shutdown_and_exits_0_quietly(tmp_path: Path, how: str) -> None:
    done = tmp_path / "done"
    result = subprocess.run(
        [sys.executable, "-c", ENDINGS, str(done), how],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert done.read_text() == "saved"
