""" "My week" and the editor's active time: the dialog over a year of figures draws what the
week holds; in the real window on the sandbox, typing in the focused editor is measured and
Tools > My week shows the sign-in and the chart opened."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.domain.kpi import NoteOutcome
from app.services.kpi import KpiService
from app.services.workbench import Workbench
from app.store.store import Store, open_store
from app.sync.store_thread import StoreThread
from app.ui.editing_time import EditingTime, watch_focus
from app.ui.my_week import MyWeekDialog, open_my_week
from app.ui.my_week_model import duration_words, series
from app.ui.tasks import TaskTracker
from tests.support.kpi_data import seed_year
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.test_end_to_end import signed_in_window, site_of, wait_until

FRIDAY = date(2026, 3, 6)


@pytest.fixture
def year(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "store.db")
    seed_year(store, FRIDAY, notes=2000)
    yield store
    store.close()


async def test_my_week_draws_the_weeks_figures(qtbot: QtBot, year: Store) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    service = KpiService(year.kpi, StoreThread(), today=lambda: FRIDAY)
    dialog = open_my_week(parent, service, TaskTracker())
    await wait_until(lambda: dialog.model.report is not None, 10)
    report = dialog.model.report
    assert report is not None and report.last_day == FRIDAY
    assert dialog.title.text() == "My week: 28 Feb – 06 Mar 2026"
    [notes_bars] = dialog.plots["notes"].items
    heights = [float(h) for h in notes_bars.opts["height"]]
    assert heights == [float(d.figures.notes_approved) for d in report.days]
    assert heights[:2] == [0.0, 0.0] and all(h > 0 for h in heights[2:])  # no weekend notes
    retry, person = dialog.plots["failures"].items
    assert [float(h) for h in retry.opts["height"]] == list(series(report).after_retry)
    assert [float(y) for y in person.opts["y0"]] == list(series(report).after_retry)  # stacked
    summary = dialog.summary.text()
    assert f"Notes approved: {report.week.notes_approved} " in summary
    assert duration_words(report.week.open_to_approve.median_ms) in summary
    assert "Imported drafts: " in summary and "% of their text changed" in summary


def test_duration_words() -> None:
    assert duration_words(None) == "–"
    assert duration_words(45_000) == "45 s"
    assert duration_words(6 * 60_000) == "6 min"
    assert duration_words(3 * 3_600_000) == "3.0 h"


class Recorded:
    """Stands in for the site's KpiService: what the view-model hands it."""

    def __init__(self) -> None:
        self.added: list[int] = []

    async def add_editing_time(self, _draft_id: object, ms: int) -> None:
        self.added.append(ms)


async def test_focus_inside_the_editor_is_what_counts(qtbot: QtBot) -> None:
    window = QWidget()
    editor = QWidget(window)
    inside, outside = QWidget(editor), QWidget(window)
    for w in (inside, outside):
        w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    qtbot.addWidget(window)
    now = [0.0]
    editing = EditingTime(clock=lambda: now[0])
    recorded = Recorded()
    editing.set_service(recorded)  # type: ignore[arg-type]
    editing.showing(uuid.uuid4())
    watch_focus(editor, editing)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.focusChanged.emit(outside, inside)
    editing.typed()
    now[0] = 10.0
    app.focusChanged.emit(inside, outside)  # away: counting stops at once
    now[0] = 100.0
    editing.typed()  # a key outside the editor counts nothing
    await editing.report()
    assert recorded.added == [10_000]


async def test_typing_is_measured_and_my_week_opens_from_the_tools_menu(
    qtbot: QtBot, sandbox_workbench: Workbench, scripted_browser: ScriptedBrowser, tmp_path: Path
) -> None:
    parts = await signed_in_window(qtbot, sandbox_workbench)
    window, workspace = parts.window, parts.workspace
    site = site_of(parts)
    assert site.kpi is not None and parts.drafts.editing.service is site.kpi
    window.activateWindow()
    edit = workspace.editor.section_edits["plan"]
    edit.setFocus()
    await wait_until(lambda: edit.hasFocus(), 5)
    started = datetime.now().astimezone()
    for word in ("Recheck ", "blood ", "pressure."):
        qtbot.keyClicks(edit, word)
        await asyncio.sleep(0.2)
    saves: list[str] = []
    parts.drafts.saved.connect(saves.append)
    await wait_until(lambda: bool(saves), 5)
    await parts.drafts.flush()
    typed_for = (datetime.now().astimezone() - started).total_seconds()

    tools = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Tools")
    [my_week] = [a for a in tools.actions() if a.text() == "My week…"]
    my_week.trigger()
    dialog = parts.tools.my_week
    assert isinstance(dialog, MyWeekDialog)
    await wait_until(lambda: dialog.model.report is not None, 10)
    report = dialog.model.report
    assert report is not None
    today = report.days[-1].figures
    assert (today.sign_ins, today.charts_opened, today.notes_approved) == (1, 1, 0)
    assert "Sign-ins: 1" in dialog.summary.text()

    store = open_store(tmp_path / "data" / "sites" / "test-sandbox" / "store.db")
    try:  # the same file, read beside the app (WAL: readers never wait)
        notes = store.kpi.notes(report.last_day, report.last_day)
    finally:
        store.close()
    [note] = [n for n in notes if n.outcome is NoteOutcome.OPEN]
    assert 400 <= note.active_edit_ms <= typed_for * 1000 + 30_000
    dialog.close()
