"""Shared fixtures: real servers on 127.0.0.1 (sandbox EHR and ../shared/peer-ehr)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

from tests.support.servers import RunningServer, require_peer, start_peer, start_sandbox

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# A real file keyring and the scripted browser for every test: no test can reach the
# developer's keyring or open their browser.
pytest_plugins = ["tests.support.smart_fixtures"]


@pytest.fixture(autouse=True)
def own_log_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The platform's log folder is the test's own: the app and the command line log there
    (AppPaths.default), and no test may write to the developer's log folder."""
    folder = tmp_path / "user-logs"
    monkeypatch.setattr(platformdirs, "user_log_dir", lambda *a, **k: str(folder))
    return folder


@pytest.fixture(autouse=True)
def no_window_outlives_its_test() -> Iterator[None]:
    """The windows a test leaves open are stopped at its end: their timers stop and the idle
    lock stops watching the app. Left running, a window of an earlier test locked itself ten
    minutes later, in the middle of another test, and started its draft flush on that test's
    event loop with objects of its own (a CI failure far from its cause)."""
    yield
    qt_widgets = sys.modules.get("PySide6.QtWidgets")
    app = qt_widgets.QApplication.instance() if qt_widgets is not None else None
    if qt_widgets is None or app is None:
        return
    from PySide6.QtCore import QTimer

    lock = sys.modules.get("app.ui.lock")
    for window in qt_widgets.QApplication.topLevelWidgets():
        if lock is not None:
            for watcher in window.findChildren(lock.IdleWatcher):
                watcher.stop()
        for timer in window.findChildren(QTimer):
            timer.stop()
        window.hide()


# Tests that left a store or a store thread open, with what they left (reported at the end of
# the run). Each of them fails (tests/support/store_watch.py); STRICT_STORES=0 only lists them
# (to see them all at once while mending several).
STORES_LEFT_OPEN: list[tuple[str, list[str]]] = []
STRICT_STORES = os.environ.get("STRICT_STORES", "1") != "0"


@pytest.fixture(autouse=True)
def no_store_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """The stores and store threads a test leaves open are closed at its end and listed at the
    end of the run (tests/support/store_watch.py). Left open, a store kept its SQLite
    connections and a store thread its thread until the garbage collector came by, in the
    middle of some later test. Such a test fails; with STRICT_STORES=0 it is only listed."""
    from tests.support.store_watch import StoreWatch

    watch = StoreWatch.installed()
    running = watch.start()
    yield
    left = watch.close_leftovers(running, collect=STRICT_STORES)
    if not left:
        return
    STORES_LEFT_OPEN.append((request.node.nodeid, left))
    if STRICT_STORES:
        pytest.fail(
            f"the test left open: {', '.join(left)} (closed now); close what it opens, as "
            "its fixtures do (store.close(), StoreThread.close(), await services' aclose())",
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STORES_LEFT_OPEN:
        return
    terminalreporter.section("stores left open (closed at the end of the test)")
    for nodeid, left in STORES_LEFT_OPEN:
        terminalreporter.write_line(f"{nodeid}: {', '.join(left)}")


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One sandbox for the session (auto-login prac-1). Tests must not rely on a pristine store."""
    server = start_sandbox(tmp_path_factory.mktemp("sandbox"), auto_login="prac-1:pat-1")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def peer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One peer EHR for the session (auto-login prac-1)."""
    require_peer()
    server = start_peer(tmp_path_factory.mktemp("peer"), auto_login="prac-1")
    yield server
    server.stop()


@pytest.fixture(params=["sandbox", pytest.param("peer", marks=pytest.mark.peer)])
def ehr(request: pytest.FixtureRequest) -> RunningServer:
    """Parametrised over both servers: the same check runs against each."""
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    return tmp_path
