"""The outbox as a dock at the bottom of the main window, and its sentence in the status bar.

One store per site: when a clinician signs in, the dock shows that site's outbox and follows
that site's sync runner. The status-bar button opens and closes the dock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow

from app.store.outbox import OutboxRepository
from app.ui.outbox_panel import OutboxPanel
from app.ui.sync_status import SyncStatusButton, SyncStatusModel


class OutboxDock:
    def __init__(self, window: QMainWindow, user_label: Callable[[], str]) -> None:
        self.window = window
        self.user_label = user_label
        self.dock = QDockWidget("Outbox — notes approved for the chart", window)
        self.dock.setObjectName("outboxDock")
        self.dock.setAllowedAreas(Qt.DockWidgetArea.BottomDockWidgetArea)
        self.dock.setWidget(QLabel("Sign in to see the outbox."))
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.dock.hide()
        self.status: SyncStatusModel | None = None
        self.button: SyncStatusButton | None = None
        self.panel: OutboxPanel | None = None
        self._runner: Any = None

    def show_store(self, repo: OutboxRepository) -> None:
        self.close()
        self.status = SyncStatusModel(repo, None)
        self.panel = OutboxPanel(
            repo, self.sync_now, user_label=self.user_label, status=self.status
        )
        self.dock.setWidget(self.panel)
        self.button = SyncStatusButton(self.status, self.toggle)
        self.window.statusBar().addPermanentWidget(self.button)

    def follow_runner(self, runner: Any) -> None:
        self._runner = runner
        if self.status is not None:
            self.status.set_runner(runner)

    def sync_now(self) -> None:
        if self._runner is not None:
            self._runner.sync_now()

    def toggle(self) -> None:
        self.dock.setVisible(not self.dock.isVisible())

    def close(self) -> None:
        """Stop following a store (sign-out, switching site)."""
        if self.panel is not None:
            self.panel.close_panel()
        if self.status is not None:
            self.status.close()
        if self.button is not None:
            self.window.statusBar().removeWidget(self.button)
            self.button.deleteLater()
        self.panel = self.status = self.button = None
        self._runner = None
        self.dock.setWidget(QLabel("Sign in to see the outbox."))
        self.dock.hide()
