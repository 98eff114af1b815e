"""Start-up with and without a kept session (issue 13): with an OS keyring the last session is
continued without a browser; "Continuing your last session…" is never said on a first launch;
without an OS keyring nothing is kept and one plain sentence says so (no second warning)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pytestqt.qtbot import QtBot

from app.bootstrap import SiteFactory, build_workbench
from app.domain.site import Site
from app.keyring_policy import NO_OS_KEYRING
from app.paths import AppPaths
from app.services.session import SessionService
from app.services.workbench import SiteServices, StartupReport, Workbench
from app.ui.workbench import MainWindowParts, build_main_window
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.test_end_to_end import wait_until

CONTINUING = "Continuing your last session…"


def workbench_for(
    opened: list[Workbench],
    tmp_path: Path,
    server: RunningServer,
    *,
    os_keyring: bool,
    warnings: tuple[str, ...] = (),
) -> Workbench:
    """The app's Workbench, closed at the test's end (``opened``: the ``workbenches``
    fixture); ``os_keyring`` stands the tests' file keyring in for an OS one."""
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    site = Site(
        id="kept", display_name="Sandbox", fhir_base=server.fhir_base, client_id=server.client_id
    )
    factory = SiteFactory(paths, None, keeps_sessions=lambda: os_keyring)
    workbench = build_workbench(
        paths, [site], factory=factory, startup=StartupReport(warnings=warnings)
    )
    opened.append(workbench)
    return workbench


async def open_window(qtbot: QtBot, workbench: Workbench) -> tuple[MainWindowParts, list[str]]:
    """The main window as the app opens it; every progress sentence it showed."""
    said: list[str] = []
    parts = build_main_window(workbench)
    parts.signin.progress.connect(said.append)
    qtbot.addWidget(parts.window)
    parts.window.show()
    await wait_until(lambda: not parts.controller.tasks.is_running("sign-in"), 30)
    return parts, said


async def quit_app(parts: MainWindowParts, workbench: Workbench) -> None:
    """The app ends between two starts (the ``workbenches`` fixture closes the last)."""
    await parts.aclose()
    await workbench.aclose()


async def test_a_kept_session_is_continued_without_the_browser(
    qtbot: QtBot,
    tmp_path: Path,
    sandbox_server: RunningServer,
    scripted_browser: ScriptedBrowser,
    workbenches: list[Workbench],
) -> None:
    first = workbench_for(workbenches, tmp_path, sandbox_server, os_keyring=True)
    parts, said = await open_window(qtbot, first)
    assert CONTINUING not in said  # a first launch: nothing to continue
    assert parts.controller.session is None
    parts.controller.signin_view.sign_in_button.click()
    await wait_until(lambda: parts.controller.session is not None, 30)
    visits = len(scripted_browser.entries())
    assert visits > 0
    await quit_app(parts, first)

    again = workbench_for(workbenches, tmp_path, sandbox_server, os_keyring=True)
    parts, said = await open_window(qtbot, again)
    await wait_until(lambda: parts.controller.session is not None, 30)
    assert CONTINUING in said
    assert len(scripted_browser.entries()) == visits  # no browser this time
    signin_page = parts.controller.signin_view
    await wait_until(lambda: parts.window.pages.currentWidget() is not signin_page, 30)


async def test_without_an_os_keyring_nothing_is_kept_and_one_sentence_says_so(
    qtbot: QtBot,
    tmp_path: Path,
    sandbox_server: RunningServer,
    scripted_browser: ScriptedBrowser,
    workbenches: list[Workbench],
) -> None:
    first = workbench_for(
        workbenches, tmp_path, sandbox_server, os_keyring=False, warnings=(NO_OS_KEYRING,)
    )
    parts, said = await open_window(qtbot, first)
    view = parts.controller.signin_view
    assert CONTINUING not in said
    assert not view.error_label.isVisible()
    assert view.warning_label.text().count("keyring") == 1
    view.sign_in_button.click()
    await wait_until(lambda: parts.controller.session is not None, 30)
    session = parts.controller.session
    assert session is not None and session.warnings == []  # no second keyring warning
    await quit_app(parts, first)

    again = workbench_for(
        workbenches, tmp_path, sandbox_server, os_keyring=False, warnings=(NO_OS_KEYRING,)
    )
    parts, said = await open_window(qtbot, again)
    assert CONTINUING not in said and parts.controller.session is None


async def test_signing_out_while_the_store_opens_still_removes_the_kept_charts(
    qtbot: QtBot,
    tmp_path: Path,
    sandbox_server: RunningServer,
    scripted_browser: ScriptedBrowser,
    workbenches: list[Workbench],
) -> None:
    """Quit while signed in: the charts stay kept for an offline start. Next start continues
    the session; the clinician signs out while the site's store is still opening. The sign-out
    waits for the sign-in to finish and then removes the kept charts (before, it found no site
    yet, removed nothing, and the sign-in carried on after it)."""
    first = workbench_for(workbenches, tmp_path, sandbox_server, os_keyring=True)
    parts, _said = await open_window(qtbot, first)
    parts.controller.signin_view.sign_in_button.click()
    await wait_until(lambda: parts.workspace.context is not None, 60)
    services = parts.flow.site
    assert services is not None and services.offline is not None
    kept = await services.offline.kept_encounters()
    assert kept  # the chart shown is kept
    await quit_app(parts, first)  # quit while signed in

    again = workbench_for(workbenches, tmp_path, sandbox_server, os_keyring=True)
    opening, release = asyncio.Event(), asyncio.Event()
    open_store = again.directory.open

    async def slow_open(session: SessionService) -> SiteServices:
        opening.set()
        await release.wait()
        return await open_store(session)

    again.directory.open = slow_open  # type: ignore[method-assign]
    parts, _said = await open_window(qtbot, again)
    await wait_until(opening.is_set, 30)  # the kept session continues; the store is opening
    parts.workspace.sign_out_requested.emit()
    await asyncio.sleep(0.2)
    release.set()
    await wait_until(lambda: parts.controller.session is None, 30)
    await wait_until(lambda: not parts.flow.tasks.is_running("sign-out"), 30)
    assert parts.flow.site is None  # signed out, not half signed in
    reopened = again.directory.opened(services.site)
    assert reopened is not None and reopened.offline is not None
    assert await reopened.offline.kept_encounters() == set()
