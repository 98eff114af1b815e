"""Fixtures shared by the window tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.bootstrap import build_workbench
from app.domain.site import Site
from app.paths import AppPaths
from app.services.workbench import Workbench
from tests.support.servers import RunningServer

if TYPE_CHECKING:
    from app.ui.workbench import MainWindowParts


def workbench_on(tmp_path: Path, server: RunningServer) -> Workbench:
    """The app's Workbench with one site, ``server`` (the sandbox or the peer EHR), and every
    folder of its own inside ``tmp_path``."""
    paths = AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()
    site = Site(
        id=f"test-{server.name}",
        display_name=f"Test {server.name}",
        fhir_base=server.fhir_base,
        client_id=server.client_id,
    )
    return build_workbench(paths, [site])


@pytest.fixture
async def sandbox_workbench(
    tmp_path: Path, sandbox_server: RunningServer, windows: list[MainWindowParts]
) -> AsyncIterator[Workbench]:
    """The app's Workbench with one site, the session's sandbox EHR: closed at the test's
    end, passed or failed, after every window's parts (``close_in_the_apps_order``). A test
    that closes it in its body (what it checks) may: closing again does nothing."""
    opened = workbench_on(tmp_path, sandbox_server)
    yield opened
    await close_in_the_apps_order(opened, windows)


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MainWindowParts]]:
    """Every main window the test builds (app.ui.workbench.complete_main_window), for a
    workbench fixture to close them in the app's order (``close_in_the_apps_order``)."""
    from app.ui import workbench as building

    built: list[MainWindowParts] = []
    build = building.complete_main_window

    def noted(*args: object) -> MainWindowParts:
        parts = build(*args)  # type: ignore[arg-type]
        built.append(parts)
        return parts

    monkeypatch.setattr(building, "complete_main_window", noted)
    yield built


async def close_in_the_apps_order(workbench: Workbench, built: list[MainWindowParts]) -> None:
    """What app.main's shutdown does when the app ends: each window's parts close first (the
    last draft save, then the window's tasks: the sender, the chart loads), then the workbench
    (the stores). pytest-qt has closed the windows by then, as the clinician would have. A
    test that closed the workbench itself first left the window's tasks using closed stores."""
    for parts in built:
        await parts.aclose()
    await workbench.aclose()


@pytest.fixture
async def workbenches(windows: list[MainWindowParts]) -> AsyncIterator[list[Workbench]]:
    """The workbenches a test opens (append each): closed at its end, passed or failed, after
    every window's parts, in the app's order (``close_in_the_apps_order``). A test that quits
    and starts again closes the first in its body; closing again does nothing."""
    opened: list[Workbench] = []
    yield opened
    for parts in windows:
        await parts.aclose()
    for workbench in reversed(opened):
        await workbench.aclose()
