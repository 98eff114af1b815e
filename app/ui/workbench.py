"""Builds the main window and its view-models from the services the composition root made."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from PySide6.QtWidgets import QApplication, QMessageBox

from app.domain.audit import AuditEvent, AuditKind
from app.domain.clinical import EncounterSummary, PatientSummary, Reference
from app.domain.context import EncounterContext
from app.domain.site import Site
from app.domain.templates import NoteTemplate
from app.fhir.client import FhirClient
from app.fhir.context_loader import list_encounters, load_encounter_context, search_patients
from app.fhir.profiles import choose_profile
from app.smart.session import SessionState, SmartSession
from app.store.drafts import DraftRepository
from app.store.protected import ProtectedStore
from app.store.store import Store
from app.sync.approval import ApprovalContext
from app.sync.errors import SyncError
from app.sync.runner import SyncRunner
from app.ui.approval import ReviewGate
from app.ui.audit_viewer import AuditViewer
from app.ui.controller import AppController
from app.ui.draft_model import DraftViewModel
from app.ui.lock import SESSION_ENDED_REASON, SessionLock
from app.ui.main_window import MainWindow
from app.ui.messages import message_for
from app.ui.outbox_dock import OutboxDock
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

    def store_for(self, site: Site) -> Store: ...

    async def start_sync(self, session: SmartSession) -> SyncRunner: ...

    async def stop_sync(self, site: Site | None = None) -> None: ...

    def audit(self, site: Site, event: AuditEvent) -> None: ...

    protected: dict[str, ProtectedStore]

    actor: str | None

    def fhir_for(self, session: SmartSession) -> FhirClient: ...


def build_main_window(services: AppServices) -> MainWindow:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.setStyleSheet(APP_STYLESHEET)
    window = MainWindow()

    def show_task_error(name: str, exc: BaseException) -> None:
        text = message_for(
            exc,
            "Something went wrong that the app did not expect. Your drafts and queued notes are "
            "safe. Please try again; if it happens again, send the log folder to support.",
        )
        QMessageBox.warning(window, "FHIR Write-back", str(text))

    tasks = TaskTracker(on_error=show_task_error)
    signin = SignInViewModel(services.sites, services.session_for, parent=window)
    drafts = DraftViewModel(services.drafts, services.templates, parent=window)
    current: dict[str, Any] = {"store": None, "runner": None}
    gate = ReviewGate(services.templates, lambda: current["store"], parent=window)
    workspace = WorkspacePage(drafts, gate)
    restored = {"pending": services.crashed_last_time}
    controller: AppController

    def open_chart(session: SmartSession, patient_id: str, encounter_id: str) -> None:
        fhir = services.fhir_for(session)
        gate.set_context(None)

        async def loader() -> EncounterContext:
            context = await load_encounter_context(fhir, patient_id, encounter_id)
            audit(session, AuditKind.CHART_OPENED, patient_id=patient_id, encounter_id=encounter_id)
            statement = await fhir.capability()
            profile = choose_profile(session.site.vendor_profile, statement)
            granted = session.scope_report.granted if session.scope_report else None
            gate.set_context(
                ApprovalContext.build(
                    context, approver(session), profile, await fhir.capabilities(), granted
                )
            )
            return context

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

    outbox = OutboxDock(window, lambda: current.get("user_label") or "unknown user")

    async def start_sync(session: SmartSession) -> None:
        try:
            runner = await services.start_sync(session)
        except SyncError as exc:
            window.set_sync_summary(message_for(exc, "Sending to the EHR could not start."))
            return
        current["runner"] = runner
        outbox.follow_runner(runner)

    def audit(session: SmartSession | None, kind: AuditKind, **fields: Any) -> None:
        if session is not None:
            services.audit(
                session.site, AuditEvent(kind, datetime.now(UTC), services.actor, **fields)
            )

    watched: set[int] = set()

    def watch_session(session: SmartSession) -> None:
        """A session that cannot be renewed locks the window with a sign-in prompt; the outbox
        waits (paused for sign-in) and resumes after the clinician signs in again."""
        if id(session) in watched:
            return
        watched.add(id(session))

        def on_state(state: SessionState) -> None:
            if state is SessionState.SIGN_IN_REQUIRED and controller.session is session:
                lock.lock(SESSION_ENDED_REASON)

        session.subscribe(on_state=on_state)

    async def after_sign_in(session: SmartSession) -> None:
        lock.arm(session)
        watch_session(session)
        services.actor = approver(session).relative
        store = services.store_for(session.site)
        audit(session, AuditKind.SIGN_IN, details={"site": session.site.id})
        current["store"] = store
        current["user_label"] = approver(session).display or approver(session).relative
        drafts.set_repository(store.drafts)
        outbox.show_store(store.outbox)
        report = session.scope_report
        workspace.show_grant_warnings(list(report.messages) if report is not None else [])
        tasks.start("start-sync", start_sync(session))
        ctx = session.context
        if ctx.patient_id and ctx.encounter_id:
            open_chart(session, ctx.patient_id, ctx.encounter_id)
        else:
            show_picker(session)

    def sign_out() -> None:
        drafts.flush()
        lock.disarm()
        audit(controller.session, AuditKind.SIGN_OUT)
        if controller.session is not None:
            tasks.start("stop-sync", services.stop_sync(controller.session.site))
        current["runner"] = None
        outbox.close()
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
    window.gate = gate  # type: ignore[attr-defined]
    window.current = current  # type: ignore[attr-defined]
    window.outbox = outbox  # type: ignore[attr-defined]
    lock.locked_changed.connect(
        lambda locked: audit(
            lock.session, AuditKind.SESSION_LOCKED if locked else AuditKind.SESSION_UNLOCKED
        )
    )

    def queued(_commit: object) -> None:
        runner = current["runner"]
        if runner is not None:
            runner.notify_enqueued()

    gate.queued.connect(queued)
    _sandbox_menu(window, services, current)

    def open_audit() -> None:
        session = controller.session
        protected = services.protected.get(session.site.id) if session is not None else None
        if protected is None:
            QMessageBox.information(window, "Audit log", "Sign in to see this site's audit log.")
            return
        viewer = AuditViewer(protected.audit, window)
        viewer.open()

    tools = window.menuBar().addMenu("&Tools")
    tools.addAction("Audit log…", open_audit)
    tools.addAction("Outbox", outbox.toggle)
    window.on_close(drafts.flush)
    window.on_close(tasks.cancel_all)
    controller.start(restore_site=_single(services.sites))
    if services.config_error:
        signin.error.emit(services.config_error)
    if services.startup_warnings:
        signin.warnings.emit(list(services.startup_warnings))
    return window


def _sandbox_menu(window: MainWindow, services: object, current: dict[str, Any]) -> None:
    """With the embedded sandbox: stop and start it, to see queued notes wait and then land."""
    if getattr(services, "sandbox", None) is None:
        return
    menu = window.menuBar().addMenu("&Sandbox")
    stop = menu.addAction("Stop the sandbox EHR (simulate an outage)")
    start = menu.addAction("Start the sandbox EHR again")
    start.setEnabled(False)

    def stop_it() -> None:
        services.stop_sandbox()  # type: ignore[attr-defined]
        stop.setEnabled(False)
        start.setEnabled(True)

    def start_it() -> None:
        services.start_sandbox()  # type: ignore[attr-defined]
        stop.setEnabled(True)
        start.setEnabled(False)
        runner = current.get("runner")
        if runner is not None:
            runner.notify_reconnected()

    stop.triggered.connect(stop_it)
    start.triggered.connect(start_it)
    window.sandbox_actions = (stop, start)  # type: ignore[attr-defined]


def approver(session: SmartSession) -> Reference:
    """The signed-in user as the approver: their fhirUser with their name."""
    user = session.user
    if user is None or user.fhir_user is None:
        return Reference("Unknown", "unknown", "unknown user")
    return Reference(user.fhir_user.resource_type, user.fhir_user.id, user.display_name)


def _single(sites: Sequence[Site]) -> Site | None:
    return sites[0] if len(sites) == 1 else None
