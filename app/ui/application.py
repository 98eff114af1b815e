"""Qt application start-up: one QApplication, the qasync loop, the main window."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

import qasync
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox


def ensure_qapplication() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("FHIR Write-back")
        app.setOrganizationName("fhir-writeback")
        app.setStyle("Fusion")
    assert isinstance(app, QApplication)
    return app


def run_event_loop(
    build_window: Callable[[], QMainWindow], shutdown: Callable[[], Awaitable[None]] | None = None
) -> int:
    """Run the window until it closes; ``shutdown`` runs on the loop before it stops.

    Qt does not quit by itself when the window closes: once Qt's loop has returned, nothing
    asynchronous can finish (qasync stops with "Event loop stopped before Future completed"),
    so the last draft save, stopping the sender and closing the stores would never run. The
    window's closing ends ``main`` instead, after ``shutdown``; returning ends the loop."""
    app = ensure_qapplication()
    app.setQuitOnLastWindowClosed(False)

    async def main() -> int:
        closed = asyncio.Event()
        app.lastWindowClosed.connect(closed.set)
        app.aboutToQuit.connect(closed.set)  # quit from elsewhere (the session ends)
        window = build_window()
        window.show()
        await closed.wait()
        if shutdown is not None:
            await shutdown()
        return 0

    return int(qasync.run(main()))


def show_fatal_error(text: str) -> None:
    """Say why the app cannot start (before any window or event loop), and wait for OK."""
    ensure_qapplication()
    QMessageBox.critical(None, "FHIR Write-back cannot start", text)
