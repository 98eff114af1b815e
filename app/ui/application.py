"""Qt application start-up: one QApplication, the qasync loop, the main window."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

import qasync
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QWidget

# How long the window may take to paint before what waits for it starts anyway (a window that
# never paints, such as one opened minimised, must not keep the store closed).
FIRST_PAINT_TIMEOUT_S = 5.0


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
    build_window: Callable[[], QMainWindow],
    shutdown: Callable[[], Awaitable[None]] | None = None,
    once_shown: Callable[[QMainWindow], Awaitable[int | None]] | None = None,
) -> int:
    """Run the window until it closes; ``shutdown`` runs on the loop before it stops.

    ``once_shown`` runs when the window has first painted (what the clinician needs first is
    on screen before anything slow starts); an exit status it returns ends the app with it.

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
        status = None
        if once_shown is not None:
            await first_paint(window)
            status = await once_shown(window)
            if status is not None:
                window.close()
        if status is None:
            await closed.wait()
        if shutdown is not None:
            await shutdown()
        return status or 0

    return int(qasync.run(main()))


class _PaintWatch(QObject):
    """Sets ``painted`` at the first paint event of the widget it watches."""

    def __init__(self, painted: asyncio.Event) -> None:
        super().__init__()
        self._painted = painted

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self._painted.set()
        return False


async def first_paint(window: QWidget, timeout: float = FIRST_PAINT_TIMEOUT_S) -> None:
    """Return once ``window`` has painted for the first time (or after ``timeout``)."""
    painted = asyncio.Event()
    watch = _PaintWatch(painted)
    window.installEventFilter(watch)
    try:
        await asyncio.wait_for(painted.wait(), timeout)
    except TimeoutError:
        pass
    finally:
        window.removeEventFilter(watch)


async def tell_fatal_error(parent: QWidget, text: str) -> None:
    """Say why the app cannot go on, and wait until the clinician has read it (without
    blocking the event loop)."""
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        "FHIR Write-back cannot start",
        text,
        QMessageBox.StandardButton.Ok,
        parent,
    )
    read = asyncio.Event()
    box.finished.connect(lambda _result: read.set())
    box.open()
    await read.wait()
