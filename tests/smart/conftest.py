"""Fixtures for the SMART client tests: servers per EHR kind, a real file keyring, the scripted
browser, sessions wired to a request recorder, and a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from keyring.backend import KeyringBackend

from app.domain.site import Site
from app.smart.browser import BrowserLauncher
from app.smart.http import create_http_client
from app.smart.keyring_store import RefreshTokenStore
from app.smart.session import SmartSession
from app.smart.tokens import RefreshPolicy
from tests.support.servers import RunningServer, require_peer, start_peer, start_sandbox

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
                require_peer()
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
