"""Qt application start-up and shutdown: one QApplication, the qasync loop, the main window.

However the app is ended, the same asynchronous shutdown runs to its end on the running loop
(the last draft save, stopping the sender, closing sessions, HTTP clients and stores), and the
process exits 0 without a traceback:

    the window closes      its close button, the window manager, File › Quit, Ctrl+Q
    SIGTERM, SIGINT        a logoff or shutdown, a service manager, Ctrl+C in a terminal
    Qt ends its own loop   the session manager (Windows logoff): Qt's loop returns before the
                           shutdown could finish ("Event loop stopped before Future completed");
                           the loop is then run again until it has

Qt does not quit by itself when the window closes: once Qt's loop has returned, nothing
asynchronous can finish, so the window's closing ends ``main`` instead, after ``shutdown``;
returning ends the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

import qasync
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.ui.quit_signals import QUIT_SIGNALS, QuitRequests

# How long the window may take to paint before what waits for it starts anyway (a window that
# never paints, such as one opened minimised, must not keep the store closed).
FIRST_PAINT_TIMEOUT_S = 5.0

log = logging.getLogger(__name__)

# Qt's loop may be ended from outside more than once (a session manager that insists): the
# shutdown gets this many chances to finish.
RESTARTS = 3
SHUTDOWN_FAILED = (
    "FHIR Write-back could not close everything cleanly; your drafts and queued notes are kept "
    "and are checked at the next start. The log folder says more."
)


def ensure_qapplication() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("FHIR Write-back")
        app.setOrganizationName("fhir-writeback")
        app.setStyle("Fusion")
    assert isinstance(app, QApplication)
    return app


def _on_quit_signals(loop: asyncio.AbstractEventLoop, handler: Callable[[], None]) -> None:
    """Call ``handler`` on the loop when the OS asks the app to end."""
    for signum in QUIT_SIGNALS:
        try:
            loop.add_signal_handler(signum, handler)
        except (NotImplementedError, RuntimeError, ValueError):
            # Windows (no add_signal_handler), or not the main thread: a plain handler that
            # hands over to the loop (Python runs it between Qt's events).
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, lambda *_: loop.call_soon_threadsafe(handler))


class _QuitEndsTheApp(QObject):
    """``QApplication.quit()`` (a session manager, a stray call) would end Qt's loop at once
    and close the windows while it winds down, when no asynchronous step may run; it ends the
    app the ordinary way instead: the shutdown, then the loop."""

    def __init__(self, end: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self._end = end

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Quit and watched is self.parent():
            self._end()
            return True
        return False


def run_event_loop(
    build_window: Callable[[], QMainWindow],
    shutdown: Callable[[], Awaitable[None]] | None = None,
    once_shown: Callable[[QMainWindow], Awaitable[int | None]] | None = None,
    asked_to_quit: QuitRequests | None = None,
) -> int:
    """Run the window until the app ends; ``shutdown`` runs on the loop before it stops.
    Returns the exit status: 0, 1 when the shutdown itself failed (logged, no traceback), or
    the one ``once_shown`` returned. ``once_shown`` runs when the window has first painted
    (what the clinician needs first is on screen before anything slow starts).
    ``asked_to_quit``: quit signals noted while the app started (app.ui.quit_signals); one
    there ends the app at once, with the shutdown and no window."""
    app = ensure_qapplication()
    app.setQuitOnLastWindowClosed(False)

    def new_loop() -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        return loop

    ending = asyncio.Event()
    qt_ended: list[bool] = []

    def qt_ends_its_loop() -> None:
        # Emitted while Qt's loop winds down, when no asyncio step may run: only noted here;
        # the loop is run again below and the shutdown starts then.
        qt_ended.append(True)

    async def main() -> int:
        app.lastWindowClosed.connect(ending.set)
        app.aboutToQuit.connect(qt_ends_its_loop)
        _on_quit_signals(asyncio.get_running_loop(), ending.set)
        quit_filter = _QuitEndsTheApp(ending.set, app)
        app.installEventFilter(quit_filter)
        status: int | None = None
        if asked_to_quit is not None and asked_to_quit.requested:
            log.info("asked to quit while starting; ending without opening the window")
        else:
            window = build_window()
            window.show()
            status = await _after_first_paint(window, once_shown)
            if status is None:
                await ending.wait()
        return await _shut_down(app, shutdown, status)

    async def finish(task: asyncio.Task[int]) -> int:
        if qt_ended:
            ending.set()
        return await asyncio.shield(task)

    with asyncio.Runner(loop_factory=new_loop) as runner:
        task = runner.get_loop().create_task(main())
        for _ in range(RESTARTS):
            try:
                return int(runner.run(finish(task)))
            except RuntimeError:
                if task.done():
                    raise
                log.info("Qt ended its loop before the shutdown finished; finishing it")
        task.cancel()
        log.error("the shutdown did not finish: Qt kept ending its loop")
        sys.stderr.write(SHUTDOWN_FAILED + "\n")
        return 1


async def _shut_down(
    app: QApplication, shutdown: Callable[[], Awaitable[None]] | None, status: int | None
) -> int:
    """The shutdown on the running loop; the exit status (1 when the shutdown failed)."""
    if shutdown is None:
        return status or 0
    try:
        await shutdown()
    except Exception as exc:  # a bug: logged for support, one sentence for the person
        log.error("shutdown failed: %s", type(exc).__name__, exc_info=exc)
        sys.stderr.write(SHUTDOWN_FAILED + "\n")
        return 1
    finally:
        for widget in app.topLevelWidgets():  # ended by a signal: the window may be open
            widget.hide()
    return status or 0


async def _after_first_paint(
    window: QMainWindow, once_shown: Callable[[QMainWindow], Awaitable[int | None]] | None
) -> int | None:
    if once_shown is None:
        return None
    await first_paint(window)
    status = await once_shown(window)
    if status is not None:
        window.close()
    return status


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


CANNOT_START_TITLE = "FHIR Write-back cannot start"


class CannotStartWindow(QMainWindow):
    """The app's only window when it cannot start at all (nothing else could be built): why,
    and what to do, with a Close button."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.setWindowTitle(CANNOT_START_TITLE)
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        critical = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical)
        icon.setPixmap(critical.pixmap(size, size))
        self.words = QLabel(text)
        self.words.setWordWrap(True)
        self.words.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.words.setMinimumWidth(420)
        row = QHBoxLayout()
        row.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.words, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        column = QVBoxLayout()
        column.addLayout(row)
        column.addWidget(buttons)
        body = QWidget()
        body.setLayout(column)
        self.setCentralWidget(body)


def run_cannot_start_window(text: str, asked_to_quit: QuitRequests | None = None) -> None:
    """Say in a window why the app cannot start, until it is closed (or the app is asked to
    quit: a logoff does not wait for the clinician to read it)."""
    run_event_loop(lambda: CannotStartWindow(text), asked_to_quit=asked_to_quit)
