"""Builds the main window and its view-models over the Workbench the composition root made.

Each part is a small object with its own file; this module only connects them and returns them
all as :class:`MainWindowParts` (the app shows ``parts.window``; tests drive the parts).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QApplication, QMessageBox

from app.domain.errors import words_for
from app.services.workbench import Workbench
from app.ui.approval import ReviewGate
from app.ui.chart_model import ChartViewModel
from app.ui.controller import AppController
from app.ui.draft_model import DraftViewModel
from app.ui.entry_model import EntryViewModel
from app.ui.lock import SessionLock
from app.ui.main_window import MainWindow
from app.ui.menus import HelpMenu, NoteMenu, SandboxMenu, ToolsMenu
from app.ui.outbox_dock import OutboxDock
from app.ui.signin_model import SignInViewModel
from app.ui.site_flow import SiteFlow
from app.ui.style import APP_STYLESHEET
from app.ui.tasks import TaskTracker
from app.ui.worklist_flow import WorklistFlow
from app.ui.workspace import WorkspacePage

UNEXPECTED = (
    "Something went wrong that the app did not expect. Your drafts and queued notes are "
    "safe. Please try again; if it happens again, send the log folder to support."
)


@dataclass(frozen=True)
class MainWindowParts:
    window: MainWindow
    tasks: TaskTracker
    signin: SignInViewModel
    controller: AppController
    drafts: DraftViewModel
    gate: ReviewGate
    workspace: WorkspacePage
    lock: SessionLock
    outbox: OutboxDock
    flow: SiteFlow
    tools: ToolsMenu
    sandbox: SandboxMenu | None
    chart: ChartViewModel
    entry: EntryViewModel | None = None
    note_menu: NoteMenu | None = None
    help_menu: HelpMenu | None = None
    worklist: WorklistFlow | None = None

    async def aclose(self) -> None:
        """The window closed: save what was typed, then stop the window's tasks."""
        await self.drafts.flush()
        self.tasks.cancel_all()


def build_main_window(workbench: Workbench) -> MainWindowParts:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.setStyleSheet(APP_STYLESHEET)
    window = MainWindow()

    def show_task_error(_name: str, exc: BaseException) -> None:
        QMessageBox.warning(window, "FHIR Write-back", words_for(exc, UNEXPECTED))

    tasks = TaskTracker(on_error=show_task_error)
    signin = SignInViewModel(workbench.sites, workbench.directory.session, parent=window)
    templates = list(workbench.templates)
    drafts = DraftViewModel(None, templates, tasks=tasks, parent=window)
    gate = ReviewGate(templates, parent=window)
    entry = EntryViewModel(workbench.terminology, tasks, parent=window)
    workspace = WorkspacePage(drafts, gate, entry=entry)
    lock = SessionLock(window, tasks, drafts.autosave)
    outbox = OutboxDock(window, tasks)
    controller = AppController(window, signin, tasks)
    chart = ChartViewModel(tasks, parent=window)
    worklist = WorklistFlow(
        window, tasks, before_leaving=drafts.flush, open_chart_now=lambda: _open_chart(workspace)
    )
    flow = SiteFlow(
        workbench, window, controller, drafts, gate, workspace, lock, outbox, tasks, chart, worklist
    )
    worklist.open_chart.connect(flow.open_chart)
    worklist.find_patient.connect(flow.change_patient)
    drafts.saved.connect(lambda _words: worklist.notes_changed.emit())
    note_menu = NoteMenu(window, workspace)
    tools = ToolsMenu(window, flow, outbox, tasks)
    help_menu = HelpMenu(window)
    tasks.start("read-dates", entry.read_date.warm_up())
    sandbox = SandboxMenu(window, workbench.sandbox, flow) if workbench.sandbox else None
    window.on_close(drafts.autosave)

    controller.start(restore_site=workbench.single_site)
    startup = workbench.startup
    if startup.config_error:
        signin.error.emit(startup.config_error)
    if startup.warnings:
        signin.warnings.emit(list(startup.warnings))
    return MainWindowParts(
        window,
        tasks,
        signin,
        controller,
        drafts,
        gate,
        workspace,
        lock,
        outbox,
        flow,
        tools,
        sandbox,
        chart,
        entry,
        note_menu,
        help_menu,
        worklist,
    )


def _open_chart(workspace: WorkspacePage) -> tuple[str, str] | None:
    context = workspace.context
    return None if context is None else (context.patient.id, context.encounter.id)
