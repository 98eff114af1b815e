"""The whole charting flow in the real window against the sandbox EHR over HTTP, once with the
keyboard only and once with the mouse: open the encounter, write in two sections, add a blood
pressure and a follow-up task, review, approve; then the resources are read back from the EHR.

Both flows count their actions the same way (the Keystroke-Level Model's operators, without the
note's own text, which both type alike): a key press or chord is one, a click one (a
double-click two), and each move of the hand between mouse and keyboard one. The keyboard flow
must take at most 60 % of the mouse flow's actions (issue 13); docs/performance.md has the
figures.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QTableWidget, QWidget
from pytestqt.qtbot import QtBot

from app.bootstrap import build_workbench
from app.domain.outbox import OutboxState
from app.domain.site import Site
from app.paths import AppPaths
from app.services.workbench import Workbench
from app.ui.item_table import EntryLineEdit
from app.ui.workbench import MainWindowParts
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.conftest import close_in_the_apps_order
from tests.ui.test_end_to_end import fhir_of, signed_in_window, site_of, wait_until

pytestmark = pytest.mark.slow

KEYBOARD_ACTIONS = 14  # counted by the keyboard test below; the mouse test compares with it
MAX_SHARE = 0.60
log = logging.getLogger(__name__)
MEASURED: dict[str, int] = {}


class Actions:
    """Drives the window like a person and counts what they would do."""

    def __init__(self, qtbot: QtBot) -> None:
        self.qtbot = qtbot
        self.count = 0
        self.device: str | None = None

    def _use(self, device: str) -> None:
        if self.device is not None and self.device != device:
            self.count += 1  # the hand moves between mouse and keyboard
        self.device = device

    @staticmethod
    def focused() -> QWidget:
        widget = QApplication.focusWidget()
        assert widget is not None, "nothing has the keyboard focus"
        return widget

    def key(
        self, key: Qt.Key, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
    ) -> None:
        self._use("keyboard")
        self.count += 1
        self.qtbot.keyClick(self.focused(), key, modifiers)

    def type(self, text: str) -> None:
        """The note's own words: typed in both flows alike, so not counted."""
        self._use("keyboard")
        self.qtbot.keyClicks(self.focused(), text)

    def click(self, widget: QWidget, at: QPoint | None = None, *, double: bool = False) -> None:
        self._use("mouse")
        self.count += 2 if double else 1
        if double:
            self.qtbot.mouseDClick(
                widget, Qt.MouseButton.LeftButton, pos=at or widget.rect().center()
            )
        else:
            self.qtbot.mouseClick(
                widget, Qt.MouseButton.LeftButton, pos=at or widget.rect().center()
            )

    def click_cell(
        self, table: QTableWidget, row: int, column: int, *, double: bool = False
    ) -> None:
        rect = table.visualItemRect(table.item(row, column))
        self.click(table.viewport(), rect.center(), double=double)

    def click_match(self, editor: EntryLineEdit) -> None:
        popup = editor.completer_.popup()
        assert popup is not None and popup.isVisible()
        self.click(popup.viewport(), popup.visualRect(popup.model().index(0, 0)).center())


@pytest.fixture
async def workbench(
    tmp_path: Path, sandbox_server: RunningServer, windows: list[MainWindowParts]
) -> AsyncIterator[Workbench]:
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    site = Site(id="test-sandbox", display_name="Test sandbox", fhir_base=sandbox_server.fhir_base,
                client_id=sandbox_server.client_id)  # fmt: skip
    opened = build_workbench(paths, [site])
    yield opened
    await close_in_the_apps_order(opened, windows)


async def signed_in(qtbot: QtBot, workbench: Workbench) -> MainWindowParts:
    parts = await signed_in_window(qtbot, workbench)
    parts.window.resize(1366, 768)
    parts.window.activateWindow()
    await wait_until(parts.window.isActiveWindow, 10)
    first = next(iter(parts.workspace.editor.section_edits.values()))
    await wait_until(first.hasFocus, 10)  # the cursor waits in the note
    await wait_until(lambda: site_of(parts).outbox.sending, 30)
    return parts


async def editor_open(table: QTableWidget, after: EntryLineEdit | None = None) -> EntryLineEdit:
    """The cell editor that has the keyboard (a new one, not ``after``, the one just closed)."""
    await wait_until(
        lambda: (
            isinstance(QApplication.focusWidget(), EntryLineEdit)
            and QApplication.focusWidget() is not after
        ),
        5,
    )
    editor = QApplication.focusWidget()
    assert isinstance(editor, EntryLineEdit) and editor.parent() is not None
    return editor


def cell_text(table: QTableWidget, row: int, column: int) -> str:
    cell = table.item(row, column)
    return cell.text() if cell is not None else ""


async def matches_shown(editor: EntryLineEdit, first: str) -> None:
    await wait_until(lambda: editor.popup_open() and editor.matches.rowCount() > 0, 10)
    assert first in editor.matches.item(0).text()


async def chart_opened(parts: MainWindowParts) -> None:
    """The chart just chosen is loaded (a person sees it appear before typing on)."""
    workspace = parts.workspace
    await wait_until(lambda: parts.window.pages.currentWidget() is workspace, 20)
    await wait_until(lambda: parts.gate.chart is not None, 60)
    await wait_until(
        lambda: workspace.drafts.draft is not None and workspace.editor.section_edits, 30
    )
    await wait_until(lambda: bool(workspace.entry and workspace.entry.owners), 30)


async def approved_and_sent(parts: MainWindowParts) -> None:
    """The dialog approved the note; it reaches the EHR; the blood pressure and the task are
    there as written."""
    workspace, site = parts.workspace, site_of(parts)
    await wait_until(
        lambda: workspace.drafts.draft is not None and not workspace.drafts.draft.is_editable, 15
    )
    commit_id = workspace.approval_dialog.proposal.commit.commit_id  # type: ignore[union-attr]
    await wait_until(lambda: site.outbox.item(commit_id).state is OutboxState.CONFIRMED, 60)  # type: ignore[attr-defined]
    async with fhir_of(parts) as fhir:
        observations = await fhir.search(
            "Observation",
            {"patient": "Patient/pat-1", "code": "http://loinc.org|85354-9", "_count": "200"},
        )
        ours = [o for o in observations.resources if any(
            i.get("value", "").startswith(str(commit_id)) for i in o.get("identifier", []))]  # fmt: skip
        assert len(ours) == 1
        values = [
            (c["code"]["coding"][0]["code"], c["valueQuantity"]["value"])
            for c in ours[0]["component"]
        ]
        assert values == [("8480-6", 142), ("8462-4", 88)]
        tasks = await fhir.search("Task", {"patient": "Patient/pat-1", "_count": "200"})
        [task] = [t for t in tasks.resources if any(
            i.get("value", "").startswith(str(commit_id)) for i in t.get("identifier", []))]  # fmt: skip
        assert task["description"] == "Recheck blood pressure"
        assert task["owner"]["reference"] == "Practitioner/prac-2"
        due = date.fromisoformat(task["executionPeriod"]["end"])
        assert due == date.today() + timedelta(weeks=2)  # typed as "+2w"


async def test_the_whole_flow_with_the_keyboard_only(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    parts = await signed_in(qtbot, workbench)
    workspace = parts.workspace
    act = Actions(qtbot)
    act.key(Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    await wait_until(lambda: parts.window.pages.currentWidget() is not workspace, 20)
    await wait_until(lambda: act.focused().placeholderText() == "Family or given name", 5)  # type: ignore[attr-defined]
    act.type("Garcia")
    act.key(Qt.Key.Key_Return)  # search
    picker = parts.window.pages.currentWidget()
    await wait_until(
        lambda: picker.patient_table.rowCount() > 0 and picker.patient_table.hasFocus(), 20
    )  # type: ignore[attr-defined]
    act.key(Qt.Key.Key_Return)  # open the newest encounter
    await chart_opened(parts)
    editor = workspace.editor
    await wait_until(lambda: next(iter(editor.section_edits.values())).hasFocus(), 20)

    act.type("Headache for 3 days, better with rest. ")
    act.key(Qt.Key.Key_Tab)  # the next section
    act.type("Alert, well appearing. ")

    act.key(Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    observations = editor.table_for("observation").table
    picker_edit = await editor_open(observations)
    act.type("bp")
    await matches_shown(picker_edit, "Blood pressure")
    act.key(Qt.Key.Key_Return)  # picked; on to the value
    await editor_open(observations, after=picker_edit)
    act.type("142/88")
    act.key(Qt.Key.Key_Return)
    await wait_until(lambda: cell_text(observations, 0, 1) == "142/88", 20)

    act.key(Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    tasks = editor.table_for("task").table
    description = await editor_open(tasks)
    act.type("Recheck blood pressure")
    act.key(Qt.Key.Key_Return)  # on to the owner
    owner = await editor_open(tasks, after=description)
    act.type("jones")
    await matches_shown(owner, "Robert Jones")
    act.key(Qt.Key.Key_Return)  # picked; on to the due date
    await editor_open(tasks, after=owner)
    act.type("+2w")
    assert "(in 2 weeks)" in editor.table_for("task").entry_hint.text()
    act.key(Qt.Key.Key_Return)
    await wait_until(lambda: cell_text(tasks, 0, 2).startswith("20"), 20)
    await wait_until(lambda: workspace.approve_button.isEnabled(), 15)

    act.key(Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # review
    await wait_until(
        lambda: workspace.approval_dialog is not None and workspace.approval_dialog.isVisible(), 15
    )
    dialog = workspace.approval_dialog
    assert dialog is not None and dialog.acknowledge is not None  # 142 is above the usual range
    await wait_until(dialog.acknowledge.hasFocus, 20)
    act.key(Qt.Key.Key_Space)
    act.key(
        Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    await approved_and_sent(parts)
    MEASURED["keyboard"] = act.count
    assert act.count == KEYBOARD_ACTIONS, f"{act.count} key presses"


async def test_the_same_flow_with_the_mouse_takes_far_more_actions(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    parts = await signed_in(qtbot, workbench)
    workspace = parts.workspace
    act = Actions(qtbot)
    act.click(workspace.patient_button)
    await wait_until(lambda: parts.window.pages.currentWidget() is not workspace, 20)
    picker = parts.window.pages.currentWidget()
    act.click(picker.name_edit)  # type: ignore[attr-defined]
    act.type("Garcia")
    act.click(picker.search_button)  # type: ignore[attr-defined]
    await wait_until(lambda: picker.patient_table.rowCount() > 0, 20)  # type: ignore[attr-defined]
    act.click_cell(picker.patient_table, 0, 0)  # type: ignore[attr-defined]
    await wait_until(lambda: picker.open_button.isEnabled(), 20)  # type: ignore[attr-defined]
    act.click(picker.open_button)  # type: ignore[attr-defined]
    await chart_opened(parts)
    editor = workspace.editor
    first, second = list(editor.section_edits.values())[:2]
    act.click(first)
    act.type("Headache for 3 days, better with rest. ")
    act.click(second)
    act.type("Alert, well appearing. ")

    observations = editor.table_for("observation")
    act.click(observations.add_button)
    picked = await editor_open(observations.table)
    act.type("bp")
    await matches_shown(picked, "Blood pressure")
    act.click_match(picked)
    await editor_open(observations.table, after=picked)
    act.type("142/88")
    act.click(first)  # clicking away ends the value
    await wait_until(lambda: cell_text(observations.table, 0, 1) == "142/88", 20)

    tasks = editor.table_for("task")
    bar = editor.items_tabs.tabBar()
    act.click(bar, bar.tabRect(editor.items_tabs.indexOf(tasks)).center())
    act.click(tasks.add_button)
    description = await editor_open(tasks.table)
    act.type("Recheck blood pressure")
    act.click_cell(tasks.table, 0, 1)  # ends the description
    await wait_until(lambda: cell_text(tasks.table, 0, 0) == "Recheck blood pressure", 20)
    act.click_cell(tasks.table, 0, 1, double=True)  # opens the owner
    owner = await editor_open(tasks.table, after=description)
    act.type("jones")
    await matches_shown(owner, "Robert Jones")
    act.click_match(owner)
    await editor_open(tasks.table, after=owner)
    act.type("+2w")
    act.click(first)  # clicking away ends the due date
    await wait_until(lambda: cell_text(tasks.table, 0, 2).startswith("20"), 20)
    await wait_until(lambda: workspace.approve_button.isEnabled(), 15)

    act.click(workspace.approve_button)
    await wait_until(
        lambda: workspace.approval_dialog is not None and workspace.approval_dialog.isVisible(), 15
    )
    dialog = workspace.approval_dialog
    assert dialog is not None and dialog.acknowledge is not None
    act.click(dialog.acknowledge, QPoint(8, dialog.acknowledge.height() // 2))  # its box
    assert dialog.acknowledge.isChecked()
    act.click(dialog.approve_button)
    await approved_and_sent(parts)
    MEASURED["mouse"] = act.count
    share = KEYBOARD_ACTIONS / act.count
    log.info(
        "keyboard %d actions, mouse %d actions: %.0f%%", KEYBOARD_ACTIONS, act.count, share * 100
    )
    assert share <= MAX_SHARE, f"keyboard {KEYBOARD_ACTIONS} vs mouse {act.count}"
