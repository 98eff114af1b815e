"""The main window frame: pages in a stack, and a status bar that is always truthful."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QStackedWidget, QWidget


class MainWindow(QMainWindow):
    def __init__(self, title: str = "FHIR Write-back") -> None:
        super().__init__()
        self.setWindowTitle(title)
        self.resize(1366, 768)
        self.pages = QStackedWidget(self)
        self.setCentralWidget(self.pages)

        self.site_label = QLabel("No EHR selected")
        self.user_label = QLabel("Not signed in")
        self.sync_label = QLabel("")
        for label in (self.site_label, self.user_label, self.sync_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = self.statusBar()
        bar.addWidget(self.site_label)
        bar.addWidget(self.user_label)
        bar.addPermanentWidget(self.sync_label)
        self._close_handlers: list[object] = []

    def show_page(self, page: QWidget) -> None:
        if self.pages.indexOf(page) < 0:
            self.pages.addWidget(page)
        self.pages.setCurrentWidget(page)

    def set_site(self, text: str) -> None:
        self.site_label.setText(text)

    def set_user(self, text: str) -> None:
        self.user_label.setText(text)

    def set_sync_summary(self, text: str) -> None:
        self.sync_label.setText(text)

    def closeEvent(self, event: QCloseEvent) -> None:
        for handler in self._close_handlers:
            if callable(handler):
                handler()
        super().closeEvent(event)

    def on_close(self, handler: object) -> None:
        self._close_handlers.append(handler)
