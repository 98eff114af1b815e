"""The worklist in the window: shown after sign-in (when the EHR put no chart in context),
one key away from anywhere (Ctrl+Shift+W), kept current by the site's HL7 listener, and
offering to reload the open chart when new results arrive for its patient."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from app.domain.worklist import Visit
from app.services.errors import ServiceError
from app.services.outbox import OutboxService
from app.services.worklist import WorklistService
from app.ui.main_window import MainWindow
from app.ui.shortcuts import shortcut
from app.ui.tasks import TaskTracker
from app.ui.worklist_model import WorklistViewModel
from app.ui.worklist_view import WorklistPage

log = logging.getLogger(__name__)

ChartNow = Callable[[], tuple[str, str] | None]  # the open chart: (patient id, encounter id)


WORKLIST_READS = ("worklist-load", "worklist-notes")  # tasks that read the site's store


class WorklistFlow(QObject):
    open_chart = Signal(str, str)  # patient id, encounter id: a row opened, a chart reloaded
    find_patient = Signal()  # "Find a patient…": the patient picker
    notes_changed = Signal()  # a draft saved, a commit changed (from any thread: queued)

    def __init__(
        self,
        window: MainWindow,
        tasks: TaskTracker,
        *,
        before_leaving: Callable[[], Awaitable[object]],
        open_chart_now: ChartNow,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.tasks = tasks
        self.model = WorklistViewModel(tasks.start, parent=self)
        self.page = WorklistPage(self.model)
        self._before_leaving = before_leaving  # save what was typed
        self._open_chart_now = open_chart_now
        self.offer: QMessageBox | None = None
        key = shortcut("worklist")
        self.action = QAction(key.words, window)
        self.action.setShortcuts([QKeySequence(k) for k in key.keys])
        self.action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.action.setEnabled(False)
        self.action.triggered.connect(lambda _checked=False: self.back())
        window.addAction(self.action)
        self._notes_timer = QTimer(self)  # many changes at once: the note states read once
        self._notes_timer.setSingleShot(True)
        self._notes_timer.setInterval(300)
        self._notes_timer.timeout.connect(self._refresh_notes)
        self.notes_changed.connect(self._notes_timer.start)
        self._unsubscribe: Callable[[], None] | None = None
        self.model.results_arrived.connect(self._results_arrived)
        self.model.open_requested.connect(self.open_chart)
        self.page.find_button.clicked.connect(self.find_patient)

    async def attach(self, service: WorklistService, outbox: OutboxService | None = None) -> None:
        """The signed-in site's worklist: its listener started, today's visits loading; the
        note states follow the outbox (``outbox``) and the drafts saved (``notes_changed``)."""
        self.model.set_service(service)
        self.action.setEnabled(True)
        if outbox is not None:
            self._unsubscribe = outbox.subscribe(lambda _change: self.notes_changed.emit())
        try:
            await service.start_listener()
        except ServiceError as exc:
            self.window.set_sync_summary(exc.words)
        self.tasks.start("worklist-load", self.model.load(None))

    async def detach(self) -> None:
        service = self.model.service
        self.action.setEnabled(False)
        self._notes_timer.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        # a reading under way ends here, before the site's store closes (it read a closed
        # store after a sign-out and left a store thread behind)
        await self.tasks.stop(WORKLIST_READS)
        self.model.set_service(None)
        if service is not None:
            await service.stop_listener()

    def show(self) -> None:
        self.window.show_page(self.page)
        self.page.focus_table()
        self._refresh_notes()

    def _refresh_notes(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the app is shutting down (Qt still delivers a late timer)
            return
        if self.model.service is not None:
            if self.tasks.is_running("worklist-notes"):
                self._notes_timer.start()  # once more after this one
            else:
                self.tasks.start("worklist-notes", self.model.refresh_notes())

    def back(self) -> None:
        """Ctrl+Shift+W: save what was typed, then the worklist."""
        if self.model.service is not None:
            self.tasks.start("back-to-worklist", self._back())

    async def _back(self) -> None:
        await self._before_leaving()
        self.show()

    def _results_arrived(self, visit: Visit) -> None:
        chart = self._open_chart_now()
        if chart is None or chart[0] != visit.patient_id:
            return
        if self.window.pages.currentWidget() is self.page:
            return
        offer = QMessageBox(
            QMessageBox.Icon.Information,
            "New results",
            f"New results arrived for {visit.patient_name}. Reload the chart to see them? "
            "What you typed is kept.",
            QMessageBox.StandardButton.NoButton,
            self.window,
        )
        reload_button = offer.addButton("Reload the chart", QMessageBox.ButtonRole.AcceptRole)
        offer.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        offer.setWindowModality(Qt.WindowModality.NonModal)

        def answered() -> None:
            if offer.clickedButton() is reload_button:
                self.tasks.start("reload-chart", self._reload(chart))

        offer.finished.connect(answered)
        self.offer = offer
        offer.open()

    async def _reload(self, chart: tuple[str, str]) -> None:
        await self._before_leaving()
        self.open_chart.emit(*chart)
