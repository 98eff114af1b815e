"""The worklist in the real window on the sandbox (its clinic day) over real HTTP: signed in
with a chart in context, the day is one key away (Ctrl+Shift+W); a row opened with the
keyboard opens that encounter's chart; back again with the same key."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.services.workbench import Workbench
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.test_end_to_end import signed_in_window, wait_until


@pytest.fixture
def workbench(sandbox_workbench: Workbench) -> Workbench:
    return sandbox_workbench  # closed after the windows at the test's end (tests/ui/conftest.py)


async def test_the_day_one_key_away_and_a_visit_opened_from_it(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    parts = await signed_in_window(qtbot, workbench)
    window, workspace, flow = parts.window, parts.workspace, parts.worklist
    assert flow is not None and workspace.context is not None
    assert workspace.context.patient.id == "pat-1"  # the EHR's choice opens first
    page = flow.page
    await wait_until(lambda: page.table_model.rowCount() >= 12, 30)  # loaded meanwhile

    qtbot.keyClick(
        workspace,
        Qt.Key.Key_W,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    await wait_until(lambda: window.pages.currentWidget() is page, 10)
    assert page.heading.text().startswith("My day — Today, ")
    assert page.table.hasFocus() or page.table.isVisible()
    qtbot.keyClick(page.table, Qt.Key.Key_Down)
    chosen = page.table_model.visits[page.table.currentIndex().row()]
    assert chosen.encounter_id is not None and chosen.mrn and chosen.mrn.startswith("MRN-2")
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    await wait_until(
        lambda: (
            workspace.context is not None
            and workspace.context.encounter.id == chosen.encounter_id
            and window.pages.currentWidget() is workspace
        ),
        30,
    )
    assert workspace.banner.name_label.text() == chosen.patient_name

    qtbot.keyClick(
        workspace,
        Qt.Key.Key_W,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    await wait_until(lambda: window.pages.currentWidget() is page, 10)
    await parts.tasks.wait_idle()


async def test_signing_out_ends_a_reading_of_the_note_states_under_way(
    qtbot: QtBot,
    workbench: Workbench,
    scripted_browser: ScriptedBrowser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The note states are being read when the clinician signs out: the reading ends with the
    sign-out, before the site's store closes. Before, it went on after the store had closed
    ("the local store was used after it was closed") and left a store thread behind."""
    parts = await signed_in_window(qtbot, workbench)
    flow, site = parts.worklist, parts.flow.site
    assert flow is not None and site is not None and site.worklist is not None
    await parts.tasks.wait_idle()
    reading, held = asyncio.Event(), asyncio.Event()
    read_notes = site.worklist.refresh_notes

    async def slow_reading() -> object:
        reading.set()
        await held.wait()  # still reading when the sign-out comes
        return await read_notes()

    site.worklist.refresh_notes = slow_reading  # type: ignore[method-assign]
    flow.show()  # the worklist: its note states are read again
    await wait_until(reading.is_set, 10)
    parts.workspace.sign_out_requested.emit()
    await wait_until(lambda: parts.controller.session is None, 30)
    await wait_until(lambda: not parts.tasks.is_running("sign-out"), 30)
    assert not parts.tasks.is_running("worklist-notes")  # ended with the sign-out
    held.set()
    await parts.tasks.wait_idle()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
