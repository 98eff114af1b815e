"""The real app as a process on a private X display (issue 13): quitting it every way a clinic
ends it exits 0 with nothing on stderr, and the window comes back in front after a sign-in.

The app runs as its own process (``python -m app``, the embedded sandbox EHR) on a private X
display with a window manager (tests/support/xsession.py), and is ended from each place a
person leaves it — the sign-in page, the workspace, while the outbox drains, while a sign-in
waits in the browser — each way it can be ended: the window manager's close (openbox, as the
title bar's × or Alt+F4 do), Ctrl+Q, File › Quit, and SIGTERM (a logoff).

SIGTERM is also sent long after the start (the sign-in page and an idle workspace, side by side
so the wait is paid once): issue 13's last finding was an exit status of 143 (SIGTERM's default
action, no shutdown) after about 20 s on the sign-in page, which a signal sent at once misses.

Before the fix: exit status 1 and ``RuntimeError: Event loop stopped before Future completed``
(the workspace), ``anyio.NoEventLoopError`` from ``bootstrap.aclose`` (the sign-in page).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.app_env import private_home_env
from tests.support.xsession import XSession, missing_tools, x_session

REPO = Path(__file__).resolve().parents[1]
BROWSER = REPO / "tests" / "support" / "browser.py"
TITLE = "^FHIR Write-back$"
QUESTION = "^Notes not sent yet$"


@pytest.fixture(scope="module")
def x() -> Iterator[XSession]:
    missing = missing_tools()
    assert not missing, f"install {' '.join(missing)} (bash packaging/dev.sh setup)"
    with x_session(1366, 768) as session:
        yield session


@dataclass
class RunningApp:
    proc: subprocess.Popen[str]
    x: XSession
    window: str
    browser_log: Path

    def end(self, how: str) -> None:
        if how == "SIGTERM":
            self.proc.send_signal(signal.SIGTERM)
        elif how == "window manager":
            self.x.key(self.window, "alt+F4")  # openbox: Close (WM_DELETE_WINDOW)
        elif how == "Ctrl+Q":
            self.x.key(self.window, "ctrl+q")
        elif how == "File › Quit":
            self.x.key(self.window, "alt+f")
            time.sleep(0.3)
            self.x.xdotool("key", "q")
        else:
            raise ValueError(how)

    def answer_quit_if_asked(self) -> bool:
        """Closing with unsent notes asks first; "Quit" is the default button."""
        question = self.x.find_window(QUESTION, timeout=3)
        if question is None:
            return False
        self.x.key(question, "Return")
        return True

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        try:
            # 25 s: a window closed while the app still starts (the rest of the window built
            # in steps, the sandbox's first start seeding beside it) answers late on a loaded
            # 2-core machine; 10 s was once not enough there, with nothing wrong
            self.proc.wait(timeout=25)
        except subprocess.TimeoutExpired:
            # Still there: was the close itself lost (a key press the X server dropped under
            # load)? Then the window is still up with no question: say so, do not retry.
            if self.x.exists(self.window) and self.x.find_window(QUESTION, timeout=0.5) is None:
                self.proc.kill()
                _out, err = self.proc.communicate()
                raise AssertionError(
                    f"the window is still open 25 s after closing: {err}"
                ) from None
        try:
            _out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate()
            raise AssertionError(f"the app did not end within {timeout} s: {err}") from None
        return self.proc.returncode, err

    def signed_in(self, timeout: float = 30) -> None:
        """The scripted browser came back from the EHR (the app then has its tokens)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.browser_log.exists() and any(
                "final" in json.loads(line)
                for line in self.browser_log.read_text().splitlines()
                if line
            ):
                time.sleep(1.5)  # the token exchange, the chart's first requests
                return
            time.sleep(0.1)
        raise AssertionError("the sign-in did not come back from the browser")


def start_app(
    x: XSession, home: Path, browser_mode: str = "ignore", browser: str | None = None
) -> RunningApp:
    """The app with the embedded sandbox, once its window is up; every per-user folder inside
    ``home``."""
    proc = launch(x, home, browser_mode, browser)
    window = x.find_window(TITLE, timeout=60, pid=proc.pid)
    if window is None:
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"no window appeared: {err}")
    time.sleep(0.5)  # the sign-in page's first paint
    return RunningApp(proc, x, window, home / "browser.jsonl")


def launch(
    x: XSession, home: Path, browser_mode: str = "ignore", browser: str | None = None
) -> subprocess.Popen[str]:
    """``python -m app`` with the embedded sandbox, just started."""
    log = home / "browser.jsonl"
    env = {
        **private_home_env(home),
        **x.env,
        "BROWSER": browser or f"{sys.executable} {BROWSER} %s",
        "SCRIPTED_BROWSER_MODE": browser_mode,
        "SCRIPTED_BROWSER_LOG": str(log),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(home / "app-data")],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def queue_notes(home: Path, count: int) -> None:
    """``count`` approved notes in the sandbox site's store, as an earlier session left them."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from app.bootstrap import open_site_store\n"
        "from tests.sync.commits import clinical_commit\n"
        "from tests.ui.outbox_states import decision_json\n"
        "p = open_site_store(Path(sys.argv[1]), is_sandbox=True)\n"
        "with p.store.db.write() as conn:\n"
        "    for _ in range(int(sys.argv[2])):\n"
        "        c = clinical_commit()\n"
        "        p.store.outbox.enqueue_approval(c, decision_json(c), conn=conn)\n"
        "p.store.close()\n"
    )
    folder = home / "app-data" / "sites" / "sandbox"
    subprocess.run(
        [sys.executable, "-c", script, str(folder), str(count)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "HOME": str(home)},
        check=True,
        timeout=60,
    )


def sign_in(app: RunningApp) -> None:
    app.x.key(app.window, "Return")  # Enter on the chosen EHR signs in


ENDINGS = ["window manager", "Ctrl+Q", "File › Quit", "SIGTERM"]


@pytest.mark.parametrize("how", ENDINGS)
def test_quit_from_the_sign_in_page(x: XSession, tmp_path: Path, how: str) -> None:
    app = start_app(x, tmp_path)
    app.end(how)
    assert app.finish() == (0, "")


@pytest.mark.parametrize("how", ["window manager", "SIGTERM"])
def test_quit_from_the_workspace(x: XSession, tmp_path: Path, how: str) -> None:
    app = start_app(x, tmp_path, browser_mode="login")
    sign_in(app)
    app.signed_in()
    app.end(how)
    assert app.finish() == (0, "")


def test_quit_while_the_outbox_drains_asks_then_exits_cleanly(x: XSession, tmp_path: Path) -> None:
    queue_notes(tmp_path, 500)  # more than a fast machine sends in the second before Ctrl+Q
    app = start_app(x, tmp_path, browser_mode="login")
    sign_in(app)
    app.signed_in()
    app.end("Ctrl+Q")
    # still sending: the question proves notes were left (none would be if it had drained)
    assert app.answer_quit_if_asked(), "closing with unsent notes must say so"
    assert app.finish() == (0, "")


@pytest.mark.parametrize("how", ["window manager", "SIGTERM"])
def test_quit_while_a_sign_in_waits_in_the_browser(x: XSession, tmp_path: Path, how: str) -> None:
    app = start_app(x, tmp_path, browser_mode="ignore")  # the browser never comes back
    sign_in(app)
    time.sleep(1.5)
    app.end(how)
    assert app.finish() == (0, "")


# Longer than anything start-up schedules (the finding: from about 20 s on, SIGTERM was fatal).
LONG_AFTER_START_S = 25.0


def sigterm_caught(pid: int) -> bool | None:
    """Whether the process has a handler for SIGTERM (Linux ``/proc``; None elsewhere)."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    caught = next(
        line.split()[1] for line in status.read_text().splitlines() if line.startswith("SigCgt:")
    )
    return bool(int(caught, 16) >> (signal.SIGTERM - 1) & 1)


def test_sigterm_long_after_the_start_exits_cleanly(x: XSession, tmp_path: Path) -> None:
    """Left on the sign-in page, and idle in the workspace after a sign-in, for longer than
    anything the start schedules, SIGTERM still runs the shutdown: exit 0, nothing on stderr."""
    on_sign_in_page = start_app(x, tmp_path / "sign-in-page")
    in_workspace = start_app(x, tmp_path / "workspace", browser_mode="login")
    sign_in(in_workspace)
    in_workspace.signed_in()
    time.sleep(LONG_AFTER_START_S)
    apps = {"the sign-in page": on_sign_in_page, "the idle workspace": in_workspace}
    handled = {where: sigterm_caught(app.proc.pid) for where, app in apps.items()}
    for app in apps.values():
        app.end("SIGTERM")
    ended = {where: app.finish() for where, app in apps.items()}
    assert ended == {where: (0, "") for where in apps}
    assert None in handled.values() or all(handled.values()), handled


def test_sigterm_while_the_app_starts_exits_cleanly(x: XSession, tmp_path: Path) -> None:
    """A logoff while the app is still starting (its log says so; the embedded sandbox is being
    set up, no window yet): before, SIGTERM's default action ended it (status 143, as in the
    finding on a busy computer, where the start takes many seconds); now the start finishes,
    no window opens, and the shutdown runs: exit 0, nothing on stderr."""
    proc = launch(x, tmp_path)
    log = tmp_path / "state" / "fhir-writeback" / "log" / "fhir-writeback.log"
    deadline = time.monotonic() + 60
    while not (log.exists() and "starting" in log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    try:
        _out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the app did not end: {proc.communicate()[1]}") from None
    assert (proc.returncode, err) == (0, "")
    assert x.find_window(TITLE, timeout=0.5, pid=proc.pid) is None


def test_the_window_comes_back_in_front_when_the_browser_hands_back(
    x: XSession, tmp_path: Path
) -> None:
    """The browser covers the app during the sign-in (here: a window opened on top, which
    openbox focuses); when the EHR hands back, the app is raised and active again."""
    slow = tmp_path / "slow-browser.sh"
    slow.write_text(f'#!/bin/sh\nsleep 3\nexec {sys.executable} {BROWSER} "$1"\n')
    slow.chmod(0o755)
    app = start_app(x, tmp_path, browser_mode="login", browser=f"{slow} %s")
    sign_in(app)
    cover = subprocess.Popen(
        ["xmessage", "-geometry", "900x600+50+50", "The browser, in front"],
        env={**os.environ, **x.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        browser_window = x.find_window("^xmessage$", timeout=10)
        assert browser_window is not None
        time.sleep(0.5)
        assert x.active_window() == browser_window  # the "browser" has the focus
        app.signed_in()
        deadline = time.monotonic() + 10
        while x.active_window() != app.window and time.monotonic() < deadline:
            time.sleep(0.1)
        assert x.active_window() == app.window
    finally:
        cover.terminate()
        cover.wait(5)
    app.end("SIGTERM")
    assert app.finish() == (0, "")
