"""One sign-in driven through a real headless Chromium (Debian package ``chromium``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.smart.session import SessionState
from tests.smart.conftest import SessionFactory
from tests.support.servers import RunningServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--dump-dom"]  # fmt: skip


class HeadlessChromium:
    """A ``BrowserLauncher``: starts Chromium on the URL; ``--dump-dom`` prints the final page
    (our loopback result page) and exits. Stopped by PID at the end of the test."""

    def __init__(self, profile: Path, out: Path) -> None:
        self.profile = profile
        self.out = out
        self.procs: list[subprocess.Popen[bytes]] = []

    async def open(self, url: str) -> None:
        with self.out.open("wb") as fh:
            self.procs.append(subprocess.Popen(
                [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", url],
                stdout=fh, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                start_new_session=True,
            ))  # fmt: skip

    async def wait_for_page(self, timeout: float = 30) -> str:
        for _ in range(int(timeout / 0.1)):
            if all(p.poll() is not None for p in self.procs):
                break
            await asyncio.sleep(0.1)
        return self.out.read_text(errors="replace")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[HeadlessChromium]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            "Chromium is not installed (apt-get install -y chromium); setup installs it in CI"
        )
    browser = HeadlessChromium(tmp_path / "chromium-profile", tmp_path / "chromium-dom.html")
    yield browser
    browser.stop()


async def test_sign_in_through_headless_chromium(
    ehr: RunningServer, make_session: SessionFactory, chromium: HeadlessChromium
) -> None:
    h = make_session(ehr, browser=chromium, sign_in_timeout=60)
    user = await h.session.sign_in()
    assert h.session.state is SessionState.SIGNED_IN
    assert user is not None and user.fhir_user is not None
    assert user.fhir_user.reference == "Practitioner/prac-1"
    page = await chromium.wait_for_page()
    assert "You are signed in; return to FHIR Write-back." in page
