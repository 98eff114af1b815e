"""Session lock: after a period without keyboard or mouse input the window hides every patient
detail behind a lock page. Unlocking needs the clinician to sign in again; background sync
keeps running while locked."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.services.errors import ServiceError
from app.services.session import SessionService
from app.ui.style import error_label, heading_label, hint_label

DEFAULT_IDLE_MINUTES = 10
IDLE_REASON = (
    "The chart was hidden because the app was not used for a while. Queued notes keep being "
    "sent while it is locked. Sign in again to continue where you left off."
)
SESSION_ENDED_REASON = (
    "Your EHR session has ended and could not be renewed. Sign in again to continue where you "
    "left off; notes in the outbox wait for you and nothing is lost."
)
ACTIVITY_EVENTS = {
    QEvent.Type.KeyPress,
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseMove,
    QEvent.Type.Wheel,
    QEvent.Type.TouchBegin,
}


class MainWindowLike(Protocol):
    pages: QStackedWidget

    def show_page(self, page: QWidget) -> None: ...

    def findChildren(self, kind: type[Any]) -> list[Any]: ...


class TaskStarter(Protocol):
    def start(self, name: str, coro: Coroutine[Any, Any, Any]) -> object: ...


class IdleWatcher(QObject):
    """Emits ``idle`` once after ``timeout_ms`` without user input anywhere in the app."""

    idle = Signal()

    def __init__(self, timeout_ms: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(timeout_ms)
        self._timer.timeout.connect(self.idle)
        self.active = False

    def start(self) -> None:
        app = QApplication.instance()
        if app is not None and not self.active:
            app.installEventFilter(self)
        self.active = True
        self._timer.start()

    def stop(self) -> None:
        app = QApplication.instance()
        if app is not None and self.active:
            app.removeEventFilter(self)
        self.active = False
        self._timer.stop()

    def set_timeout_minutes(self, minutes: float) -> None:
        self._timer.setInterval(max(1, int(minutes * 60_000)))
        if self.active:
            self._timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        if self.active and event.type() in ACTIVITY_EVENTS:
            self._timer.start()
        return False


class LockPage(QWidget):
    unlock_requested = Signal()
    switch_user_requested = Signal()
    pin_entered = Signal(str)  # working offline: the offline PIN unlocks

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        heading = heading_label("Locked")
        heading.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(heading)
        self.who = hint_label("")
        self.who.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.who)
        self.reason = hint_label(IDLE_REASON)
        self.reason.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.reason)
        self.error = error_label("")
        self.error.hide()
        layout.addWidget(self.error)
        row = QHBoxLayout()
        row.addStretch(1)
        self.switch_button = QPushButton("Sign in as someone else")
        self.switch_button.clicked.connect(self.switch_user_requested)
        self.unlock_button = QPushButton("Sign in to unlock")
        self.unlock_button.setDefault(True)
        self.unlock_button.clicked.connect(self.unlock_requested)
        row.addWidget(self.switch_button)
        row.addWidget(self.unlock_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.pin_edit = QLineEdit(self)  # shown while working offline (no EHR to sign in to)
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_edit.setAccessibleName("Offline PIN")
        self.pin_edit.setPlaceholderText("Offline PIN")
        self.pin_edit.setMaximumWidth(240)
        self.pin_edit.returnPressed.connect(self.submit_pin)
        self.pin_edit.hide()
        layout.addWidget(self.pin_edit, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)

    def show_offline(self, offline: bool) -> None:
        """Working offline: the PIN unlocks; signing in waits for the EHR."""
        self.pin_edit.setVisible(offline)
        self.unlock_button.setText("Unlock with PIN" if offline else "Sign in to unlock")
        self.switch_button.setEnabled(not offline)
        if offline:
            self.pin_edit.setFocus()

    def submit_pin(self) -> None:
        pin = self.pin_edit.text()
        self.pin_edit.clear()
        if pin:
            self.pin_entered.emit(pin)

    def show_user(self, name: str) -> None:
        self.who.setText(f"Signed in as {name}.")

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))


class SessionLock(QObject):
    """Locks the window after idle time; unlocks after the same clinician signs in again.

    A different person signing in at the lock page is a switch of user: the previous
    clinician's chart is closed (their drafts stay saved) and the app starts over.
    """

    locked_changed = Signal(bool)
    switch_user_requested = Signal()  # someone else signed in at the lock page

    def __init__(
        self,
        window: MainWindowLike,
        tasks: TaskStarter,
        flush: Callable[[], object],
    ) -> None:
        super().__init__()
        self.window = window
        self.tasks = tasks
        self._flush = flush
        self.page = LockPage()
        self.watcher = IdleWatcher(DEFAULT_IDLE_MINUTES * 60_000, self)
        self.watcher.idle.connect(self.lock)
        self.page.unlock_requested.connect(self._unlock_clicked)
        self.page.pin_entered.connect(lambda pin: self.tasks.start("unlock", self.unlock(pin)))
        self.page.switch_user_requested.connect(self._switch)
        self.session: SessionService | None = None
        self._hidden_page: QWidget | None = None
        self.locked = False

    def arm(self, session: SessionService) -> None:
        self.session = session
        minutes = session.site.idle_lock_minutes or DEFAULT_IDLE_MINUTES
        self.watcher.set_timeout_minutes(minutes)
        self.watcher.start()

    def disarm(self) -> None:
        self.watcher.stop()
        self.session = None

    def lock(self, reason: str | None = None) -> None:
        if self.locked or self.session is None:
            return
        self.page.reason.setText(reason or IDLE_REASON)
        self._flush()
        self._hidden_page = self.window.pages.currentWidget()
        self.page.show_user(self.session.user_name)
        self.page.show_error("")
        self.page.show_offline(self.session.working_offline)
        for dialog in self.window.findChildren(QDialog):
            dialog.hide()
        for dock in self.window.findChildren(QDockWidget):  # the outbox shows note details
            dock.hide()
        self.window.show_page(self.page)
        self.locked = True
        self.watcher.stop()
        self.locked_changed.emit(True)

    def _unlock_clicked(self) -> None:
        if self.session is not None and self.session.working_offline:
            self.page.submit_pin()
        else:
            self.tasks.start("unlock", self.unlock())

    async def unlock(self, pin: str | None = None) -> bool:
        """Sign in again (the same clinician), or, working offline, the offline PIN."""
        session = self.session
        if session is None:
            return False
        previous = session.user_key
        self.page.show_error("")
        try:
            if pin is not None:
                await session.check_offline_pin(pin)
                user_key = previous
            else:
                user_key = await session.sign_in()
        except ServiceError as exc:
            self.page.show_error(exc.words)
            return False
        if user_key is None or user_key != previous:
            self.page.show_error("")
            self._switch()
            return False
        self.locked = False
        if self._hidden_page is not None:
            self.window.show_page(self._hidden_page)
        self.watcher.start()
        self.locked_changed.emit(False)
        return True

    def _switch(self) -> None:
        self.locked = False
        self._hidden_page = None
        self.locked_changed.emit(False)
        self.switch_user_requested.emit()
