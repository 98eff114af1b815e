"""Chart view-model: the open chart as the EHR holds it now, and its notes listed once each.

When a note approved here is confirmed by the EHR, the chart is read again in the background
(the same searches as opening it: ChartService.reload) and everyone showing it is told: the
context pane (the new note appears, marked as written from this workstation), the review gate
(a follow-up of the new note is checked against the chart that holds it) and the drafts (a
follow-up starts from the chart as it is). Several confirmations in a row cause one re-read
at a time, and one more after it when another came in meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.domain.note_history import NoteThread, commit_of, note_threads
from app.domain.outbox import OutboxState
from app.services.chart import ChartService, OpenChart
from app.services.errors import ServiceError
from app.services.followups import FollowUpService
from app.services.outbox import OutboxChange, OutboxService
from app.ui.tasks import TaskTracker

log = logging.getLogger(__name__)

REFRESH_TASK = "refresh-chart"


class ChartViewModel(QObject):
    chart_changed = Signal(object)  # OpenChart: opened, or read again
    notes_changed = Signal(object)  # tuple[NoteThread, ...]
    error = Signal(str)
    _confirmed = Signal(object)  # from the store thread: a commit was confirmed

    def __init__(self, tasks: TaskTracker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.chart: OpenChart | None = None
        self.threads: tuple[NoteThread, ...] = ()
        self.refreshes = 0  # re-reads after a confirmation (for the status line and tests)
        self._service: ChartService | None = None
        self._followups: FollowUpService | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._again = False
        self._confirmed.connect(self._on_confirmed)

    def set_site(
        self,
        chart: ChartService | None,
        followups: FollowUpService | None,
        outbox: OutboxService | None,
    ) -> None:
        """The signed-in site's services (None after signing out)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._service, self._followups, self.chart = chart, followups, None
        if outbox is not None:
            signal = self._confirmed

            def on_change(change: OutboxChange) -> None:
                if change.item.state is OutboxState.CONFIRMED and (
                    change.old_state is not OutboxState.CONFIRMED
                ):
                    with contextlib.suppress(RuntimeError):  # the window is gone
                        signal.emit(change.commit_id)

            self._unsubscribe = outbox.subscribe(on_change)

    async def opened(self, chart: OpenChart) -> None:
        """A chart was opened: show it, then mark the notes written here."""
        self.chart = chart
        self.chart_changed.emit(chart)
        await self._show_notes(chart)

    def close(self) -> None:
        self.chart = None

    def _on_confirmed(self, _commit_id: object) -> None:
        if self.chart is None or self._service is None:
            return
        if self.tasks.is_running(REFRESH_TASK):
            self._again = True  # one more re-read once this one is done
            return
        self.tasks.start(REFRESH_TASK, self.refresh())

    async def refresh(self) -> None:
        """Read the open chart again (and again while confirmations kept arriving)."""
        while True:
            self._again = False
            chart, service = self.chart, self._service
            if chart is None or service is None:
                return
            try:
                fresh = await service.reload(chart)
            except ServiceError as exc:
                log.info("the chart could not be read again after a confirmation")
                self.error.emit(
                    f"{exc.words} The chart pane shows the chart as it was when it was opened."
                )
                return
            if self.chart is not chart:  # another chart was opened meanwhile
                return
            self.chart = fresh
            self.refreshes += 1
            self.chart_changed.emit(fresh)
            await self._show_notes(fresh)
            if not self._again:
                return

    async def _show_notes(self, chart: OpenChart) -> None:
        notes = chart.context.notes.items
        self.threads = note_threads(notes)
        self.notes_changed.emit(self.threads)
        ids = {c for n in notes if (c := commit_of(n)) is not None}
        if not ids or self._followups is None:
            return
        try:
            mine = await self._followups.written_here(ids)
        except ServiceError as exc:
            self.error.emit(exc.words)
            return
        if self.chart is chart:
            self.threads = note_threads(notes, mine)
            self.notes_changed.emit(self.threads)
