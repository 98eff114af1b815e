"""The menu bar: Tools (audit log, outbox) and, with the embedded sandbox, Sandbox."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from app.services.workbench import SandboxControl
from app.ui.audit_viewer import AuditViewer
from app.ui.main_window import MainWindow
from app.ui.outbox_dock import OutboxDock
from app.ui.site_flow import SiteFlow
from app.ui.tasks import TaskTracker


class ToolsMenu:
    def __init__(
        self, window: MainWindow, flow: SiteFlow, outbox: OutboxDock, tasks: TaskTracker
    ) -> None:
        self.window = window
        self.flow = flow
        self.tasks = tasks
        self.viewer: AuditViewer | None = None
        menu = window.menuBar().addMenu("&Tools")
        menu.addAction("Audit log…", self.open_audit)
        menu.addAction("Outbox", outbox.toggle)

    def open_audit(self) -> None:
        site = self.flow.site
        if site is None:
            QMessageBox.information(
                self.window, "Audit log", "Sign in to see this site's audit log."
            )
            return
        self.viewer = AuditViewer(site.audit, self.tasks, self.window)
        self.viewer.open()


class SandboxMenu:
    """With the embedded sandbox: stop and start it, to see queued notes wait and then land."""

    def __init__(self, window: MainWindow, sandbox: SandboxControl, flow: SiteFlow) -> None:
        self.sandbox = sandbox
        self.flow = flow
        menu = window.menuBar().addMenu("&Sandbox")
        self.stop_action: QAction = menu.addAction("Stop the sandbox EHR (simulate an outage)")
        self.start_action: QAction = menu.addAction("Start the sandbox EHR again")
        self.start_action.setEnabled(False)
        self.stop_action.triggered.connect(self.stop)
        self.start_action.triggered.connect(self.start)

    def stop(self) -> None:
        self.sandbox.stop()
        self.stop_action.setEnabled(False)
        self.start_action.setEnabled(True)

    def start(self) -> None:
        self.sandbox.start()
        self.stop_action.setEnabled(True)
        self.start_action.setEnabled(False)
        if self.flow.site is not None:
            self.flow.site.outbox.notify_reconnected()
