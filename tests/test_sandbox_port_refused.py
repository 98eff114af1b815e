"""The embedded sandbox's port refused (app/embedded_sandbox.py): the app says so in words, on
standard error and in a window, exits with status 4, and leaves no traceback; the sandbox's own
command (``python -m app.sandbox --port N``) says so when its fixed port is taken.

How the port is chosen: the app's sandbox always asks the system for a free loopback port
(``bind(("127.0.0.1", 0))``, no setting changes it); only ``python -m app.sandbox`` takes a fixed
``--port``. So the app's bind fails only when the computer refuses it: every port in use, or a
firewall or security program. The first test makes that happen for real, in a private network
namespace whose ports are all taken (tests/support/no_free_port.py).

Before the fix: ``OSError: [Errno 98] Address already in use`` as a traceback, exit status 1,
and the running marker left behind (the next start said the app had not closed cleanly).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app import bootstrap
from app.bootstrap import EXIT_SANDBOX_UNAVAILABLE, start_workbench
from app.embedded_sandbox import SandboxUnavailable
from app.paths import AppPaths
from app.ui.application import CANNOT_START_TITLE, CannotStartWindow
from tests.support.app_env import private_home_env

REPO = Path(__file__).resolve().parents[1]
NO_FREE_PORT = REPO / "tests" / "support" / "no_free_port.py"
WORDS = "The sandbox EHR could not open a network port on this computer (Address already in use)"
TO_DO = "Close other copies of FHIR Write-back and start it again"


def _private_network_namespace() -> str | None:
    """Why no private network namespace can be made here (None: it can)."""
    try:
        made = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare cannot run: {exc}"
    return None if made.returncode == 0 else f"unshare -rn refused: {made.stderr!r}"


@pytest.fixture
def namespace() -> None:
    reason = _private_network_namespace()
    if reason:  # a container without user namespaces: the in-process tests below still run
        pytest.skip(reason)


def _home_env(home: Path) -> dict[str, str]:
    return {**private_home_env(home), "QT_QPA_PLATFORM": "offscreen"}


def test_the_app_says_in_words_that_the_sandbox_gets_no_port(
    namespace: None, tmp_path: Path
) -> None:
    data = tmp_path / "app-data"
    app = [sys.executable, "-m", "app", "--data-dir", str(data)]
    proc = subprocess.Popen(
        ["unshare", "-rn", sys.executable, str(NO_FREE_PORT), "--", *app],
        cwd=REPO,
        env=_home_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        said = []
        for line in proc.stderr:  # until the words, or the end (a traceback ends it)
            said.append(line)
            if "cannot start" in line:
                break
        proc.send_signal(signal.SIGTERM)  # the window waits for a person: a logoff ends it
        _out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stderr = "".join(said) + rest
    assert "Traceback" not in stderr
    assert WORDS in stderr and TO_DO in stderr
    assert proc.returncode == EXIT_SANDBOX_UNAVAILABLE, stderr
    logged = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.log"))
    assert "the sandbox EHR's loopback port could not be reserved: EADDRINUSE" in logged
    assert "Traceback" not in logged and str(tmp_path) not in logged
    assert not (data / "app-running.marker").exists()  # the next start is not a "crash"


def test_the_cannot_start_window_says_it_and_closes(qtbot: QtBot) -> None:
    window = CannotStartWindow(f"{WORDS}. {TO_DO}.")
    qtbot.addWidget(window)
    window.show()
    assert window.windowTitle() == CANNOT_START_TITLE
    assert window.words.text().startswith(WORDS)
    window.close()
    assert not window.isVisible()


def test_the_sandbox_command_says_in_words_that_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "app.sandbox", "--port", str(port), "--db", "sandbox.db"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert result.stdout == ""  # no "FHIR base URL" line: scripts waiting for it stop waiting
    assert result.stderr == (
        f"sandbox: cannot listen on 127.0.0.1:{port} (Address already in use). Stop the "
        "program that uses this port, or choose another --port (0 picks a free one).\n"
    )


def test_with_other_sites_the_app_goes_on_without_the_sandbox_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--sandbox`` beside configured sites: the port refused (as the first test makes it
    happen for real) leaves the sites, and the sign-in page's warning says why."""
    words = f"{WORDS}. {TO_DO}."

    def refused(_paths: AppPaths) -> None:
        raise SandboxUnavailable(words)

    monkeypatch.setattr(bootstrap, "reserve_sandbox", refused)
    sites = tmp_path / "sites.toml"
    sites.write_text(
        '[sites.clinic-a]\ndisplay_name = "Clinic A"\n'
        'fhir_base = "https://ehr.clinic-a.invalid/fhir"\nclient_id = "fhir-writeback"\n',
        encoding="utf-8",
    )
    paths = AppPaths(tmp_path / "d", tmp_path / "l", tmp_path / "c", tmp_path / "s").ensure()
    workbench = start_workbench(sites, True, paths)
    try:
        assert [site.id for site in workbench.sites] == ["clinic-a"]
        assert workbench.sandbox is None
        assert words in workbench.startup.warnings
    finally:
        asyncio.run(workbench.aclose())
