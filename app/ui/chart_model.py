"""Chart view-model: the open chart as the EHR holds it now, and its notes listed once each.

When a note approved here is confirmed by the EHR, the chart is read again in the background
(the same searches as opening it: ChartService.reload) and everyone showing it is told: the
context pane (the new note appears, marked as written from this workstation), the review gate
(a follow-up of the new note is checked against the chart that holds it) and the drafts (a
follow-up starts from the chart as it is). Several confirmations in a row cause one re-read
at a time, and one more after it when another came in meanwhile.

Once a chart is shown, its older vital signs, results and notes are paged in the background
(ChartService.older_items: after the clinician's requests, up to the site's limit per
section): each page is told as a ``SectionHistory`` (``history_changed``), older notes also as
the notes' threads. Opening another chart, closing it or signing out cancels the paging; a
chart read again starts it again from its new first view.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from app.domain.chart_history import HistoryState, SectionHistory
from app.domain.context import SectionKind
from app.domain.note_history import NoteThread, commit_of, note_threads
from app.domain.outbox import OutboxState
from app.services.chart import ChartService, OpenChart
from app.services.errors import ServiceError
from app.services.followups import FollowUpService
from app.services.outbox import OutboxChange, OutboxService
from app.ui.tasks import TaskTracker

log = logging.getLogger(__name__)
PAGING_STOPPED = "the app stopped loading them."

REFRESH_TASK = "refresh-chart"
OLDER_TASK = "older-items"  # one per chart shown: "older-items-<n>"


class ChartViewModel(QObject):
    chart_changed = Signal(object)  # OpenChart: opened, or read again
    notes_changed = Signal(object)  # tuple[NoteThread, ...]
    history_changed = Signal(object)  # SectionHistory: a section's older items, as loaded
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
        self._mine: frozenset[uuid.UUID] = frozenset()  # notes written here (commit ids)
        self.histories: dict[SectionKind, SectionHistory] = {}
        self._paging: str | None = None  # the task paging the open chart's older items
        self._pagings = 0
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
        self._stop_paging()  # signing out: nothing more is read for the chart
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
        self._stop_paging()
        self.chart = chart
        self.chart_changed.emit(chart)
        await self._show_notes(chart)
        self._start_paging(chart)

    def close(self) -> None:
        self._stop_paging()
        self.chart = None

    # ------------------------------------------------------------------ older items
    def _start_paging(self, chart: OpenChart) -> None:
        if self._service is None or self.chart is not chart:
            return
        self._pagings += 1
        self._paging = f"{OLDER_TASK}-{self._pagings}"
        self.tasks.start(self._paging, self.page_older(chart))

    def _stop_paging(self) -> None:
        name, self._paging = self._paging, None
        self.histories = {}
        if name is not None:
            self.tasks.cancel(name)

    @property
    def paging(self) -> bool:
        return self._paging is not None and self.tasks.is_running(self._paging)

    async def page_older(self, chart: OpenChart) -> None:
        """The chart's older items, page by page, told to the views as they come in. A page
        the EHR refused is said on its section (the service's FAILED); anything else that
        stops the paging (the app closing its connections, a bug) is logged and said on the
        sections still loading — a background helper never opens a dialog."""
        service = self._service
        if service is None:
            return
        try:
            async for history in service.older_items(chart):
                if self.chart is not chart:
                    return  # another chart is shown (its own paging is running)
                self._show_history(history)
        except Exception as exc:
            log.warning("older items stopped: %s", type(exc).__name__)
            if self.chart is chart:
                for history in list(self.histories.values()):
                    if history.state is HistoryState.LOADING:
                        self._show_history(
                            replace(history, state=HistoryState.FAILED, problem=PAGING_STOPPED)
                        )

    def _show_history(self, history: SectionHistory) -> None:
        self.histories[history.kind] = history
        if history.kind is SectionKind.NOTES:
            self.threads = note_threads(history.items, self._mine)
            self.notes_changed.emit(self.threads)
        self.history_changed.emit(history)

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
            self._stop_paging()
            self.chart = fresh
            self.refreshes += 1
            self.chart_changed.emit(fresh)
            await self._show_notes(fresh)
            self._start_paging(fresh)
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
            self._mine = mine
            older = self.histories.get(SectionKind.NOTES)
            self.threads = note_threads(older.items if older else notes, mine)
            self.notes_changed.emit(self.threads)
