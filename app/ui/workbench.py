"""Builds the main window and its view-models over the Workbench the composition root made.

Each part is a small object with its own file; this module only connects them and returns them
all as :class:`MainWindowParts` (the app shows ``parts.window``; tests drive the parts). The app
builds it in two steps: :func:`app.ui.signin_window.build_signin_window` (what paints first),
then :func:`complete_main_window` once that has painted; :func:`build_main_window` does both.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.services.workbench import Workbench
from app.ui.approval import ReviewGate
from app.ui.chart_model import ChartViewModel
from app.ui.controller import AppController
from app.ui.draft_model import DraftViewModel
from app.ui.entry_model import EntryViewModel
from app.ui.file_menu import FileMenu
from app.ui.lock import SessionLock
from app.ui.main_window import MainWindow
from app.ui.menus import HelpMenu, NoteMenu, SandboxMenu, ToolsMenu
from app.ui.network import NetworkWatch
from app.ui.outbox_dock import OutboxDock
from app.ui.signin_model import SignInViewModel
from app.ui.signin_window import SignInWindow, build_signin_window
from app.ui.site_flow import AFTER_SIGN_IN, SiteFlow
from app.ui.tasks import TaskTracker
from app.ui.waiting_words import unsent_question
from app.ui.worklist_flow import WorklistFlow
from app.ui.workspace import WorkspacePage


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
    file_menu: FileMenu | None = None
    worklist: WorklistFlow | None = None

    async def aclose(self) -> None:
        """The app ends: the window takes no more typing, what was typed is saved, then the
        window's tasks stop; the stores close after this (app.main). A quit signal ends the
        app with the window still open: typing while the rest closed made the draft dirty
        again, and its autosave then reached a closed store (the words were lost)."""
        self.window.setEnabled(False)
        await self.drafts.flush()
        await self.tasks.aclose()


def build_main_window(workbench: Workbench) -> MainWindowParts:
    """The whole window at once (tests; the app paints the sign-in page first)."""
    return complete_main_window(build_signin_window(workbench), workbench)


def complete_main_window(first: SignInWindow, workbench: Workbench) -> MainWindowParts:
    """Everything after the sign-in page, built into the window that already shows it; the
    kept session (one site) is resumed once the pages it leads to exist."""
    window, tasks, memory, controller = first.window, first.tasks, first.memory, first.controller
    templates = list(workbench.templates)
    drafts = DraftViewModel(None, templates, tasks=tasks, parent=window)
    gate = ReviewGate(templates, parent=window)
    entry = EntryViewModel(workbench.terminology, tasks, parent=window)
    workspace = WorkspacePage(drafts, gate, entry=entry, memory=memory)
    lock = SessionLock(window, tasks, drafts.autosave)
    outbox = OutboxDock(window, tasks, memory)
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
    window.on_close(flow.stop_watching)
    memory.restore_state(window)  # after the outbox dock exists
    _guard_and_watch(window, workbench, flow, controller)
    if controller.session is not None:  # signed in while the rest was being built
        tasks.start(AFTER_SIGN_IN, flow.after_sign_in(controller.session))
    elif workbench.single_site is not None:
        controller.resume(workbench.single_site)
    return MainWindowParts(
        window,
        tasks,
        first.signin,
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
        first.file_menu,
        worklist,
    )


def _guard_and_watch(
    window: MainWindow, workbench: Workbench, flow: SiteFlow, controller: AppController
) -> None:
    """Closing asks about notes not sent yet; a network change has the EHR probed at once."""

    def unsent_before_closing() -> str | None:
        site = flow.site.site if flow.site is not None else controller.signin_view.selected_site()
        notes = workbench.directory.waiting(site) if site is not None else None
        return unsent_question(notes.count) if notes is not None and notes.count else None

    window.set_close_guard(unsent_before_closing)

    def network_changed() -> None:
        if flow.site is not None:
            flow.site.outbox.network_changed()

    NetworkWatch(network_changed, window)


def _open_chart(workspace: WorkspacePage) -> tuple[str, str] | None:
    context = workspace.context
    return None if context is None else (context.patient.id, context.encounter.id)
