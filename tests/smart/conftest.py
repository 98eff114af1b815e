"""Fixtures for the SMART client tests: servers per EHR kind, a real file keyring, the scripted
browser, sessions wired to a request recorder, and a controllable clock."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import keyring
import pytest
from keyring.backend import KeyringBackend
from keyrings.alt.file import PlaintextKeyring

from app.domain.site import Site
from app.smart.browser import BrowserLauncher
from app.smart.http import create_http_client
from app.smart.keyring_store import RefreshTokenStore
from app.smart.session import SmartSession
from app.smart.tokens import RefreshPolicy
from tests.support.servers import RunningServer, peer_available, start_peer, start_sandbox

BROWSER_SCRIPT = Path(__file__).resolve().parents[1] / "support" / "browser.py"


KINDS = ["sandbox", pytest.param("peer", marks=pytest.mark.peer)]


class ServerPool:
    """Servers with non-default settings, started on first use and shared by the session."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._servers: dict[tuple[str, int | None, str | None], RunningServer] = {}

    def get(
        self, kind: str, *, token_ttl: int | None = None, auto_login: str | None = "prac-1"
    ) -> RunningServer:
        key = (kind, token_ttl, auto_login)
        if key not in self._servers:
            if kind == "peer":
                reason = peer_available()
                if reason:
                    if os.environ.get("CI"):
                        pytest.fail(f"peer EHR unavailable in CI: {reason}")
                    pytest.skip(reason)
                server = start_peer(self._workdir, token_ttl=token_ttl, auto_login=auto_login)
            else:
                server = start_sandbox(self._workdir, token_ttl=token_ttl, auto_login=auto_login)
            self._servers[key] = server
        return self._servers[key]

    def stop_all(self) -> None:
        for server in self._servers.values():
            server.stop()


@pytest.fixture(scope="session")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("smart-servers"))
    yield pool
    pool.stop_all()


@pytest.fixture(params=KINDS)
def ehr_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ehr(ehr_kind: str, request: pytest.FixtureRequest) -> RunningServer:
    """Same as the root ``ehr``, but through ``ehr_kind`` so that the servers with special
    settings below follow the same parameter."""
    return request.getfixturevalue(f"{ehr_kind}_server")  # type: ignore[no-any-return]


@pytest.fixture
def ehr_short_ttl(ehr_kind: str, server_pool: ServerPool) -> RunningServer:
    """Access tokens live 2 seconds."""
    return server_pool.get(ehr_kind, token_ttl=2)


@pytest.fixture
def ehr_interactive(ehr_kind: str, server_pool: ServerPool) -> RunningServer:
    """No auto-login: the EHR shows its HTML login (and consent) pages."""
    return server_pool.get(ehr_kind, auto_login=None)


def site_for(server: RunningServer, **overrides: Any) -> Site:
    values: dict[str, Any] = {
        "id": f"{server.name}-test",
        "display_name": f"{server.name} (test)",
        "fhir_base": server.fhir_base,
        "client_id": server.client_id,
        "redirect_path": server.redirect_path,
    }
    values.update(overrides)
    return Site(**values)


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


class FakeClock:
    """Real time plus an offset the test can move; ``freeze()`` stops it."""

    def __init__(self) -> None:
        self.offset = timedelta()
        self.frozen: datetime | None = None

    def __call__(self) -> datetime:
        if self.frozen is not None:
            return self.frozen
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        if self.frozen is not None:
            self.frozen += timedelta(seconds=seconds)
        self.offset += timedelta(seconds=seconds)

    def freeze(self) -> None:
        self.frozen = self()


@dataclass
class Recorder:
    """Every request the session's client sends, and every response status."""

    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    responses: list[tuple[str, str, int]] = field(default_factory=list)

    async def on_request(self, request: httpx.Request) -> None:
        self.requests.append((request.method, str(request.url).split("?")[0], request.content))

    async def on_response(self, response: httpx.Response) -> None:
        r = response.request
        self.responses.append((r.method, str(r.url).split("?")[0], response.status_code))

    def token_calls(self, grant_type: str) -> int:
        needle = f"grant_type={grant_type}".encode()
        return sum(1 for m, _, body in self.requests if m == "POST" and needle in body)

    def statuses(self, url_part: str) -> list[int]:
        return [s for _, u, s in self.responses if url_part in u]


@dataclass
class Harness:
    session: SmartSession
    http: httpx.AsyncClient
    recorder: Recorder
    store: RefreshTokenStore
    clock: FakeClock
    site: Site


SessionFactory = Callable[..., Harness]


@pytest.fixture
async def make_session(file_keyring: KeyringBackend) -> AsyncIterator[SessionFactory]:
    made: list[Harness] = []

    def factory(
        server: RunningServer,
        *,
        browser: BrowserLauncher | None = None,
        site: Site | None = None,
        policy: RefreshPolicy | None = None,
        keyring_backend: KeyringBackend | None = None,
        **session_kw: Any,
    ) -> Harness:
        site = site or site_for(server)
        recorder = Recorder()
        http = create_http_client(
            site, event_hooks={"request": [recorder.on_request], "response": [recorder.on_response]}
        )
        store = RefreshTokenStore(site.id, backend=keyring_backend or file_keyring)
        clock = FakeClock()
        session = SmartSession(
            site,
            http,
            token_store=store,
            browser=browser,
            clock=clock,
            refresh_policy=policy,
            sign_in_timeout=session_kw.pop("sign_in_timeout", 60),
            **session_kw,
        )
        harness = Harness(session, http, recorder, store, clock, site)
        made.append(harness)
        return harness

    yield factory
    for h in made:
        await h.session.aclose()
        await h.http.aclose()
