"""The worklist page with the keyboard: move, open, previous/next day, refresh, today; the
offline copy and failures in words. The service is a small fake (this tests one layer: the
real one is tested over real connections in tests/services/test_worklist_service.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, cast

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.domain.visit_events import ListenerCounts
from app.domain.worklist import NoteState, Visit, VisitStatus, Worklist, WorklistSource
from app.services.errors import ServiceError
from app.services.worklist import WorklistService
from app.ui.tasks import TaskTracker
from app.ui.worklist_model import NOT_ARRIVED, WorklistViewModel
from app.ui.worklist_view import WorklistPage, offline_words

TODAY = date(2026, 12, 7)


def visit(n: int, *, encounter: bool = True, **more: Any) -> Visit:
    more.setdefault("start", datetime(2026, 12, 7, 8 + n, 30, tzinfo=UTC))
    return Visit(
        key=f"Encounter/e{n}" if encounter else f"Appointment/a{n}",
        encounter_id=f"e{n}" if encounter else None,
        patient_id=f"p{n}",
        patient_name=f"Patient Number{n}",
        type_text="Check up",
        status=VisitStatus.ARRIVED if encounter else VisitStatus.PLANNED,
        birth_date=date(1980, 1, 1),
        mrn=f"MRN-{n}",
        **more,
    )


class FakeWorklistService:
    def __init__(self) -> None:
        self.loads: list[date] = []
        self.fail: str | None = None
        self.source = WorklistSource.LIVE
        self.listeners: list[Any] = []
        self.cleared: list[str] = []
        self.has_listener = True
        self.listener_port = 2575
        self.counts = ListenerCounts(accepted=12, unknown_patients=2)

    @property
    def zone(self) -> tzinfo:
        return UTC

    def today(self) -> date:
        return TODAY

    def subscribe(self, listener: Any) -> Any:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    async def load(self, day: date | None = None) -> Worklist:
        day = day or TODAY
        self.loads.append(day)
        if self.fail:
            raise ServiceError(self.fail)
        visits = (
            visit(0, note=NoteState.SENT),
            visit(1, note=NoteState.DRAFT, new_results=True),
            visit(2),
            visit(3, encounter=False),
        )
        if day != TODAY:
            visits = visits[:1]
        return Worklist(
            "Practitioner/prac-1",
            day,
            visits,
            datetime(2026, 12, 7, 8, 12, tzinfo=UTC),
            source=self.source,
        )

    async def refresh_notes(self) -> None:
        return None

    def clear_results(self, key: str) -> None:
        self.cleared.append(key)


@pytest.fixture
def page(qtbot: QtBot) -> tuple[WorklistPage, FakeWorklistService, TaskTracker]:
    tasks = TaskTracker()
    fake = FakeWorklistService()
    model = WorklistViewModel(tasks.start)
    model.set_service(cast(WorklistService, fake))
    shown = WorklistPage(model)
    qtbot.addWidget(shown)
    shown.resize(1200, 600)
    shown.show()
    qtbot.waitExposed(shown)
    shown.activateWindow()
    shown.focus_table()
    return shown, fake, tasks


async def test_keyboard_moves_opens_and_changes_day(
    qtbot: QtBot, page: tuple[WorklistPage, FakeWorklistService, TaskTracker]
) -> None:
    shown, fake, tasks = page
    shown.model.go_today()
    await tasks.wait_idle()
    table = shown.table
    assert shown.table_model.rowCount() == 4 and table.currentIndex().row() == 0
    cells = [shown.table_model.index(1, c).data() for c in range(8)]
    assert cells == ["09:30", "Patient Number1", "46 y", "MRN-1", "Check up", "Arrived",
                     "Draft", "New results"]  # fmt: skip
    assert shown.heading.text() == "My day — Today, Monday 7 December"
    assert shown.status_label.text() == "4 visits · as of 08:12"
    assert "12 messages, 2 about patients not on this list" in shown.listener_label.text()

    qtbot.keyClick(table, Qt.Key.Key_Down)
    assert table.currentIndex().row() == 1
    with qtbot.waitSignal(shown.model.open_requested) as opened:
        qtbot.keyClick(table, Qt.Key.Key_Return)
    assert opened.args == ["p1", "e1"] and fake.cleared == ["Encounter/e1"]

    qtbot.keyClick(table, Qt.Key.Key_Down)
    qtbot.keyClick(table, Qt.Key.Key_Down)  # the booked appointment: nothing to open yet
    with qtbot.assertNotEmitted(shown.model.open_requested):
        qtbot.keyClick(table, Qt.Key.Key_Enter)
    assert shown.error_label.isVisibleTo(shown) and shown.error_label.text() == NOT_ARRIVED

    qtbot.keyClick(table, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    await tasks.wait_idle()
    assert fake.loads[-1] == TODAY + timedelta(days=1) and shown.table_model.rowCount() == 1
    assert shown.heading.text() == "My day — Tomorrow, Tuesday 8 December"
    assert not shown.error_label.isVisibleTo(shown)
    qtbot.keyClick(table, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(table, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    await tasks.wait_idle()
    assert fake.loads[-1] == TODAY - timedelta(days=1)
    qtbot.keyClick(table, Qt.Key.Key_Home, Qt.KeyboardModifier.AltModifier)
    await tasks.wait_idle()
    assert fake.loads[-1] == TODAY
    count = len(fake.loads)
    qtbot.keyClick(table, Qt.Key.Key_F5)
    await tasks.wait_idle()
    assert len(fake.loads) == count + 1 and fake.loads[-1] == TODAY


async def test_the_selection_stays_on_its_visit_when_the_list_changes(
    page: tuple[WorklistPage, FakeWorklistService, TaskTracker],
) -> None:
    shown, fake, tasks = page
    shown.model.go_today()
    await tasks.wait_idle()
    shown.table.selectRow(2)
    worklist = shown.model.worklist
    assert worklist is not None
    earlier = visit(9, start=datetime(2026, 12, 7, 7, 0, tzinfo=UTC))
    grown = worklist.with_visits([*worklist.visits, earlier])
    for listener in fake.listeners:  # an HL7 registration added a visit before it
        listener(grown)
    assert shown.table_model.visits[shown.table.currentIndex().row()].key == "Encounter/e2"


async def test_the_offline_copy_says_so(
    page: tuple[WorklistPage, FakeWorklistService, TaskTracker],
) -> None:
    shown, fake, tasks = page
    fake.source = WorklistSource.CACHED
    shown.model.go_today()
    await tasks.wait_idle()
    assert (
        "as of 08:12 (kept on this computer: the EHR could not be reached)"
        in shown.status_label.text()
    )


async def test_a_failure_is_shown_in_words(
    page: tuple[WorklistPage, FakeWorklistService, TaskTracker],
) -> None:
    shown, fake, tasks = page
    fake.fail = "The day's visits could not be read from the EHR. Press F5."
    shown.model.go_today()
    await tasks.wait_idle()
    assert shown.error_label.text() == fake.fail and shown.table_model.rowCount() == 0
    assert shown.status_label.text() == "not loaded"


def test_the_offline_column_says_which_charts_open_without_the_ehr() -> None:
    base = Visit("Encounter/e1", "p1", "A B", None, "Visit", VisitStatus.ARRIVED, "e1")
    assert offline_words(replace(base, kept_offline=True)) == "Kept"
    assert offline_words(base) == "Not kept"
    booked = replace(base, key="Appointment/a1", encounter_id=None)
    assert offline_words(booked) == ""  # nothing to open yet
