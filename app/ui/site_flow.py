"""The signed-in site, from sign-in to sign-out: its services, the outbox, the chart.

After the controller says who signed in, :class:`SiteFlow` opens that site's services (the
Workbench's directory builds them once), points the view-models at them, starts sending, and
shows the chart in context or the patient picker. It holds one piece of state — which site's
services are in use — and no business logic: that is in the services and view-models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject

from app.domain.audit import AuditKind
from app.domain.clock import utc_now
from app.domain.context import EncounterContext
from app.domain.draft_inbox import InboxOutcome, InboxOutcomeKind
from app.services.chart import OpenChart
from app.services.errors import ServiceError
from app.services.reconnect import link_back_steps, reconnect
from app.services.session import SessionService, SessionState
from app.services.workbench import SiteServices, Workbench
from app.ui.approval import ReviewGate
from app.ui.chart_model import REFRESH_TASK, ChartViewModel
from app.ui.controller import AppController
from app.ui.draft_model import DraftViewModel
from app.ui.lock import SESSION_ENDED_REASON, SessionLock
from app.ui.main_window import MainWindow
from app.ui.outbox_dock import OutboxDock
from app.ui.patient_picker import PatientPicker
from app.ui.session_end import SessionEndNotice
from app.ui.tasks import TaskTracker
from app.ui.worklist_flow import WorklistFlow
from app.ui.workspace import WorkspacePage

log = logging.getLogger(__name__)

LOAD_TASK = "load-context"  # a chart being opened
RECONNECT_TASK = "reconnect"  # back from an offline start: renew, refresh kept charts, send
# Every task that reads a chart and keeps it for offline use: stopped (and awaited) at sign-out
# before the kept charts are removed. The background prefetch and the sender's link-back
# refresh are stopped with their services (OfflineCharts.aclose, OutboxService.stop_sync).
CHART_WRITERS = (LOAD_TASK, REFRESH_TASK, RECONNECT_TASK)
AFTER_SIGN_IN = "after-sign-in"  # the site's services opened, the pages set up


class SiteFlow(QObject):
    def __init__(
        self,
        workbench: Workbench,
        window: MainWindow,
        controller: AppController,
        drafts: DraftViewModel,
        gate: ReviewGate,
        workspace: WorkspacePage,
        lock: SessionLock,
        outbox: OutboxDock,
        tasks: TaskTracker,
        chart: ChartViewModel,
        worklist: WorklistFlow | None = None,
    ) -> None:
        super().__init__(window)
        self.workbench = workbench
        self.window = window
        self.controller = controller
        self.drafts = drafts
        self.gate = gate
        self.workspace = workspace
        self.lock = lock
        self.outbox = outbox
        self.tasks = tasks
        self.chart = chart
        self.worklist = worklist  # the day's visits: the home page after sign-in
        self.site: SiteServices | None = None  # the signed-in site's services
        self._restored_notice = workbench.startup.crashed_last_time
        self._watched: set[int] = set()
        self._inbox_unsubscribe: Callable[[], None] = lambda: None
        self._session_end: SessionEndNotice | None = None
        chart.chart_changed.connect(workspace.show_chart)
        chart.notes_changed.connect(workspace.show_notes)
        chart.history_changed.connect(workspace.show_history)
        chart.error.connect(workspace.show_error)
        controller.session_started.connect(self._signed_in)
        workspace.sign_out_requested.connect(self.sign_out)
        workspace.change_patient_requested.connect(self.change_patient)
        lock.switch_user_requested.connect(self.sign_out)
        lock.locked_changed.connect(self._audit_lock)

    # ------------------------------------------------------------------ signing in and out
    def _signed_in(self, session: SessionService) -> None:
        self.tasks.start(AFTER_SIGN_IN, self.after_sign_in(session))

    async def after_sign_in(self, session: SessionService) -> None:
        self.lock.arm(session)
        self._watch(session)
        site = await self.workbench.directory.open(session)
        self.site = site
        if site.offline is not None:  # charts read from now on may be kept (until sign-out)
            site.offline.begin_session()
        how = "offline PIN" if session.working_offline else "EHR"  # the local unlock, audited
        await site.audit.record(AuditKind.SIGN_IN, details={"site": site.site.id, "via": how})
        await self.drafts.set_service(site.drafts)
        self.drafts.editing.set_service(site.kpi)
        if self.workspace.entry is not None:
            self.workspace.entry.set_service(site.owners)
        self.gate.set_review(site.review)
        self.chart.set_site(site.chart, site.followups, site.outbox)
        self.drafts.set_followups(site.followups, lambda: self.chart.chart)
        self.outbox.show_outbox(site.outbox)
        self.workspace.set_outbox(site.outbox)
        notes = [*session.grant_messages, *(w.rstrip(".") for w in site.warnings)]
        self.workspace.show_grant_warnings(notes)
        # the same order whenever the link comes back later: renew, refresh, then send
        site.outbox.before_drain = link_back_steps(site, self.window.set_sync_summary)
        if session.working_offline:  # renew the session, refresh the kept charts, then send
            self.tasks.start(RECONNECT_TASK, reconnect(site, self.window.set_sync_summary))
        else:
            self.tasks.start("start-sync", self._start_sync(site))
        self._start_inbox(site)
        self._watch_session_end(session, site)
        if self.worklist is not None:
            await self.worklist.attach(site.worklist, site.outbox)
        if session.launch_patient_id and session.launch_encounter_id:
            self.open_chart(session.launch_patient_id, session.launch_encounter_id)
        elif self.worklist is not None:
            self.worklist.show()
        else:
            self.show_picker()

    async def _start_sync(self, site: SiteServices) -> None:
        try:
            await site.outbox.start_sync()
        except ServiceError as exc:
            self.window.set_sync_summary(exc.words)

    def _start_inbox(self, site: SiteServices) -> None:
        """The scribe's watched folder, where the site names one: its outcomes are shown, and
        a draft that arrived for the open encounter appears in its list of drafts."""
        inbox = site.inbox
        if inbox is None:
            return
        notices = self.workspace.inbox_notices

        def arrived(outcomes: list[InboxOutcome]) -> None:
            notices.add(outcomes)
            notices.set_problem(inbox.problem)
            open_encounter = self.workspace.context
            if open_encounter is not None and any(
                o.kind is InboxOutcomeKind.IMPORTED
                and o.encounter == open_encounter.encounter.reference.relative
                for o in outcomes
            ):
                self.tasks.start("inbox-drafts", self.drafts.refresh_drafts())

        self._inbox_unsubscribe = inbox.subscribe(arrived)
        inbox.start()

    async def _stop_inbox(self, site: SiteServices) -> None:
        if site.inbox is not None:
            self._inbox_unsubscribe()
            await site.inbox.aclose()
        self.workspace.inbox_notices.clear_all()

    def _watch(self, session: SessionService) -> None:
        """A session that cannot be renewed locks the window with a sign-in prompt; the outbox
        waits (paused for sign-in) and resumes after the clinician signs in again."""
        if id(session) in self._watched:
            return
        self._watched.add(id(session))

        def on_state(state: SessionState) -> None:
            if state is SessionState.SIGN_IN_REQUIRED and self.controller.session is session:
                self.lock.lock(SESSION_ENDED_REASON)

        session.subscribe(on_state=on_state)

    def _watch_session_end(self, session: SessionService, site: SiteServices) -> None:
        """A session the EHR cannot renew: show when it ends, and ask for a sign-in shortly
        before (after the pass in progress, never in the middle of it)."""
        if self._session_end is not None:
            self._session_end.stop()

        notice = SessionEndNotice(session, lambda: site.outbox.in_pass, utc_now, self)
        notice.notice.connect(self.window.set_user)
        notice.sign_in_due.connect(self.lock.lock)
        self._session_end = notice
        notice.start()

    def stop_watching(self) -> None:
        """The idle lock and the session-end notice stop (sign-out; the window closed: a
        closed window never locks or asks for a sign-in later)."""
        self.lock.disarm()
        if self._session_end is not None:
            self._session_end.stop()
            self._session_end = None

    def sign_out(self) -> None:
        self.stop_watching()
        self.tasks.start("sign-out", self._sign_out())

    async def _sign_out(self) -> None:
        # a sign-in still opening the site's store ends first: signing out then closes what
        # it opened and removes the kept charts (without this wait it found no site yet,
        # removed nothing, and the sign-in carried on after the sign-out)
        await self.tasks.finished(AFTER_SIGN_IN)
        await self.drafts.flush()
        self.drafts.editing.set_service(None)
        if self.workspace.entry is not None:
            self.workspace.entry.set_service(None)
        site, self.site = self.site, None
        self.chart.set_site(None, None, None)
        self.drafts.set_followups(None, lambda: None)
        await self.tasks.stop(CHART_WRITERS)  # the barrier before the purge below
        if site is not None:
            await site.audit.record(AuditKind.SIGN_OUT)
            if self.worklist is not None:
                await self.worklist.detach()
            self.outbox.close()
            await self._stop_inbox(site)
            self.workspace.set_outbox(None)
            await site.outbox.stop_sync()
            await self._purge_kept_charts(site)
        await self.controller.sign_out()

    async def _purge_kept_charts(self, site: SiteServices) -> None:
        """Signing out removes the charts kept for offline use (quitting keeps them, within
        the site's retention, for an offline start: docs/offline.md). Every chart writer is
        stopped first (the UI's tasks, the sender with its link-back refresh, the background
        prefetch); the cache refuses a late write of the ended session all the same."""
        if site.offline is None:
            return
        try:
            await site.offline.aclose()
            await site.offline.purge()
        except ServiceError as exc:
            self.window.set_sync_summary(exc.words)

    def _audit_lock(self, locked: bool) -> None:
        if self.site is not None and self.lock.session is not None:
            kind = AuditKind.SESSION_LOCKED if locked else AuditKind.SESSION_UNLOCKED
            self.site.audit.record_soon(kind)

    # ------------------------------------------------------------------ the chart
    def open_chart(self, patient_id: str, encounter_id: str) -> None:
        site = self.site
        if site is None:
            return
        self.gate.set_chart(None)
        self.chart.close()
        gate, chart = self.gate, site.chart
        opened: list[OpenChart] = []

        async def loader() -> EncounterContext:
            chart_open = await chart.open(
                patient_id, encounter_id, on_header=self.workspace.show_header
            )
            gate.set_chart(chart_open)
            opened.append(chart_open)
            return chart_open.context

        async def load() -> None:
            self.workspace.banner.show_freshness(None)
            await self.workspace.load(loader, restored_notice=notice)
            if opened:
                self.workspace.banner.show_freshness(opened[0].freshness)
            if opened:  # then its notes, marked where they were written here
                await self.chart.opened(opened[0])

        self.window.show_page(self.workspace)
        notice, self._restored_notice = self._restored_notice, False
        self.tasks.start(LOAD_TASK, load())

    def show_picker(self) -> None:
        site = self.site
        if site is None:
            return
        picker = PatientPicker(
            site.chart.search_patients, site.chart.list_encounters, self.tasks.start
        )
        picker.chosen.connect(lambda patient, encounter: self.open_chart(patient.id, encounter.id))
        self.window.show_page(picker)

    def change_patient(self) -> None:
        if self.controller.session is not None:
            self.tasks.start("change-patient", self._change_patient())

    async def _change_patient(self) -> None:
        await self.drafts.flush()
        self.show_picker()
