"""Builds the main window and its view-models from the services the composition root made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PySide6.QtWidgets import QApplication, QMessageBox

from app.domain.clinical import EncounterSummary, PatientSummary
from app.domain.context import EncounterContext
from app.domain.site import Site
from app.domain.templates import NoteTemplate
from app.fhir.client import FhirClient
from app.fhir.context_loader import list_encounters, load_encounter_context, search_patients
from app.smart.session import SmartSession
from app.store.drafts import DraftRepository
from app.ui.controller import AppController
from app.ui.draft_model import DraftViewModel
from app.ui.lock import SessionLock
from app.ui.main_window import MainWindow
from app.ui.patient_picker import PatientPicker
from app.ui.signin_model import SignInViewModel
from app.ui.style import APP_STYLESHEET
from app.ui.tasks import TaskTracker
from app.ui.workspace import WorkspacePage


class AppServices(Protocol):
    sites: list[Site]
    config_error: str | None
    crashed_last_time: bool
    startup_warnings: list[str]
    templates: list[NoteTemplate]

    @property
    def drafts(self) -> DraftRepository: ...

    def session_for(self, site: Site) -> SmartSession: ...

    def fhir_for(self, session: SmartSession) -> FhirClient: ...


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
    drafts = DraftViewModel(services.drafts, services.templates, parent=window)
    workspace = WorkspacePage(drafts)
    restored = {"pending": services.crashed_last_time}
    controller: AppController

    def open_chart(session: SmartSession, patient_id: str, encounter_id: str) -> None:
        fhir = services.fhir_for(session)

        async def loader() -> EncounterContext:
            return await load_encounter_context(fhir, patient_id, encounter_id)

        window.show_page(workspace)
        notice, restored["pending"] = restored["pending"], False
        tasks.start("load-context", workspace.load(loader, restored_notice=notice))

    def show_picker(session: SmartSession) -> None:
        fhir = services.fhir_for(session)

        async def search(
            name: str | None, birth: str | None, mrn: str | None
        ) -> list[PatientSummary]:
            return list((await search_patients(fhir, name=name, birthdate=birth, mrn=mrn)).items)

        async def encounters(patient_id: str) -> list[EncounterSummary]:
            return list((await list_encounters(fhir, patient_id)).items)

        picker = PatientPicker(search, encounters, tasks.start)
        picker.chosen.connect(lambda p, e: open_chart(session, p.id, e.id))
        window.show_page(picker)

    def switch_user() -> None:
        lock.disarm()
        tasks.start("sign-out", controller.sign_out())

    lock = SessionLock(window, tasks, drafts.flush, switch_user)

    async def after_sign_in(session: SmartSession) -> None:
        lock.arm(session)
        ctx = session.context
        if ctx.patient_id and ctx.encounter_id:
            open_chart(session, ctx.patient_id, ctx.encounter_id)
        else:
            show_picker(session)

    def sign_out() -> None:
        drafts.flush()
        lock.disarm()
        tasks.start("sign-out", controller.sign_out())

    controller = AppController(window, signin, tasks, after_sign_in)
    workspace.sign_out_requested.connect(sign_out)

    def change_patient() -> None:
        if controller.session is not None:
            drafts.flush()
            show_picker(controller.session)

    workspace.change_patient_requested.connect(change_patient)
    window.controller = controller  # type: ignore[attr-defined]
    window.tasks = tasks  # type: ignore[attr-defined]
    window.workspace = workspace  # type: ignore[attr-defined]
    window.lock = lock  # type: ignore[attr-defined]
    window.on_close(drafts.flush)
    window.on_close(tasks.cancel_all)
    controller.start(restore_site=_single(services.sites))
    if services.config_error:
        signin.error.emit(services.config_error)
    if services.startup_warnings:
        signin.warnings.emit(list(services.startup_warnings))
    return window


def _single(sites: Sequence[Site]) -> Site | None:
    return sites[0] if len(sites) == 1 else None
