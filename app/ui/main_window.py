"""The main window frame: pages in a stack, the sync status in the header (always in view),
who is signed in where in the status bar."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

NO_SITE_CHOSEN = "No EHR selected"


class MainWindow(QMainWindow):
    def __init__(self, title: str = "FHIR Write-back") -> None:
        super().__init__()
        self.setWindowTitle(title)
        self.resize(1366, 768)
        self.pages = QStackedWidget(self)
        self.setCentralWidget(self.pages)

        self.site_label = QLabel(NO_SITE_CHOSEN)
        self.user_label = QLabel("Not signed in")
        self.sync_label = QLabel("")
        for label in (self.site_label, self.user_label, self.sync_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = self.statusBar()
        bar.addWidget(self.site_label)
        bar.addWidget(self.user_label)
        # The sync status lives in the header (the menu bar's right-hand corner): visible
        # whatever the window's height, on every page.
        self.header_status = QWidget(self)
        self.header_status.setObjectName("headerStatus")
        self._header = QHBoxLayout(self.header_status)
        self._header.setContentsMargins(0, 0, 6, 0)
        self._header.addWidget(self.sync_label)
        self.sync_label.hide()
        self.menuBar().setCornerWidget(self.header_status, Qt.Corner.TopRightCorner)
        self._close_handlers: list[object] = []
        self._guard: Callable[[], str | None] | None = None
        self._close_confirmed = False
        self.close_question: QMessageBox | None = None
        self.told: QMessageBox | None = None  # the last message of tell()

    def menu(self, title: str) -> QMenu:
        """The menu bar's menu ``title`` ("&Note"), added at its end the first time: the
        sign-in window lays the bar out before the menus are filled, so filling them later
        never moves it (nor closes a menu the clinician has open)."""
        for action in self.menuBar().actions():
            found = action.menu()
            if isinstance(found, QMenu) and found.title() == title:
                return found
        return self.menuBar().addMenu(title)

    def show_page(self, page: QWidget) -> None:
        if self.pages.indexOf(page) < 0:
            self.pages.addWidget(page)
        self.pages.setCurrentWidget(page)

    def tell(self, text: str) -> None:
        """A message over the window that never blocks: window-modal and opened, not run in a
        nested loop (``exec()``), so the app goes on sending while it is open. A second one
        while the first is open is added to it."""
        box = self.told
        if box is not None and box.isVisible():
            if text not in box.text():
                box.setText(f"{box.text()}\n\n{text}")
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "FHIR Write-back", text, parent=self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.told = box
        box.open()

    def bring_to_front(self) -> None:
        """Back in front of the browser after a sign-in: shown (un-minimised), raised and
        activated. Window managers decide in the end (focus-stealing prevention):
        docs/sign-in.md, 6a, says what each platform allows."""
        if self.isMinimized():
            self.showNormal()
        self.raise_()
        self.activateWindow()
        handle = self.windowHandle()
        if handle is not None:
            handle.requestActivate()

    def set_site(self, text: str) -> None:
        self.site_label.setText(text)

    def set_user(self, text: str) -> None:
        self.user_label.setText(text)

    def set_sync_summary(self, text: str) -> None:
        self.sync_label.setText(text)
        self.sync_label.setVisible(bool(text))
        self.refresh_header()

    def add_status_widget(self, widget: QWidget) -> None:
        """Show ``widget`` in the header's status area (the outbox's sync sentence)."""
        self._header.addWidget(widget)
        self.refresh_header()

    def remove_status_widget(self, widget: QWidget) -> None:
        self._header.removeWidget(widget)
        widget.hide()
        self.refresh_header()

    def refresh_header(self) -> None:
        """Lay the header out again (its status sentence changed length)."""
        if self.header_status.size() == self.header_status.sizeHint():
            return
        self.header_status.adjustSize()
        self.menuBar().setCornerWidget(self.header_status, Qt.Corner.TopRightCorner)
        self.menuBar().updateGeometry()

    def closeEvent(self, event: QCloseEvent) -> None:
        app = QGuiApplication.instance()
        ending_session = isinstance(app, QGuiApplication) and app.isSavingSession()
        asks = not (self._close_confirmed or ending_session) and self._guard is not None
        question = self._guard() if asks and self._guard is not None else None
        if question:
            event.ignore()
            self._ask_before_closing(question)
            return
        for handler in self._close_handlers:
            if callable(handler):
                handler()
        super().closeEvent(event)

    def on_close(self, handler: object) -> None:
        self._close_handlers.append(handler)

    def set_close_guard(self, guard: Callable[[], str | None]) -> None:
        """``guard`` says what closing now would leave behind (unsent notes), or None."""
        self._guard = guard

    def _ask_before_closing(self, text: str) -> None:
        """Window-modal and without a nested loop (never ``exec()``): the app keeps sending
        while the question is open."""
        if self.close_question is not None and self.close_question.isVisible():
            return
        box = QMessageBox(QMessageBox.Icon.Information, "Notes not sent yet", text, parent=self)
        quit_button = box.addButton("Quit", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep the app open", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(quit_button)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda _result: self._answered(box.clickedButton() is quit_button))
        self.close_question = box
        box.open()

    def _answered(self, quit_now: bool) -> None:
        self.close_question = None
        if quit_now:
            self._close_confirmed = True
            self.close()
