"""At a clinic's 1366×768 screen the outbox shows, without scrolling sideways, each commit's
state and, when something went wrong, what happened and what to do (the whole sentence).

The real main window with the outbox dock open at the bottom, as the status-bar button opens
it, over a store holding a commit in every state (tests/ui/outbox_states.py). On narrower
windows the table still fits: the columns a clinician can do without make room. Screenshots of
the real app under Xvfb: docs/screenshots/outbox-1366x768.png.

The dock opens showing five rows at 1366×768 with the note keeping half the window, and
afterwards keeps the height the clinician drags it to, also at the next start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QApplication, QToolButton
from pytestqt.qtbot import QtBot

from app.services.outbox import OutboxService
from app.services.workbench import Workbench
from app.store.store import Store, open_store
from app.sync.store_thread import StoreThread
from app.ui.layout_memory import LayoutMemory
from app.ui.main_window import MainWindow
from app.ui.outbox_dock import OutboxDock
from app.ui.outbox_model import Column
from app.ui.outbox_panel import OutboxPanel
from app.ui.outbox_table import OPTIONAL, OutboxTable
from app.ui.tasks import TaskTracker
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.outbox_states import fill_every_state
from tests.ui.test_end_to_end import signed_in_window, wait_until

CELL_MARGINS = 8  # the delegate's text margins, both sides together (generous)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "store.db")
    fill_every_state(s.outbox)
    yield s
    s.close()


@pytest.fixture
def outbox(store: Store) -> OutboxService:
    return OutboxService(store.outbox, StoreThread(), user_label=lambda: "Practitioner/prac-1")


def settle() -> None:
    for _ in range(5):
        QApplication.processEvents()


def open_outbox(qtbot: QtBot, outbox: OutboxService, width: int, height: int) -> OutboxPanel:
    window = MainWindow()
    qtbot.addWidget(window)
    dock = OutboxDock(window, TaskTracker())
    dock.show_outbox(outbox)
    window.resize(width, height)
    window.show()
    qtbot.waitExposed(window)
    dock.toggle()  # as the status-bar button opens it
    settle()
    assert dock.panel is not None and dock.panel.isVisible()
    assert window.width() == width
    return dock.panel


def rows_with_an_error(panel: OutboxPanel) -> list[int]:
    model = panel.model
    rows = [r for r in range(model.rowCount()) if model.index(r, Column.LAST_ERROR).data()]
    assert len(rows) >= 6  # retry, checking, could not check, sign-in, conflict, refused…
    return rows


def shown_whole(panel: OutboxPanel, row: int, column: Column) -> bool:
    """The cell's words fit its rectangle (wrapped), nothing cut off."""
    table = panel.table
    index = panel.model.index(row, column)
    rect = table.visualRect(index)
    width = (
        rect.width() - CELL_MARGINS - (table.iconSize().width() if column is Column.STATE else 0)
    )
    needed = table.fontMetrics().boundingRect(
        QRect(0, 0, width, 10_000), int(Qt.TextFlag.TextWordWrap), str(index.data())
    )
    return needed.width() <= width and needed.height() <= rect.height()


def test_at_1366x768_the_state_and_what_to_do_are_read_without_scrolling_sideways(
    qtbot: QtBot, outbox: OutboxService
) -> None:
    panel = open_outbox(qtbot, outbox, 1366, 768)
    table = panel.table
    viewport = table.viewport().rect()
    assert table.horizontalScrollBar().maximum() == 0  # nothing to scroll sideways to
    assert not any(table.isColumnHidden(c) for c in Column)  # every column has room
    for row in rows_with_an_error(panel):
        table.scrollTo(panel.model.index(row, 0))
        for column in (Column.STATE, Column.LAST_ERROR):
            rect = table.visualRect(panel.model.index(row, column))
            assert viewport.left() <= rect.left() and rect.right() <= viewport.right(), column
            assert rect.width() > 0 and viewport.intersects(rect)
            assert shown_whole(panel, row, column), panel.model.index(row, column).data()


@pytest.mark.parametrize("size", [(1280, 720), (1024, 768)])
def test_a_narrower_window_makes_room_for_the_last_error(
    qtbot: QtBot, outbox: OutboxService, size: tuple[int, int]
) -> None:
    panel = open_outbox(qtbot, outbox, *size)
    table = panel.table
    assert table.horizontalScrollBar().maximum() == 0
    viewport = table.viewport().rect()
    row = rows_with_an_error(panel)[0]
    rect = table.visualRect(panel.model.index(row, Column.LAST_ERROR))
    assert rect.right() <= viewport.right()
    assert rect.width() >= table.last_error_minimum
    hidden = [c for c in Column if table.isColumnHidden(c)]
    assert set(hidden) <= set(OPTIONAL)  # only what the state's words and the detail repeat
    assert not table.isColumnHidden(Column.STATE) and not table.isColumnHidden(Column.READ_BACK)

    window = panel.window()
    window.resize(1366, 768)  # room again: every column is back
    settle()
    assert not any(table.isColumnHidden(c) for c in Column)
    assert table.horizontalScrollBar().maximum() == 0


# ---------------------------------------------------------------- the dock's first height
@pytest.fixture
def workbench(sandbox_workbench: Workbench) -> Workbench:
    return sandbox_workbench  # closed after the windows at the test's end (tests/ui/conftest.py)


def whole_rows_in_view(table: OutboxTable) -> int:
    return table.viewport().height() // table.verticalHeader().defaultSectionSize()


async def test_at_1366x768_the_outbox_opens_with_five_rows_and_the_note_keeps_its_room(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    parts = await signed_in_window(qtbot, workbench)
    window = parts.window
    window.resize(1366, 768)
    await wait_until(lambda: parts.outbox.button is not None, 30)
    settle()
    parts.outbox.toggle()  # as the status-bar button opens it
    settle()
    panel = parts.outbox.panel
    assert panel is not None and panel.isVisible()
    assert whole_rows_in_view(panel.table) >= 5
    note = window.centralWidget()
    assert note.height() >= window.height() // 2  # the note keeps half the window
    edits = list(parts.workspace.editor.section_edits.values())
    assert sum(e.visibleRegion().boundingRect().size() == e.size() for e in edits) >= 2
    # one header line: the panel's (title, filter, actions) is the dock's title bar
    assert parts.outbox.dock.titleBarWidget() is panel.bar
    closer = next(b for b in panel.bar.findChildren(QToolButton) if b.accessibleName())
    assert closer.accessibleName() == "Close the outbox"
    closer.click()
    assert not parts.outbox.dock.isVisible()


def outbox_window(
    qtbot: QtBot, outbox: OutboxService, ini: Path
) -> tuple[MainWindow, OutboxDock, LayoutMemory]:
    """The main window with its outbox dock and layout memory, built in the app's order
    (app/ui/signin_window.py, app/ui/workbench.py)."""
    window = MainWindow()
    qtbot.addWidget(window)
    memory = LayoutMemory(ini)
    memory.restore_window(window)
    window.resize(1366, 768)
    dock = OutboxDock(window, TaskTracker(), memory)
    dock.show_outbox(outbox)
    memory.restore_state(window)
    window.show()
    qtbot.waitExposed(window)
    return window, dock, memory


def closed(window: MainWindow, dock: OutboxDock, memory: LayoutMemory) -> None:
    memory.save_window(window)  # what closing the window does (on_close)
    dock.close()
    window.close()


def test_the_height_the_clinician_dragged_the_outbox_to_is_kept_at_the_next_start(
    qtbot: QtBot, outbox: OutboxService, tmp_path: Path
) -> None:
    ini = tmp_path / "cfg" / "window.ini"
    window, dock, memory = outbox_window(qtbot, outbox, ini)
    closed(window, dock, memory)  # a first start that never opened the outbox

    window, dock, memory = outbox_window(qtbot, outbox, ini)
    dock.toggle()
    settle()
    assert dock.panel is not None and whole_rows_in_view(dock.panel.table) >= 5
    first = dock.dock.height()
    window.resizeDocks([dock.dock], [first - 90], Qt.Orientation.Vertical)  # dragged lower
    settle()
    dragged = dock.dock.height()
    assert dragged < first
    dock.toggle()  # closed and opened again: as it was left
    dock.toggle()
    settle()
    assert dock.dock.height() == dragged
    closed(window, dock, memory)

    window, dock, memory = outbox_window(qtbot, outbox, ini)  # the next start
    dock.toggle()
    settle()
    assert dock.dock.height() == dragged
    closed(window, dock, memory)
