"""Closing with notes not sent yet says how many and that they go at the next start; the
sign-in page lists the notes waiting, before anyone signs in (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from app.bootstrap import SiteFactory, build_workbench
from app.domain.clinical import Reference
from app.domain.site import Site
from app.paths import AppPaths
from app.services.workbench import Workbench
from app.ui.workbench import build_main_window
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser
from tests.sync.commits import clinical_commit
from tests.ui.outbox_states import decision_json
from tests.ui.test_end_to_end import signed_in_window, wait_until

JAMES = Reference("Patient", "pat-2", "James Chen")


@pytest.fixture
def workbench(sandbox_workbench: Workbench) -> Workbench:
    return sandbox_workbench  # closed after the windows at the test's end (tests/ui/conftest.py)


def settle() -> None:
    for _ in range(5):
        QApplication.processEvents()


async def test_sign_in_page_lists_waiting_notes_and_closing_asks_first(
    qtbot: QtBot, tmp_path: Path, sandbox_server: RunningServer, workbenches: list[Workbench]
) -> None:
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    site = Site(
        id="waiting",
        display_name="Sandbox",
        fhir_base=sandbox_server.fhir_base,
        client_id=sandbox_server.client_id,
    )
    factory = SiteFactory(paths, None)
    workbench = build_workbench(paths, [site], factory=factory)
    workbenches.append(workbench)
    assert factory.open_first_store(site) is None  # as the app does before its window
    outbox = factory.store(site).store.outbox
    for patient in (JAMES, JAMES):
        commit = clinical_commit()
        outbox.enqueue_approval(commit, decision_json(commit, patient=patient))

    parts = build_main_window(workbench)
    window = parts.window
    qtbot.addWidget(window)
    window.show()
    await wait_until(lambda: not parts.controller.tasks.is_running("sign-in"), 30)
    waiting = parts.controller.signin_view.waiting_label
    assert waiting.isVisible()
    assert waiting.text().startswith("2 notes approved earlier wait to be sent")
    assert waiting.text().count("James Chen, approved ") == 2

    window.close()  # closing with two notes unsent: asked first
    settle()
    question = window.close_question
    assert question is not None and question.isVisible() and window.isVisible()
    assert question.text().startswith("2 notes have not been sent to the EHR yet.")
    assert "sent the next time you start the app" in question.text()
    keep = next(
        b for b in question.buttons() if question.buttonRole(b) is QMessageBox.ButtonRole.RejectRole
    )
    keep.click()
    settle()
    assert window.isVisible()  # kept open

    window.close()
    settle()
    question = window.close_question
    assert question is not None
    assert question.defaultButton().text() == "Quit"
    question.defaultButton().click()
    settle()
    assert not window.isVisible()


async def test_a_closed_window_never_locks_or_asks_for_a_sign_in_later(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    """Closing the window stops its idle lock and session-end checks: nothing of a closed
    window runs later (before, its idle timer went on watching the whole app and locked it,
    with its draft flush, ten minutes after)."""
    parts = await signed_in_window(qtbot, workbench)
    watcher = parts.lock.watcher
    assert watcher.active  # signed in: the idle lock is armed

    parts.window.close()  # nothing unsent: the window closes without a question
    settle()
    assert not parts.window.isVisible()
    assert not watcher.active and not watcher.findChild(QTimer).isActive()
    parts.lock.lock()  # the idle signal, had it come: a closed window is not locked
    assert not parts.lock.locked


@pytest.mark.qt_log_ignore("Keyboard event not accepted")  # QTest: the disabled window's
async def test_a_quit_with_the_window_open_takes_no_typing_after_the_last_save(
    qtbot: QtBot, workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    """A quit signal (the OS session ending, kill -TERM) ends the app with the window still
    open: the shutdown saves the draft, stops the window's tasks and closes the stores while Qt
    still takes input. What was typed then made the draft dirty again, and its autosave reached
    the closed store (which quietly reopened; now it refuses): the words were lost."""
    parts = await signed_in_window(qtbot, workbench)
    drafts, edit = parts.workspace.drafts, parts.workspace.editor.section_edits["plan"]
    qtbot.keyClicks(edit, "Saved before the quit.")
    assert drafts.dirty
    await parts.aclose()  # what app.main's shutdown does first
    assert not drafts.dirty
    qtbot.keyClicks(edit, " Typed while the app ends.")
    assert not drafts.dirty and "Typed while" not in edit.toPlainText()
