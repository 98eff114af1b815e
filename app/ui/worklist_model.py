"""The worklist's view-model: which day is shown, what the service answered, what a row means
in words. Its logic is plain ``async def`` methods, testable without widgets; the view
(``worklist_view``) only renders what it emits and forwards keys and clicks.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.domain.errors import words_for
from app.domain.worklist import Visit, Worklist, WorklistSource
from app.services.errors import ServiceError
from app.services.worklist import WorklistService

Starter = Callable[[str, Coroutine[Any, Any, Any]], object]
NOT_ARRIVED = (
    "This visit is booked but the patient has not arrived: there is no encounter to write a "
    "note for yet. It opens once the patient is registered."
)
LOAD_FAILED = "The worklist could not be loaded. Check the connection and press F5."


def day_words(day: date, today: date) -> str:
    """ "Today, Monday 7 December" / "Yesterday, …" / "Tuesday 8 December 2026"."""
    relative = {0: "Today", -1: "Yesterday", 1: "Tomorrow"}.get((day - today).days)
    shown = f"{day:%A} {day.day} {day:%B}" + ("" if day.year == today.year else f" {day.year}")
    return f"{relative}, {shown}" if relative else shown


def age_words(visit: Visit, day: date) -> str:
    age = visit.age_on(day)
    return "" if age is None else f"{age} y"


class WorklistViewModel(QObject):
    changed = Signal(object)  # Worklist
    status = Signal(str)  # "Today, Monday 7 December · 16 visits · as of 08:12"
    error = Signal(str)  # words; "" clears
    busy = Signal(bool)
    open_requested = Signal(str, str)  # patient id, encounter id
    results_arrived = Signal(object)  # Visit: new results for a patient on the list

    def __init__(self, start: Starter, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._start = start
        self._service: WorklistService | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.day: date | None = None
        self.worklist: Worklist | None = None

    # ------------------------------------------------------------------ the service
    def set_service(self, service: WorklistService | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._service = service
        self.worklist = None
        self.day = None
        if service is not None:
            self._unsubscribe = service.subscribe(self._received)

    @property
    def service(self) -> WorklistService | None:
        return self._service

    def _received(self, worklist: Worklist) -> None:
        if self.day is not None and worklist.day != self.day:
            return  # a late answer for a day no longer shown
        before = {v.key: v for v in self.worklist.visits} if self.worklist else {}
        self.worklist = worklist
        self.changed.emit(worklist)
        self.status.emit(self.status_words())
        for visit in worklist.visits:
            old = before.get(visit.key)
            if visit.new_results and (old is None or not old.new_results):
                self.results_arrived.emit(visit)

    # ------------------------------------------------------------------ actions (trampolines)
    def refresh(self) -> None:
        self._request(self.day)

    def previous_day(self) -> None:
        self._move(-1)

    def next_day(self) -> None:
        self._move(1)

    def go_today(self) -> None:
        self._request(None)

    def _move(self, days: int) -> None:
        base = self.day or (self._service.today() if self._service else date.today())
        self._request(base + timedelta(days=days))

    def _request(self, day: date | None) -> None:
        """Show ``day`` (None: today). Pressed again while a day loads, the newest wins: the
        running load reads the day asked for last when it is done (keys are never dropped)."""
        service = self._service
        if service is None:
            return
        self.day = day or service.today()
        self._start("worklist-load", self._load_asked())

    async def _load_asked(self) -> None:
        while True:
            day = self.day
            await self.load(day)
            if self.day == day:
                return

    def open_row(self, row: int) -> None:
        visits = self.worklist.visits if self.worklist else ()
        if not 0 <= row < len(visits):
            return
        visit = visits[row]
        if visit.encounter_id is None:
            self.error.emit(NOT_ARRIVED)
            return
        if visit.new_results and self._service is not None:
            self._service.clear_results(visit.key)
        self.open_requested.emit(visit.patient_id, visit.encounter_id)

    # ------------------------------------------------------------------ logic
    async def load(self, day: date | None) -> Worklist | None:
        service = self._service
        if service is None:
            return None
        self.day = day or service.today()
        self.busy.emit(True)
        self.status.emit(f"{day_words(self.day, service.today())} · loading…")
        try:
            worklist = await service.load(self.day)
        except ServiceError as exc:
            self.worklist = None
            self.changed.emit(None)
            self.error.emit(words_for(exc, LOAD_FAILED))
            self.status.emit(f"{day_words(self.day, service.today())} · not loaded")
            return None
        finally:
            self.busy.emit(False)
        self.error.emit("")
        self._received(worklist)
        return worklist

    async def refresh_notes(self) -> None:
        if self._service is not None:
            await self._service.refresh_notes()

    def status_words(self) -> str:
        worklist, service = self.worklist, self._service
        if worklist is None or service is None:
            return ""
        count = len(worklist.visits)
        parts = [
            day_words(worklist.day, service.today()),
            f"{count} visit{'s' if count != 1 else ''}",
            worklist.age_words(service.zone),
        ]
        if worklist.source is WorklistSource.CACHED:
            parts[-1] += " (kept on this computer: the EHR could not be reached)"
        return " · ".join(parts)

    def listener_words(self) -> str:
        service = self._service
        if service is None or not service.has_listener:
            return ""
        port = service.listener_port
        if port is None:
            return "HL7 listener not running"
        c = service.counts
        words = f"HL7 listener on port {port}: {c.accepted} message{'s' if c.accepted != 1 else ''}"
        if c.unknown_patients:
            words += f", {c.unknown_patients} about patients not on this list"
        if c.rejected:
            words += f", {c.rejected} refused"
        return words
