"""A private X display with a window manager, for tests that run the real app as a process.

    with x_session(1366, 768) as x:       # Xvfb on a free display number + openbox
        x.env                              # DISPLAY=:N for the child processes
        w = x.find_window("^FHIR Write-back$")
        x.key(w, "alt+F4")                 # openbox closes it (WM_DELETE_WINDOW), like a person

Xvfb picks its own display number (``-displayfd``), so parallel runs never collide. Both
processes are stopped by PID when the block ends. Needs ``Xvfb``, ``openbox``, ``xdotool`` and
``xprop`` (packaging/dev.sh installs them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TOOLS = ("Xvfb", "openbox", "xdotool", "xprop")


@dataclass
class XSession:
    display: str

    @property
    def env(self) -> dict[str, str]:
        return {"DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}

    def xdotool(self, *args: str, timeout: float = 10) -> str:
        result = subprocess.run(
            ["xdotool", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return result.stdout.strip()

    def find_window(self, name: str, timeout: float = 30, pid: int | None = None) -> str | None:
        """The id of a visible window whose title matches ``name`` (a regex), or None; with
        ``pid``, only a window of that process (several apps on one display)."""
        by_pid = ("--all", "--pid", str(pid)) if pid is not None else ()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.xdotool("search", "--onlyvisible", *by_pid, "--name", name).split()
            if found:
                return found[0]
            time.sleep(0.1)
        return None

    def key(self, window: str, *keys: str) -> None:
        """Activate ``window`` (as a click would), wait until it has the focus (a loaded
        machine may take a while), and type ``keys`` into it."""
        self.xdotool("windowactivate", "--sync", window)
        deadline = time.monotonic() + 10
        while self.active_window() != window and time.monotonic() < deadline:
            time.sleep(0.1)
            self.xdotool("windowactivate", window)
        self.xdotool("key", "--clearmodifiers", *keys)

    def exists(self, window: str) -> bool:
        return window in self.xdotool("search", "--onlyvisible", "--name", ".").split()

    def active_window(self) -> str:
        return self.xdotool("getactivewindow")

    def window_manager_ready(self) -> bool:
        """A window manager has announced itself on the root window (EWMH)."""
        result = subprocess.run(
            ["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=5,
        )
        return "window id" in result.stdout


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


@contextlib.contextmanager
def x_session(width: int = 1366, height: int = 768) -> Iterator[XSession]:
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    wm: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="x-session-") as folder:
        try:
            with os.fdopen(read_fd) as pipe:
                number = pipe.readline().strip()
            if not number:
                raise RuntimeError("Xvfb did not start")
            session = XSession(f":{number}")
            # openbox runs its --startup command once it is wholly up: it announces itself
            # (_NET_SUPPORTING_WM_CHECK) before it grabs its keybindings (Alt+F4), so a fixed
            # pause after the announcement was a guess a loaded machine could outrun
            started = Path(folder) / "openbox-started"
            wm = subprocess.Popen(
                ["openbox", "--startup", f"touch {started}"],
                env={**os.environ, **session.env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 30
            while not started.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not (started.exists() and session.window_manager_ready()):
                raise RuntimeError("openbox did not start within 30 s")
            yield session
        finally:
            for proc in (wm, xvfb):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(5)
