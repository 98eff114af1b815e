"""SystemBrowser honours BROWSER (re-read each time) through the stdlib webbrowser module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.smart.browser import SystemBrowser
from app.smart.errors import BrowserError

RECORD = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"


async def test_browser_env_command_line_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "opened.txt"
    monkeypatch.setenv("BROWSER", f'{sys.executable} -c "{RECORD}" {out} %s')
    await SystemBrowser().open("http://127.0.0.1:1/authorize?x=1&y=2")
    assert out.read_text() == "http://127.0.0.1:1/authorize?x=1&y=2"

    second = tmp_path / "second.txt"  # changed between sign-ins: picked up
    monkeypatch.setenv("BROWSER", f'{sys.executable} -c "{RECORD}" {second} %s')
    await SystemBrowser().open("http://127.0.0.1:1/again")
    assert second.read_text() == "http://127.0.0.1:1/again"


async def test_failing_browser_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSER", f'{sys.executable} -c "raise SystemExit(3)" %s')
    with pytest.raises(BrowserError) as info:
        await SystemBrowser().open("http://127.0.0.1:1/")
    assert "Copy the sign-in link" in info.value.message


async def test_a_browser_still_running_counts_as_opened() -> None:
    def slow(url: str, environ: object) -> bool:
        import time

        time.sleep(1)
        return False

    await SystemBrowser(launch=slow, launch_wait=0.1).open("http://127.0.0.1:1/")  # no error
