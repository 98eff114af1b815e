"""Fixtures every test shares: a real file keyring instead of the developer's keyring, and the
scripted browser instead of the developer's browser (tests/support/browser.py)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyrings.alt.file import PlaintextKeyring

BROWSER_SCRIPT = Path(__file__).resolve().parent / "browser.py"


@pytest.fixture(autouse=True)
def file_keyring(tmp_path: Path) -> Iterator[KeyringBackend]:
    """A real keyring backend writing to a temp file; also installed as the process default
    (for every test here) so nothing can reach the developer's own keyring."""
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")  # type: ignore[misc]
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def keep_test_keyring() -> str | None:
    """``app.cli.main(accept_keyring=...)`` for tests: the file keyring above stands in for
    the OS keyring, so the command line keeps it (the real policy would refuse a file)."""
    return None


@dataclass
class ScriptedBrowser:
    log_path: Path
    monkeypatch: pytest.MonkeyPatch

    def mode(self, mode: str, **env: str) -> None:
        self.monkeypatch.setenv("SCRIPTED_BROWSER_MODE", mode)
        for key, value in env.items():
            self.monkeypatch.setenv(f"SCRIPTED_BROWSER_{key.upper()}", value)

    def entries(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    async def final_page(self, timeout: float = 10.0) -> str:
        """The text of the page the loopback redirect showed (the browser logs it a moment
        after the app has finished, so this polls without blocking the event loop)."""
        for _ in range(int(timeout / 0.05)):
            finals = [e for e in self.entries() if "final" in e]
            if finals:
                return str(finals[-1]["text"])
            await asyncio.sleep(0.05)
        return ""


@pytest.fixture(autouse=True)
def _no_real_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here may open the developer's browser: BROWSER is the scripted one, idle."""
    monkeypatch.setenv("BROWSER", f"{sys.executable} {BROWSER_SCRIPT} %s")
    monkeypatch.setenv("SCRIPTED_BROWSER_MODE", "ignore")
    monkeypatch.delenv("SCRIPTED_BROWSER_LOG", raising=False)


@pytest.fixture
def scripted_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ScriptedBrowser:
    log_path = tmp_path / "browser-log.jsonl"
    monkeypatch.setenv("BROWSER", f"{sys.executable} {BROWSER_SCRIPT} %s")
    monkeypatch.setenv("SCRIPTED_BROWSER_MODE", "login")
    monkeypatch.setenv("SCRIPTED_BROWSER_LOG", str(log_path))
    return ScriptedBrowser(log_path, monkeypatch)
