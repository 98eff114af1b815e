"""The outbox as a dock at the bottom of the main window, and its sentence in the header.

One store per site: when a clinician signs in, the dock shows that site's outbox (its
``OutboxService``: rows, actions and the runner's status). The status-bar button opens and
closes the dock.

The first time it opens it shows five of the list's two-line rows where the window has room
(at 1366×768 it does: the note keeps at least half the window, and never less than its own
minimum); after that it keeps the height the
clinician drags it to, remembered with the window's layout (app/ui/layout_memory.py) from one
start of the app to the next. Its title bar is the panel's own line (title, filter, actions,
close): one header line, not the dock's title over the panel's.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QStyle, QToolButton, QWidget

from app.services.outbox import OutboxService
from app.ui.layout_memory import LayoutMemory
from app.ui.main_window import MainWindow
from app.ui.outbox_panel import OutboxPanel
from app.ui.sync_status import SyncStatusButton, SyncStatusModel
from app.ui.tasks import TaskTracker

SIGNED_OUT = "Sign in to see the outbox."
ROWS_AT_FIRST = 5  # the list's rows in view when the outbox first opens (room permitting)


class OutboxDock:
    def __init__(
        self, window: MainWindow, tasks: TaskTracker, memory: LayoutMemory | None = None
    ) -> None:
        self.window = window
        self.tasks = tasks
        self.memory = memory
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
        self.dock.setTitleBarWidget(self._title_bar(self.panel))
        self.button = SyncStatusButton(self.status, self.toggle)
        self.window.add_status_widget(self.button)
        self.status.summary_changed.connect(lambda _text: self.window.refresh_header())

    def _title_bar(self, panel: OutboxPanel) -> QWidget:
        """The panel's line (title, filter, actions) with a close button, as the dock's
        title bar: one header line instead of the dock's title over the panel's."""
        bar, layout = panel.bar, panel.bar_layout
        layout.setContentsMargins(6, 3, 4, 0)
        closer = QToolButton(bar)
        closer.setIcon(bar.style().standardIcon(QStyle.StandardPixmap.SP_TitleBarCloseButton))
        closer.setAutoRaise(True)
        closer.setAccessibleName("Close the outbox")
        closer.setToolTip("Close the outbox (the status in the header opens it again)")
        closer.clicked.connect(self.dock.hide)
        layout.addWidget(closer)
        return bar

    def toggle(self) -> None:
        """Open the outbox (its list takes the keyboard focus) or close it."""
        showing = not self.dock.isVisible()
        first_height = self._first_height() if showing and not self._sized else None
        self.dock.setVisible(showing)
        if showing and not self._sized:
            self._sized = True
            if self.memory is not None:
                self.memory.dock_opened(self.dock)
            if first_height is not None:
                self.window.resizeDocks([self.dock], [first_height], Qt.Orientation.Vertical)
                if self.panel is not None:
                    self.panel.list_first(first_height - self.dock.minimumSizeHint().height())
        if showing and self.panel is not None:
            self.panel.table.setFocus()

    def _first_height(self) -> int | None:
        """Room for ROWS_AT_FIRST rows, less where the note would keep less than half the
        window or its own minimum; None when the clinician's height was remembered. Asked
        before the dock shows: the page above has the whole height then."""
        if self.memory is not None and self.memory.dock_was_sized(self.dock):
            return None
        extra = self.panel.extra_for_rows(ROWS_AT_FIRST) if self.panel is not None else 0
        window, page = self.window, self.window.pages
        separator = window.style().pixelMetric(QStyle.PixelMetric.PM_DockWidgetSeparatorExtent)
        keep = max(page.minimumSizeHint().height(), window.height() // 2)
        wanted = self.dock.minimumSizeHint().height() + extra
        return min(wanted, page.height() - separator - keep)

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
        bar = self.dock.titleBarWidget()
        # the dock's own title again while signed out (Qt's None; the stubs do not say so)
        self.dock.setTitleBarWidget(None)  # type: ignore[arg-type]
        if bar is not None:
            bar.deleteLater()
        self.dock.setWidget(QLabel(SIGNED_OUT))
        self.dock.hide()
