"""Builds the main window and its view-models from the services the composition root made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PySide6.QtWidgets import QApplication, QMessageBox

from app.domain.site import Site
from app.smart.session import SmartSession
from app.ui.controller import AppController
from app.ui.main_window import MainWindow
from app.ui.session_page import SessionPage
from app.ui.signin_model import SignInViewModel
from app.ui.style import APP_STYLESHEET
from app.ui.tasks import TaskTracker


class AppServices(Protocol):
    sites: list[Site]
    config_error: str | None

    def session_for(self, site: Site) -> SmartSession: ...


def build_main_window(services: AppServices) -> MainWindow:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.setStyleSheet(APP_STYLESHEET)
    window = MainWindow()

    def show_task_error(name: str, exc: BaseException) -> None:
        text = getattr(exc, "message", None) or (
            "Something went wrong that the app did not expect. Your drafts and queued notes are "
            "safe. Please try again; if it happens again, send the log folder to support."
        )
        QMessageBox.warning(window, "FHIR Write-back", str(text))

    tasks = TaskTracker(on_error=show_task_error)
    signin = SignInViewModel(services.sites, services.session_for, parent=window)
    controller: AppController

    async def after_sign_in(session: SmartSession) -> None:
        page = SessionPage(
            session, on_sign_out=lambda: tasks.start("sign-out", controller.sign_out())
        )
        window.show_page(page)

    controller = AppController(window, signin, tasks, after_sign_in)
    window.controller = controller  # type: ignore[attr-defined]
    window.tasks = tasks  # type: ignore[attr-defined]
    window.on_close(tasks.cancel_all)
    controller.start(restore_site=_single(services.sites))
    if services.config_error:
        signin.error.emit(services.config_error)
    return window


def _single(sites: Sequence[Site]) -> Site | None:
    return sites[0] if len(sites) == 1 else None
