"""The outbox as a dock at the bottom of the main window, and its sentence in the header.

One store per site: when a clinician signs in, the dock shows that site's outbox (its
``OutboxService``: rows, actions and the runner's status). The status-bar button opens and
closes the dock.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel

from app.services.outbox import OutboxService
from app.ui.main_window import MainWindow
from app.ui.outbox_panel import OutboxPanel
from app.ui.sync_status import SyncStatusButton, SyncStatusModel
from app.ui.tasks import TaskTracker

SIGNED_OUT = "Sign in to see the outbox."


class OutboxDock:
    def __init__(self, window: MainWindow, tasks: TaskTracker) -> None:
        self.window = window
        self.tasks = tasks
        self.dock = QDockWidget("Outbox — notes approved for the chart", window)
        self.dock.setObjectName("outboxDock")
        self.dock.setAllowedAreas(Qt.DockWidgetArea.BottomDockWidgetArea)
        self.dock.setWidget(QLabel(SIGNED_OUT))
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.dock.hide()
        self._sized = False
        self.status: SyncStatusModel | None = None
        self.button: SyncStatusButton | None = None
        self.panel: OutboxPanel | None = None

    def show_outbox(self, outbox: OutboxService) -> None:
        self.close()
        self.status = SyncStatusModel(outbox, outbox)
        self.panel = OutboxPanel(outbox, self.tasks, status=self.status)
        self.dock.setWidget(self.panel)
        self.button = SyncStatusButton(self.status, self.toggle)
        self.window.add_status_widget(self.button)
        self.status.summary_changed.connect(lambda _text: self.window.refresh_header())

    def toggle(self) -> None:
        """Open the outbox (its list takes the keyboard focus) or close it."""
        showing = not self.dock.isVisible()
        self.dock.setVisible(showing)
        if showing and not self._sized:
            # a quarter of the window the first time (then as the clinician drags it,
            # remembered with the window): the note keeps room for its sections
            self._sized = True
            height = max(180, self.window.height() // 4)
            self.window.resizeDocks([self.dock], [height], Qt.Orientation.Vertical)
        if showing and self.panel is not None:
            self.panel.table.setFocus()

    def sync_now(self) -> None:
        """Send what is waiting now (F9); signed out there is nothing to send."""
        if self.panel is not None:
            self.panel.sync_now()

    def close(self) -> None:
        """Stop following a site's outbox (sign-out, switching site)."""
        if self.panel is not None:
            self.panel.close_panel()
        if self.status is not None:
            self.status.close()
        if self.button is not None:
            self.window.remove_status_widget(self.button)
            self.button.deleteLater()
        self.panel = self.status = self.button = None
        self.dock.setWidget(QLabel(SIGNED_OUT))
        self.dock.hide()
