"""Issue 15, item 4: the app paints its sign-in window first and builds the rest right after
(app.ui.signin_window, app.main.after_the_paint). What the sign-in page shows and does
must not depend on the order: the notes waiting are listed once the store opens after the
paint, and a sign-in that ends before the rest of the window exists still carries on. The
embedded sandbox starts after the paint too: a sign-in pressed before it is up waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.bootstrap import SiteFactory, build_workbench
from app.domain.clinical import Reference
from app.domain.site import Site
from app.embedded_sandbox import EmbeddedSandbox, SandboxPhase, reserve_sandbox
from app.main import after_the_paint
from app.paths import AppPaths
from app.services.workbench import Workbench
from app.smart.sites import sandbox_site
from app.ui.signin_window import UNEXPECTED, SignInWindow, build_signin_window
from app.ui.workbench import MainWindowParts, complete_main_window
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser
from tests.sync.commits import clinical_commit
from tests.ui.outbox_states import decision_json
from tests.ui.test_end_to_end import wait_until

JAMES = Reference("Patient", "pat-2", "James Chen")


def a_site(server: RunningServer, site_id: str) -> Site:
    return Site(
        id=site_id,
        display_name="Sandbox",
        fhir_base=server.fhir_base,
        client_id=server.client_id,
    )


Built = list[SignInWindow | MainWindowParts]


@pytest.fixture
async def built(workbenches: list[Workbench]) -> AsyncIterator[Built]:
    """The sign-in windows and completed windows a test builds: their tasks stopped at its end
    (passed or failed), before the workbenches close (the ``workbenches`` fixture)."""
    windows: Built = []
    yield windows
    for window in reversed(windows):
        await (window.aclose() if isinstance(window, MainWindowParts) else window.tasks.aclose())


def shown_signin_window(qtbot: QtBot, workbench: Workbench, built: Built) -> SignInWindow:
    """The sign-in window as the app first paints it: nothing of the rest of the window yet."""
    first = build_signin_window(workbench)
    built.append(first)
    qtbot.addWidget(first.window)
    first.window.show()
    return first


def app_paths(tmp_path: Path) -> AppPaths:
    return AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()


async def test_the_notes_waiting_are_listed_once_the_store_opens_after_the_paint(
    qtbot: QtBot,
    tmp_path: Path,
    sandbox_server: RunningServer,
    workbenches: list[Workbench],
    built: Built,
) -> None:
    paths, site = app_paths(tmp_path), a_site(sandbox_server, "waiting-late")
    earlier = SiteFactory(paths, None)  # an earlier run left two notes unsent
    outbox = earlier.store(site).store.outbox
    for patient in (JAMES, JAMES):
        commit = clinical_commit()
        outbox.enqueue_approval(commit, decision_json(commit, patient=patient))
    await earlier.aclose()

    factory = SiteFactory(paths, None)
    workbench = build_workbench(paths, [site], factory=factory)
    workbenches.append(workbench)
    first = shown_signin_window(
        qtbot, workbench, built
    )  # as the app starts: nothing of the store yet
    waiting = first.controller.signin_view.waiting_label
    assert waiting.text() == ""

    parts, problem = await after_the_paint(first, workbench, factory)
    built.append(parts)
    assert problem is None
    assert parts.window is first.window and parts.workspace is not None
    assert waiting.isVisible()
    assert waiting.text().startswith("2 notes approved earlier wait to be sent")
    assert waiting.text().count("James Chen, approved ") == 2

    await wait_until(lambda: not parts.controller.tasks.is_running("sign-in"), 30)


async def test_a_sign_in_ended_before_the_rest_of_the_window_was_built_carries_on(
    qtbot: QtBot,
    tmp_path: Path,
    sandbox_server: RunningServer,
    scripted_browser: ScriptedBrowser,
    workbenches: list[Workbench],
    built: Built,
) -> None:
    paths = app_paths(tmp_path)
    sites = [a_site(sandbox_server, "early"), a_site(sandbox_server, "other")]  # no resume
    workbench = build_workbench(paths, sites)
    workbenches.append(workbench)
    first = shown_signin_window(qtbot, workbench, built)
    controller = first.controller
    controller.signin_view.sign_in_button.click()
    await wait_until(lambda: controller.session is not None, 60)
    assert first.window.pages.currentWidget() is controller.signin_view  # nothing to go on to

    parts = complete_main_window(first, workbench)
    built.append(parts)
    await wait_until(lambda: parts.flow.site is not None, 30)  # the site's services opened
    await wait_until(lambda: first.window.pages.currentWidget() is not controller.signin_view)
    assert "Signed in as" in first.window.user_label.text()


async def test_enter_while_the_kept_session_is_looked_for_signs_in_after_it(
    qtbot: QtBot,
    tmp_path: Path,
    sandbox_server: RunningServer,
    scripted_browser: ScriptedBrowser,
    monkeypatch: pytest.MonkeyPatch,
    workbenches: list[Workbench],
    built: Built,
) -> None:
    """Right after the paint the kept session is looked for; Enter pressed meanwhile was
    dropped ("task sign-in already running") and the browser never opened."""
    workbench = build_workbench(app_paths(tmp_path), [a_site(sandbox_server, "resume-race")])
    workbenches.append(workbench)
    first = shown_signin_window(qtbot, workbench, built)
    controller, looked = first.controller, asyncio.Event()

    async def restore_held(_site: Site) -> bool:  # the keyring look-up, slow on this machine
        await looked.wait()
        return False  # nothing kept: a first launch

    monkeypatch.setattr(controller.signin_model, "restore", restore_held)
    controller.resume(workbench.sites[0])
    controller.signin_view.sign_in_button.click()  # as Enter does
    await asyncio.sleep(0.3)
    assert controller.session is None and not scripted_browser.entries()  # waits its turn
    looked.set()
    await wait_until(lambda: controller.session is not None, 60)
    await first.tasks.aclose()
    if controller.session is not None:
        await controller.session.sign_out()


def embedded_sandbox_workbench(paths: AppPaths) -> tuple[EmbeddedSandbox, Workbench]:
    """As the app starts with its embedded sandbox: the port reserved, the server not begun."""
    sandbox = reserve_sandbox(paths)
    return sandbox, build_workbench(paths, [sandbox_site(sandbox.fhir_base)], sandbox=sandbox)


async def test_a_sign_in_pressed_before_the_sandbox_is_up_waits_for_it_and_signs_in(
    qtbot: QtBot,
    tmp_path: Path,
    scripted_browser: ScriptedBrowser,
    workbenches: list[Workbench],
    built: Built,
) -> None:
    paths = app_paths(tmp_path)
    sandbox, workbench = embedded_sandbox_workbench(paths)
    workbenches.append(workbench)
    first = shown_signin_window(qtbot, workbench, built)  # painted; the sandbox not begun
    controller = first.controller
    controller.signin_view.sign_in_button.click()  # Enter at once
    await asyncio.sleep(0.3)
    assert sandbox.phase is SandboxPhase.STARTING  # the sign-in asked for it
    assert controller.session is None and not scripted_browser.entries()  # it waits
    assert controller.signin_view.error_label.text() == ""  # ... without failing

    parts, problem = await after_the_paint(first, workbench, SiteFactory(paths, None))
    built.append(parts)
    assert problem is None
    await wait_until(lambda: controller.session is not None, 90)  # the first start seeds it
    await wait_until(lambda: first.window.pages.currentWidget() is not controller.signin_view)
    assert "Signed in as" in first.window.user_label.text()

    await parts.aclose()  # the app ends: its embedded sandbox with it
    await workbench.aclose()
    assert not sandbox.running


async def test_a_sandbox_that_cannot_start_says_so_at_sign_in(
    qtbot: QtBot,
    tmp_path: Path,
    scripted_browser: ScriptedBrowser,
    workbenches: list[Workbench],
    built: Built,
) -> None:
    paths = app_paths(tmp_path)
    (paths.data_dir / "sandbox").write_text("not a folder", encoding="utf-8")  # its database's
    _sandbox, workbench = embedded_sandbox_workbench(paths)
    workbenches.append(workbench)
    first = shown_signin_window(qtbot, workbench, built)
    controller = first.controller
    controller.signin_view.sign_in_button.click()
    await wait_until(lambda: not controller.tasks.is_running("sign-in"), 60)
    words = controller.signin_view.error_label.text()
    assert words.startswith("The sandbox EHR could not start (File exists)"), words
    assert controller.session is None and not scripted_browser.entries()


async def test_a_failed_task_is_told_over_the_window_without_blocking_it(
    qtbot: QtBot, sandbox_workbench: Workbench, built: Built
) -> None:
    """A task that fails (a bug) is told in words in a window-modal message that does not
    block: the event loop goes on (before, QMessageBox.warning ran a nested loop; in CI it
    never returned and the test run hung). A second failure is added to the open message."""
    first = shown_signin_window(qtbot, sandbox_workbench, built)

    async def fails() -> None:
        raise RuntimeError("a bug")

    first.tasks.start("boom", fails())
    await wait_until(lambda: first.window.told is not None and first.window.told.isVisible(), 5)
    told = first.window.told
    assert told is not None and told.text() == UNEXPECTED
    assert told.windowModality() is Qt.WindowModality.WindowModal
    first.window.tell("The outbox could not be read.")
    assert first.window.told is told and told.text().endswith("The outbox could not be read.")
    await asyncio.sleep(0.05)  # the loop runs on with the message open
    told.close()
