"""The menu bar: File (quit: app.ui.file_menu, there from the first paint), Note (the frequent actions, with their keys), Tools (audit log,
outbox, send now, My week), Help (keyboard shortcuts) and, with the embedded sandbox, Sandbox.
The keys come from ``app.ui.shortcuts``, the one table of them."""

from __future__ import annotations

import logging

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QMessageBox

from app.domain.errors import words_for
from app.services.workbench import SandboxControl
from app.ui.audit_viewer import AuditViewer
from app.ui.main_window import MainWindow
from app.ui.offline_pin import OfflinePinDialog
from app.ui.outbox_dock import OutboxDock
from app.ui.shortcuts import ShortcutsDialog, make_action
from app.ui.site_flow import SiteFlow
from app.ui.tasks import TaskTracker
from app.ui.workspace import WorkspacePage


class NoteMenu:
    """The note's frequent actions; each works from anywhere in the window by its keys."""

    def __init__(self, window: MainWindow, workspace: WorkspacePage) -> None:
        self.workspace = workspace
        editor = workspace.editor
        menu = window.menu("&Note")
        self.actions: dict[str, QAction] = {}
        for name, slot in (
            ("review", workspace.review_shortcut),
            ("save", workspace.save_now),
            ("change-patient", workspace.change_patient_shortcut),
            (None, None),
            ("next-blank", lambda: editor.next_blank(1)),
            ("previous-blank", lambda: editor.next_blank(-1)),
            ("next-section", lambda: editor.next_section(1)),
            ("previous-section", lambda: editor.next_section(-1)),
            (None, None),
            ("add-observation", lambda: workspace.add_row("observation")),
            ("add-task", lambda: workspace.add_row("task")),
            ("add-message", lambda: workspace.add_row("message")),
        ):
            if name is None or slot is None:
                menu.addSeparator()
                continue
            action = make_action(window, name, slot)
            menu.addAction(action)
            self.actions[name] = action


class HelpMenu:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.dialog: ShortcutsDialog | None = None
        menu = window.menu("&Help")
        self.shortcuts_action = make_action(window, "shortcuts", self.show_shortcuts)
        menu.addAction(self.shortcuts_action)

    def show_shortcuts(self) -> None:
        self.dialog = ShortcutsDialog(self.window)
        self.dialog.open()


class ToolsMenu:
    def __init__(
        self, window: MainWindow, flow: SiteFlow, outbox: OutboxDock, tasks: TaskTracker
    ) -> None:
        self.window = window
        self.flow = flow
        self.tasks = tasks
        self.viewer: AuditViewer | None = None
        self.my_week: QDialog | None = None
        menu = window.menu("&Tools")
        menu.addAction("Audit log…", self.open_audit)
        self.outbox_action = make_action(window, "outbox", outbox.toggle)
        self.sync_action = make_action(window, "sync", outbox.sync_now)
        menu.addAction(self.outbox_action)
        menu.addAction(self.sync_action)
        menu.addAction("My week…", self.open_my_week)
        menu.addAction("Offline PIN…", self.open_offline_pin)
        self.offline_pin: OfflinePinDialog | None = None
        menu.aboutToShow.connect(load_charts)

    def open_audit(self) -> None:
        site = self.flow.site
        if site is None:
            QMessageBox.information(
                self.window, "Audit log", "Sign in to see this site's audit log."
            )
            return
        self.viewer = AuditViewer(site.audit, self.tasks, self.window)
        self.viewer.open()

    def open_my_week(self) -> None:
        site = self.flow.site
        if site is None or site.kpi is None:
            QMessageBox.information(self.window, "My week", "Sign in to see your week.")
            return
        from app.ui.my_week import open_my_week  # pyqtgraph: loaded when first asked for

        self.my_week = open_my_week(self.window, site.kpi, self.tasks)

    def open_offline_pin(self) -> None:
        site = self.flow.site
        if site is None or site.session.working_offline:
            QMessageBox.information(
                self.window,
                "Offline PIN",
                "An offline PIN can be set only while signed in with the EHR.",
            )
            return
        self.offline_pin = OfflinePinDialog(site.session, self.tasks.start, self.window)
        self.offline_pin.open()


def load_charts() -> None:
    """Import the charting library (pyqtgraph, numpy: about half a second, once) when the
    Tools menu opens, so that choosing "My week" in it opens the view at once."""
    import app.ui.my_week  # noqa: F401


log = logging.getLogger(__name__)

SANDBOX_NOT_STARTED = (
    "The sandbox EHR could not start again. Close the app and start it again; the notes "
    "waiting in the outbox are kept."
)


class SandboxMenu:
    """With the embedded sandbox: stop and start it, to see queued notes wait and then land."""

    def __init__(self, window: MainWindow, sandbox: SandboxControl, flow: SiteFlow) -> None:
        self.sandbox = sandbox
        self.flow = flow
        self.window = window
        menu = window.menu("&Sandbox")
        self.stop_action: QAction = menu.addAction("Stop the sandbox EHR (simulate an outage)")
        self.start_action: QAction = menu.addAction("Start the sandbox EHR again")
        self.start_action.setEnabled(False)
        self.stop_action.triggered.connect(self.stop)
        self.start_action.triggered.connect(self.start)

    def stop(self) -> None:
        self.sandbox.stop()
        self.stop_action.setEnabled(False)
        self.start_action.setEnabled(True)
        if self.flow.site is not None:  # as a network change: the status follows at once
            self.flow.site.outbox.network_changed()

    def start(self) -> None:
        try:
            self.sandbox.start()
        except Exception as exc:  # its port taken while it was stopped: said, and tried again
            log.error("the sandbox EHR could not start again: %s", type(exc).__name__)
            self.window.tell(words_for(exc, SANDBOX_NOT_STARTED))
            return
        self.stop_action.setEnabled(True)
        self.start_action.setEnabled(False)
        if self.flow.site is not None:
            self.flow.site.outbox.notify_reconnected()
