"""The window's size and place and the positions of its dividers, remembered per user.

Kept with ``QSettings`` in an INI file in the per-user configuration folder (the composition
root gives the path: ``<user config>/window.ini``): geometry, the dock's state and each
splitter's sizes, and which docks were opened (a dock never opened has no height of the
clinician's to restore: it opens at its own first height) — numbers and names only, never
anything about a patient. Without a path (tests) the
layout is simply not remembered.

A new window, or one whose remembered place is off every screen now (a laptop undocked from a
large monitor), is fitted to the screen it opens on: the whole window, title bar included,
inside the screen's available area, so the status and every control are reachable without
maximising — at 1280×720, and at 1920×1080 with 150 % scaling (the same 1280×720 in Qt's
device-independent pixels).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QRect, QSettings, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QMainWindow, QSplitter, QStyle

PREFERRED = (1366, 768)  # what the window asks for when the screen has room
MINIMUM = (760, 480)  # small enough for any screen in use; the layout scrolls below it


class LayoutMemory(QObject):
    def __init__(self, path: Path | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = (
            QSettings(str(path), QSettings.Format.IniFormat) if path is not None else None
        )
        self._splitters: dict[str, QSplitter] = {}
        self._state_restored = False
        self._opened_docks: set[str] = set()

    # ------------------------------------------------------------------ the window
    def restore_window(self, window: QMainWindow) -> None:
        """Before ``show``: the remembered geometry, or one fitted to the screen."""
        window.setMinimumSize(*MINIMUM)
        geometry = self._value("window/geometry")
        if geometry is None or not window.restoreGeometry(geometry):
            fit_to_screen(window)
        # after the window manager framed it: make sure the frame fits too
        QTimer.singleShot(300, lambda: keep_on_screen(window))

    def restore_state(self, window: QMainWindow) -> None:
        """After the docks exist: their places and sizes."""
        state = self._value("window/state")
        self._state_restored = state is not None and window.restoreState(state)

    def dock_was_sized(self, dock: QDockWidget) -> bool:
        """The restored layout holds a height for ``dock``: it was opened when the layout
        was saved, and the clinician may have dragged it since (keep it)."""
        return self._state_restored and self._flag(f"docks/{dock.objectName()}/opened")

    def dock_opened(self, dock: QDockWidget) -> None:
        """``dock`` was opened: its height is saved with the window from now on."""
        self._opened_docks.add(dock.objectName())

    def save_window(self, window: QMainWindow) -> None:
        if self._settings is None:
            return
        self._settings.setValue("window/geometry", window.saveGeometry())
        self._settings.setValue("window/state", window.saveState())
        for name, splitter in self._splitters.items():
            self._settings.setValue(f"splitters/{name}", splitter.saveState())
        for name in self._opened_docks:
            self._settings.setValue(f"docks/{name}/opened", 1)
        self._settings.sync()

    # ------------------------------------------------------------------ dividers
    def remember(self, splitter: QSplitter, name: str) -> None:
        """Restore ``splitter``'s sizes now (when known) and save them with the window."""
        splitter.setObjectName(name)
        self._splitters[name] = splitter
        state = self._value(f"splitters/{name}")
        if state is not None:
            splitter.restoreState(state)

    def _flag(self, key: str) -> bool:
        return self._settings is not None and str(self._settings.value(key, "")) == "1"

    def _value(self, key: str) -> QByteArray | None:
        if self._settings is None:
            return None
        value = self._settings.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None


def _title_bar_height(window: QMainWindow) -> int:
    style = window.style()
    return style.pixelMetric(QStyle.PixelMetric.PM_TitleBarHeight) + 2 * style.pixelMetric(
        QStyle.PixelMetric.PM_DefaultFrameWidth
    )


def _available(window: QMainWindow) -> QRect:
    screen = window.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fit_to_screen(window: QMainWindow) -> None:
    """The preferred size where the screen has room, else the screen's available area less
    the title bar; centred."""
    area = _available(window)
    width = min(PREFERRED[0], area.width())
    height = min(PREFERRED[1], area.height() - _title_bar_height(window))
    window.resize(max(width, MINIMUM[0]), max(height, MINIMUM[1]))
    x = area.x() + max(0, (area.width() - width) // 2)
    y = area.y() + max(0, (area.height() - height - _title_bar_height(window)) // 2)
    window.move(x, y)


def keep_on_screen(window: QMainWindow) -> None:
    """If the framed window overflows the available area (the title bar was taller than
    guessed, or the remembered size is too large now), shrink and move it inside."""
    if not window.isVisible() or window.isMaximized() or window.isFullScreen():
        return
    area = _available(window)
    frame = window.frameGeometry()
    if area.contains(frame):
        return
    extra_w = frame.width() - window.width()
    extra_h = frame.height() - window.height()
    width = max(min(window.width(), area.width() - extra_w), MINIMUM[0])
    height = max(min(window.height(), area.height() - extra_h), MINIMUM[1])
    window.resize(width, height)
    x = min(max(frame.x(), area.x()), area.x() + area.width() - (width + extra_w))
    y = min(max(frame.y(), area.y()), area.y() + area.height() - (height + extra_h))
    window.move(max(x, area.x()), max(y, area.y()))
