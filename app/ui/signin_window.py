"""What paints first: the main window with its sign-in page, and only what that page needs.

The rest of the window (the note workspace, the outbox dock, the worklist, the menus and what
they open) is built by :func:`app.ui.workbench.complete_main_window` once this has painted —
its modules take most of the start-up time (docs/performance.md, "Start-up"). Nothing here may
import them: ``tests/ui/test_startup.py`` fails when one is loaded before the first paint.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QApplication

from app.domain.errors import words_for
from app.services.workbench import Workbench
from app.ui.controller import AppController
from app.ui.file_menu import FileMenu
from app.ui.layout_memory import LayoutMemory
from app.ui.main_window import MainWindow
from app.ui.signin_model import SignInViewModel
from app.ui.style import APP_STYLESHEET
from app.ui.tasks import TaskTracker

if TYPE_CHECKING:
    from app.ui.workbench import MainWindowParts

# The rest of the window's modules, heaviest first, imported one at a time after the paint so
# the window answers input between them (each takes 30-100 ms; all together about 0.5 s).
REST_OF_THE_WINDOW = (
    "app.domain.draft",
    "app.domain.review",
    "app.services.chart",
    "app.ui.approval",
    "app.services.outbox",
    "app.ui.chart_model",
    "app.ui.draft_model",
    "app.services.dates",
    "app.ui.entry_model",
    "app.ui.workspace",
    "app.ui.site_flow",
    "app.ui.menus",
)

UNEXPECTED = (
    "Something went wrong that the app did not expect. Your drafts and queued notes are "
    "safe. Please try again; if it happens again, send the log folder to support."
)


@dataclass(frozen=True)
class SignInWindow:
    """The window as it first paints: the sign-in page, the status bar, its place on screen."""

    window: MainWindow
    tasks: TaskTracker
    signin: SignInViewModel
    controller: AppController
    memory: LayoutMemory
    file_menu: FileMenu


def build_signin_window(workbench: Workbench) -> SignInWindow:
    """The main window showing the sign-in page, where it was last (or fitted to the screen),
    with what start-up found (a rejected sites file, keyring warnings) on the page."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.setStyleSheet(APP_STYLESHEET)
    window = MainWindow()

    def show_task_error(_name: str, exc: BaseException) -> None:
        window.tell(words_for(exc, UNEXPECTED))

    tasks = TaskTracker(on_error=show_task_error)
    directory = workbench.directory
    signin = SignInViewModel(
        workbench.sites, directory.session, parent=window, waiting=directory.waiting
    )
    memory = LayoutMemory(workbench.ui_settings, window)
    memory.restore_window(window)
    window.on_close(lambda: memory.save_window(window))
    for title in (
        "&File",
        "&Note",
        "&Tools",
        "&Help",
        *(("&Sandbox",) if workbench.sandbox else ()),
    ):
        window.menu(title)  # the bar as it will be; the others are filled after the paint
    file_menu = FileMenu(window)  # Ctrl+Q and Alt+F from the first paint
    controller = AppController(window, signin, tasks)
    controller.start()  # the kept session is resumed once the rest of the window exists
    startup = workbench.startup
    if startup.config_error:
        signin.error.emit(startup.config_error)
    if startup.warnings:
        signin.warnings.emit(list(startup.warnings))
    return SignInWindow(window, tasks, signin, controller, memory, file_menu)


async def complete_in_steps(first: SignInWindow, workbench: Workbench) -> MainWindowParts:
    """The rest of the window, built into ``first`` once it has painted: its modules one by
    one, each step giving the window back its input (a click on "Sign in" is answered at
    once), then the pages, the dock and the menus."""
    for name in REST_OF_THE_WINDOW:
        importlib.import_module(name)
        await asyncio.sleep(0)
    while QApplication.activePopupWidget() is not None:  # File open: not changed under it
        await asyncio.sleep(0.05)
    from app.ui.workbench import complete_main_window

    return complete_main_window(first, workbench)
